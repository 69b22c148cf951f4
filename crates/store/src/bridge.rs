//! Arrow data across the two arrow versions in the build: DataFusion's (the `arrow` everything
//! above this crate speaks) and the one duckdb-rs is built on (`duckdb::arrow`).
//!
//! DuckDB 2.0's crate needs a newer arrow than DataFusion 54 does, and no release pairs them
//! (ARCHITECTURE.md, "Dependency set"). Both sides implement the Arrow C Data Interface, whose
//! two structs are the same C layout in every arrow version, so a batch crosses by exporting it
//! on one side and importing it on the other: buffers are shared, not copied, and the last
//! owner's release callback frees them. Only this module knows there are two arrows, and it is
//! the one place in the workspace allowed `unsafe` (the C Data Interface is a raw-pointer
//! protocol).
#![allow(unsafe_code)]

use arrow::array::{Array, RecordBatch, StructArray};
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use duckdb::arrow as duck;

use crate::Result;

/// A batch of ours as duckdb-rs's arrow sees it (for the appender).
pub(crate) fn to_duck(batch: RecordBatch) -> Result<duck::record_batch::RecordBatch> {
    let data = StructArray::from(batch).into_data();
    let array = FFI_ArrowArray::new(&data);
    let schema = FFI_ArrowSchema::try_from(data.data_type())?;
    // SAFETY: both pairs are the C Data Interface's `ArrowArray`/`ArrowSchema`, `#[repr(C)]`
    // with the same fields (transmute checks the sizes); ownership, and with it the release
    // callback, moves with the value.
    let (array, schema) = unsafe {
        (
            std::mem::transmute::<FFI_ArrowArray, duck::ffi::FFI_ArrowArray>(array),
            std::mem::transmute::<FFI_ArrowSchema, duck::ffi::FFI_ArrowSchema>(schema),
        )
    };
    // SAFETY: `array` and `schema` were exported just above from valid, matching data.
    let data = unsafe { duck::ffi::from_ffi(array, &schema) }?;
    Ok(duck::array::StructArray::from(data).into())
}

/// A result chunk of duckdb-rs's arrow as ours.
pub(crate) fn from_duck(chunk: duck::array::StructArray) -> Result<StructArray> {
    use duck::array::Array as _;
    let data = chunk.into_data();
    let array = duck::ffi::FFI_ArrowArray::new(&data);
    let schema = duck::ffi::FFI_ArrowSchema::try_from(data.data_type())?;
    // SAFETY: as in `to_duck`, the other way round.
    let (array, schema) = unsafe {
        (
            std::mem::transmute::<duck::ffi::FFI_ArrowArray, FFI_ArrowArray>(array),
            std::mem::transmute::<duck::ffi::FFI_ArrowSchema, FFI_ArrowSchema>(schema),
        )
    };
    // SAFETY: exported just above from valid, matching data.
    let data = unsafe { arrow::ffi::from_ffi(array, &schema) }?;
    Ok(StructArray::from(data))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};

    use super::*;

    #[test]
    fn a_batch_crosses_both_ways_unchanged() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, false),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(-3)])),
                Arc::new(StringArray::from(vec!["a", "ünïcode", ""])),
                Arc::new(TimestampMicrosecondArray::from(vec![
                    None,
                    Some(5),
                    Some(0),
                ])),
            ],
        )
        .unwrap();
        let theirs = to_duck(batch.clone()).unwrap();
        assert_eq!(theirs.num_rows(), 3);
        assert_eq!(theirs.num_columns(), 3);
        let back = from_duck(theirs.into()).unwrap();
        let back = RecordBatch::from(back);
        assert_eq!(back, batch);
        assert_eq!(back.column(0).as_primitive::<Int64Type>().null_count(), 1);
    }
}
