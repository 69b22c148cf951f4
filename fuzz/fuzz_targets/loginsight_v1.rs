//! `loginsight.v1.LogBatch` (our gRPC API), protobuf-decoded and mapped to log objects.
//! Properties: one object per entry, and the normaliser either takes the batch or names the
//! entries it refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use normalise::json::{objects_to_batch, with_size};
use prost::Message;

fuzz_target!(|body: &[u8]| {
    let Ok(batch) = loginsight_proto::v1::LogBatch::decode(body) else {
        return;
    };
    let objects = normalise::otlp::entry_objects(&batch);
    assert_eq!(objects.len(), batch.entries.len());
    let n = objects.len();
    match objects_to_batch(
        objects.into_iter().map(with_size),
        1_800_000_000_000_000,
        "grpc",
        "entry",
    ) {
        Ok(built) => assert_eq!(built.len(), n),
        Err(errors) => assert!(errors.count >= 1 && errors.count <= n),
    }
});
