//! Following merges: patterns merge online, so an id handed out earlier may since have been
//! retired into another. [`Redirects`] records every merge a caller saw and resolves an old id
//! to the pattern that holds its messages now.

use std::collections::HashMap;

use crate::miner::{Match, PatternId};

/// Merges seen so far, retired id → the id it was merged into.
#[derive(Debug, Default, Clone)]
pub struct Redirects {
    to: HashMap<PatternId, PatternId>,
}

impl Redirects {
    /// Records the merges reported by one [`Match`].
    pub fn record(&mut self, m: &Match) {
        for retired in &m.merged {
            if *retired != m.pattern_id {
                self.to.insert(*retired, m.pattern_id);
            }
        }
    }

    /// The pattern `id` belongs to now.
    pub fn resolve(&self, mut id: PatternId) -> PatternId {
        // Merges always point at an older pattern, so chains end; the bound is only a guard.
        for _ in 0..64 {
            match self.to.get(&id) {
                Some(next) => id = *next,
                None => break,
            }
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn m(id: u64, merged: &[u64]) -> Match {
        Match {
            pattern_id: PatternId(id),
            template: Arc::from(""),
            is_new: false,
            merged: merged.iter().map(|i| PatternId(*i)).collect(),
        }
    }

    #[test]
    fn chains_resolve_to_the_last_survivor() {
        let mut r = Redirects::default();
        r.record(&m(2, &[3]));
        r.record(&m(1, &[2]));
        assert_eq!(r.resolve(PatternId(3)), PatternId(1));
        assert_eq!(r.resolve(PatternId(7)), PatternId(7));
    }
}
