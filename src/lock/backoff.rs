//! The wait between acquisition attempts while a product is held.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// Exponential backoff from 1 ms to 25 ms with "equal jitter" (half fixed, half random): the
/// random half spreads contenders apart, the fixed half keeps the loop from ever spinning.
pub(super) struct Backoff {
    ceiling: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(1);
    const CAP: Duration = Duration::from_millis(25);

    pub(super) fn next_wake(&mut self) -> Instant {
        let half = self.ceiling / 2;
        let max_extra = u64::try_from(half.as_micros()).unwrap_or(u64::MAX);
        let extra = Duration::from_micros(rand::rng().random_range(0..=max_extra));
        self.ceiling = (self.ceiling * 2).min(Self::CAP);
        Instant::now() + half + extra
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            ceiling: Self::FIRST,
        }
    }
}
