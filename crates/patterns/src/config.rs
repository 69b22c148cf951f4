//! Miner configuration: one universal default, no per-dataset knobs.
//!
//! The defaults were chosen on Loghub (16 very different systems) and are meant to be left
//! alone; the fields exist for memory budgeting and for experiments, not for per-source tuning.

use serde::Deserialize;

/// Configuration of a [`crate::Miner`]. Every field has a default, so `{}` is a valid config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinerConfig {
    /// Most patterns kept per service; creating one more evicts the least recently seen
    /// (ties: least often seen). Bounds memory.
    pub max_patterns_per_service: usize,
    /// A token position becomes a wildcard once this many distinct constant values were seen
    /// there under an otherwise identical template. Lower merges more (users, hosts); higher
    /// keeps enumerations such as state names apart.
    pub generalize_after: usize,
    /// A position is only generalised when at least this many constant tokens remain in the
    /// template, so `Launching <*>` and `KILLING <*>` never collapse into `<*> <*>`.
    pub min_constant_tokens: usize,
    /// Tokens of the first line considered; the rest of a huge line becomes one trailing `<*>`.
    pub max_tokens: usize,
    /// Stack-trace frames kept in a multi-line message's signature.
    pub max_frames: usize,
    /// Cached masked-message -> pattern entries per service, as a multiple of
    /// `max_patterns_per_service`; the cache is dropped and rebuilt when it grows past this.
    pub cache_factor: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        Self {
            max_patterns_per_service: 1000,
            generalize_after: 4,
            min_constant_tokens: 3,
            max_tokens: 256,
            max_frames: 16,
            cache_factor: 16,
        }
    }
}

/// A configuration value outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The field named must be at least the given value.
    #[error("patterns config: {field} must be at least {min}")]
    TooSmall {
        /// Field name as written in the config.
        field: &'static str,
        /// Smallest allowed value.
        min: usize,
    },
}

impl MinerConfig {
    /// Checks ranges; [`crate::Miner::new`] calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let checks = [
            ("max_patterns_per_service", self.max_patterns_per_service, 1),
            ("generalize_after", self.generalize_after, 2),
            ("max_tokens", self.max_tokens, 1),
            ("cache_factor", self.cache_factor, 1),
        ];
        for (field, value, min) in checks {
            if value < min {
                return Err(ConfigError::TooSmall { field, min });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_json_is_default() {
        let c: MinerConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, MinerConfig::default());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn rejects_bad_values() {
        let c: MinerConfig = serde_json::from_str(r#"{"max_patterns_per_service": 0}"#).unwrap();
        assert!(c.validate().is_err());
        assert!(serde_json::from_str::<MinerConfig>(r#"{"nope": 1}"#).is_err());
    }
}
