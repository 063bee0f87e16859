//! Counters of one consumer, readable while it runs (tests, metrics, `/readyz`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Message and request counts since the consumer was made. Each field is an independent
/// counter; read them with [`AtomicU64::load`] or the getters.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// ReceiveMessage requests sent (lets a test prove receiving stopped).
    pub receive_calls: AtomicU64,
    /// ReceiveMessage requests that failed.
    pub receive_errors: AtomicU64,
    /// Messages received.
    pub received: AtomicU64,
    /// Messages SQS confirmed deleted.
    pub deleted: AtomicU64,
    /// Messages left for redelivery with a backoff.
    pub retried: AtomicU64,
    /// Messages moved to the dead-letter queue by the consumer (on their last delivery).
    pub dead_lettered: AtomicU64,
    /// Visibility extensions SQS confirmed, one per message per heartbeat call.
    pub extended: AtomicU64,
    /// Messages held (kept invisible, not failed) because their handler reported an outage.
    pub held_for_outage: AtomicU64,
    /// Messages made visible again at shutdown: undecided ones, and those a long poll in
    /// flight brought after shutdown began.
    pub released_on_shutdown: AtomicU64,
    /// Messages of batches abandoned past the processing deadline (returned to the queue).
    pub abandoned: AtomicU64,
}

impl ConsumerStats {
    pub fn receive_calls(&self) -> u64 {
        self.receive_calls.load(Ordering::Relaxed)
    }
    pub fn receive_errors(&self) -> u64 {
        self.receive_errors.load(Ordering::Relaxed)
    }
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
    pub fn deleted(&self) -> u64 {
        self.deleted.load(Ordering::Relaxed)
    }
    pub fn retried(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }
    pub fn extended(&self) -> u64 {
        self.extended.load(Ordering::Relaxed)
    }
    pub fn held_for_outage(&self) -> u64 {
        self.held_for_outage.load(Ordering::Relaxed)
    }
    pub fn released_on_shutdown(&self) -> u64 {
        self.released_on_shutdown.load(Ordering::Relaxed)
    }
    pub fn abandoned(&self) -> u64 {
        self.abandoned.load(Ordering::Relaxed)
    }
}

/// Adds `n` to a counter (usize because it is always a length).
pub(super) fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
}
