//! The `loginsight.v1` gRPC service, generated from `proto/loginsight/v1/logs.proto`: message
//! types, the server trait (used by `loginsight serve`) and the client (used by shippers and
//! the SDK).
//!
//! The generated file is committed rather than built by a build script: code generation needs
//! `prost-build`/`tonic-prost-build` as build dependencies, and adding them changed the
//! build-dependency feature set enough to rebuild DuckDB's bundled C++ (about 40 minutes here).
//! Regenerate after editing the .proto with the small program in `crates/proto/README.md`.

#![allow(clippy::all, clippy::pedantic)] // generated code

pub mod v1 {
    include!("loginsight.v1.rs");
}
