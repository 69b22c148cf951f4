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

impl PatternDelta {
    /// Folds a later delta of the same pattern into this one, as if both groups of records
    /// had been mined together: counts add up, the span widens, the template is the later
    /// one, the level the more severe (a level name that is not canonical ranks lowest), and
    /// the example stays the first.
    pub fn absorb(&mut self, later: PatternDelta) {
        let rank = |level: &str| crate::Level::parse(level).map_or(0, |l| l as u8 + 1);
        if rank(&later.level) > rank(&self.level) {
            self.level = later.level;
        }
        self.template = later.template;
        self.count += later.count;
        self.first_seen = self.first_seen.min(later.first_seen);
        self.last_seen = self.last_seen.max(later.last_seen);
    }
}

/// A pattern that the miner merged into another: its stored rows now belong to `survivor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternMerge {
    pub retired: String,
    pub survivor: String,
}
