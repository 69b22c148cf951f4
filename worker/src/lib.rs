//! The analysis worker: consumes error records from the bus, groups them into patterns and asks
//! an analyst (OpenAI-compatible or builtin) for a root-cause analysis, and publishes insights.
//!
//! Not built yet: the bus, the patterns miner and the analysts arrive with their issues. Until
//! then this crate is empty on purpose, and `serve` starts no worker.
