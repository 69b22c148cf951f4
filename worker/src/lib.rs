//! The analysis worker: error events in, insight updates out.
//!
//! A batch of [`model::ErrorEvent`]s is grouped by (service, pattern) in [`group`]; for each
//! group [`context`] reads what the store knows around it over the server's SQL endpoint,
//! [`process`] decides whether it needs an analysis (a new pattern, or a known one that changed
//! materially) and asks the [`analyst`] — the builtin heuristics or an OpenAI-compatible model,
//! fed a redacted, bounded [`prompt`]. Each resulting [`model::InsightUpdate`] names the events
//! it accounts for, so stores count each event once however often it is delivered. The same
//! code runs inside `loginsight serve` (embedded queue), as `loginsight worker` on Kafka
//! ([`kafka`]), and behind `analyze()` in SQL.

pub mod analyst;
pub mod context;
pub mod group;
pub mod kafka;
pub mod process;
pub mod prompt;
pub mod retry;

pub use analyst::{Analysis, Analyst, AnalystError, BuiltinAnalyst, OpenAiAnalyst, OpenAiConfig};
pub use group::Group;
pub use process::{BatchStats, Processor};

/// Most event ids carried by one update; larger groups are split so a Kafka message stays
/// well under the broker's 1 MB default limit.
pub const MAX_EVENTS_PER_UPDATE: usize = 2_000;

/// How the worker cuts batches.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    /// Most events per batch.
    pub max_events: usize,
    /// How long to wait for a batch to fill once its first event arrived.
    pub linger: std::time::Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_events: 1_000,
            linger: std::time::Duration::from_millis(500),
        }
    }
}
