//! Offline root-cause heuristics for the builtin analyst; pure, no IO, no async, no clock.
//!
//! When no LLM is configured, the analysis worker still has to say *what* went wrong and
//! *where it started*. This crate owns the three heuristics it uses, all plain functions over
//! strings and counts that the worker has already gathered:
//!
//! 1. [`classify`] recognises a common failure kind ([`Category`]) from a message and its
//!    stack trace (pool exhausted, OOM, disk full, TLS, DNS, timeouts, 5xx, ...), and says
//!    whether that kind is usually a *cause* or a *symptom* seen by callers.
//! 2. [`mentioned_peers`] / [`count_mentions`] find which services an error message names as
//!    the peer it failed to reach ("upstream payments timed out").
//! 3. [`rank`] orders the error patterns of one time window across services by how likely
//!    each is the root cause, with the reasons in plain sentences.
//! 4. [`Tracker`] follows per-minute error counts over time and groups the patterns that
//!    burst together into incidents under the root [`rank`] names, leaving steady
//!    (background) error patterns out of them.
//!
//! Everything here is deterministic and total: any UTF-8 input is accepted and nothing
//! panics, so the worker can call it on raw customer logs.

mod classify;
mod incidents;
mod peers;
mod rank;

pub use classify::{Category, classify};
pub use incidents::{
    Change, ChangeKind, ErrorCount, Incident, IncidentConfig, Member, PatternMark, Severity,
    Status, Tracker,
};
pub use peers::{count_mentions, mentioned_peers};
pub use rank::{Candidate, PatternStat, rank};
