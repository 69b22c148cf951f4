//! The one retry policy of the analysis path: exponential backoff with jitter (backon's
//! [`ExponentialBuilder`]), shared by every loop that waits for a store, a broker or a model
//! to come back — the embedded worker, the outbox relay and the insights consumer in `serve`,
//! the Kafka worker's publisher, and the model client.
//!
//! The loops retry forever (what they hold is acknowledged data, and giving up would lose
//! it), so the policy has no attempt limit of its own; the model client stops after its
//! configured number of attempts. Jitter spreads the retries of many workers that lost the
//! same broker at once.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio::sync::watch;

/// First wait after a failure.
pub const MIN_DELAY: Duration = Duration::from_millis(200);
/// Longest wait between two attempts (before jitter, which adds up to as much again).
pub const MAX_DELAY: Duration = Duration::from_secs(10);

fn policy(min: Duration, max: Duration) -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(min)
        .with_max_delay(max)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
}

/// The waits of one retrying loop: each failure waits longer, up to [`MAX_DELAY`], and a
/// success starts over.
pub struct Backoff {
    builder: ExponentialBuilder,
    delays: ExponentialBackoff,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(MIN_DELAY, MAX_DELAY)
    }
}

impl Backoff {
    /// A policy with other bounds (the model client waits less: a caller is waiting).
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let builder = policy(min, max);
        Backoff {
            delays: builder.build(),
            builder,
        }
    }

    /// The next wait.
    pub fn next_delay(&mut self) -> Duration {
        // Without a limit on attempts the iterator never ends; the bound is a fallback.
        self.delays.next().unwrap_or(MAX_DELAY)
    }

    /// After a success: the next failure waits [`MIN_DELAY`] again.
    pub fn reset(&mut self) {
        self.delays = self.builder.build();
    }

    /// Waits the next delay. Returns `false`, early, when `stop` changes meanwhile (the
    /// caller shuts down instead of retrying).
    pub async fn wait(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stop.changed() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_the_bound_and_start_over_after_a_success() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let waits: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        // Jitter adds up to one delay on top of the exponential step.
        for (i, w) in waits.iter().enumerate() {
            let step = Duration::from_millis(100 * (1 << i.min(3)));
            assert!(
                *w >= step && *w <= step * 2,
                "wait {i}: {w:?} for step {step:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_stop_ends_the_wait() {
        let (tx, mut rx) = watch::channel(false);
        let mut b = Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
        let waiting = tokio::spawn(async move { b.wait(&mut rx).await });
        tx.send(true).unwrap();
        assert!(!waiting.await.unwrap());
    }
}
