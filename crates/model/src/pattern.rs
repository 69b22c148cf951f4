//! What the pattern stage hands to storage: per-commit changes to the `patterns` table.

use crate::time::EpochMicros;

/// How one pattern changed in one commit: its rows to add to `patterns` (or to fold into the
/// existing row).
#[derive(Debug, Clone, PartialEq)]
pub struct PatternDelta {
    pub pattern_id: String,
    pub service: String,
    /// The most severe level among the new records.
    pub level: String,
    /// The template as it stands after this commit.
    pub template: String,
    /// Records added.
    pub count: i64,
    /// Earliest and latest event time among the new records.
    pub first_seen: EpochMicros,
    pub last_seen: EpochMicros,
    /// A message of the pattern, kept if the pattern is new.
    pub example: String,
}

/// A pattern that the miner merged into another: its stored rows now belong to `survivor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternMerge {
    pub retired: String,
    pub survivor: String,
}
