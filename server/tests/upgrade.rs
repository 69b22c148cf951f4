//! A data directory written by an earlier release opens in this one and keeps every row.
//!
//! `fixtures/datadir-duckdb-1.5.6.duckdb.gz` is the database file that the release on DuckDB
//! 1.5.6 (main before the move to DuckDB 2.0) wrote after ingesting the first 2,000 lines of
//! `genlogs.py --lines 1000000 --seed 5 --no-truth-fields --start 2026-11-01T00:00:00Z
//! --minutes 120`, then shut down cleanly. The expected figures below are what that release
//! answered over the Postgres wire for the same file.

mod support;

use std::io::Read;

use support::{TestServer, ndjson};

fn old_data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let gz = std::fs::File::open(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/datadir-duckdb-1.5.6.duckdb.gz"),
    )
    .unwrap();
    let mut file = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut file)
        .unwrap();
    std::fs::write(dir.path().join("loginsight.duckdb"), file).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_of_the_duckdb_1_5_release_opens_with_every_row() {
    let dir = old_data_dir();
    let server = TestServer::start(dir.path());
    assert_eq!(server.psql("SELECT count(*) FROM logs").trim(), "2000");
    assert_eq!(
        server.psql("SELECT level, count(*) FROM logs GROUP BY 1 ORDER BY 1"),
        "DEBUG|467\nERROR|20\nINFO|1408\nWARN|105\n"
    );
    assert_eq!(
        server
            .psql("SELECT count(*), sum(count) FROM patterns")
            .trim(),
        "182|2000"
    );
    assert_eq!(server.psql("SELECT sum(count) FROM stats").trim(), "2000");
    assert_eq!(
        server
            .psql("SELECT CAST(min(ts) AS TEXT), CAST(max(ts) AS TEXT) FROM logs")
            .trim(),
        "2026-11-01T00:00:00Z|2026-11-01T00:00:14.395Z"
    );

    // It takes new rows beside the old ones, and keeps both across a restart.
    server.post_logs(ndjson(300)).await;
    assert_eq!(server.psql("SELECT count(*) FROM logs").trim(), "2300");
    assert_eq!(server.stop().code(), Some(0));
    let server = TestServer::start(dir.path());
    assert_eq!(server.psql("SELECT count(*) FROM logs").trim(), "2300");
    assert_eq!(server.psql("SELECT sum(count) FROM stats").trim(), "2300");
    assert_eq!(
        server
            .psql("SELECT count(*) FROM logs WHERE level = 'ERROR'")
            .trim(),
        "80"
    );
}
