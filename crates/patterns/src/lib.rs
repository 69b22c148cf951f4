//! Online log template mining; pure, no IO, no async.
//!
//! This crate owns the "patterns" stage of Log Insight: it turns free-text log messages into
//! templates (`Served block <*> to <*>`) with stable pattern ids, one pass, one message at a
//! time, in bounded memory. It never touches files, clocks, threads or the network; the server
//! feeds it messages, persists [`Miner::snapshot`] and hands the states back to
//! [`Miner::restore`] on start.
//!
//! How a message is mined:
//! 1. [`mask`] splits the first line into whitespace tokens and replaces variable parts
//!    (numbers, hex, ids, IPs, hosts, paths, URLs, quoted strings, `key=value` values, units
//!    after numbers, ...) with `<*>`; stack-trace continuation lines become a frame signature.
//! 2. The masked key is looked up in a per-service hash map: the common case is one hash and
//!    one probe.
//! 3. On a miss, generalised patterns of the same length are scanned; if none matches, a new
//!    pattern is created, and if that makes one token position take many distinct values
//!    under an otherwise identical template, those patterns are merged and the position
//!    becomes a wildcard (see [`miner`]).

mod config;
mod hash;
pub mod mask;
pub mod miner;
mod redirect;

pub use config::{ConfigError, MinerConfig};
pub use miner::{Match, Miner, PatternId, PatternState};
pub use redirect::Redirects;
