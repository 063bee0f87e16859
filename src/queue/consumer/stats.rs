//! Counters of one consumer, readable while it runs (tests, `/readyz`) and exported to
//! `/metrics` as they move: `fulfil_consumer_receive_calls_total{queue}`,
//! `fulfil_consumer_receive_errors_total{queue}`, `fulfil_consumer_delete_calls_total{queue}`
//! and
//! `fulfil_consumer_messages_total{queue,event}` (received, deleted, retried, dead_lettered,
//! extended, held_for_outage, released_on_shutdown, abandoned). `queue` is the queue's name,
//! so the worker's and the projector's consumers in one `fulfil run` stay apart.

use std::sync::atomic::{AtomicU64, Ordering};

/// Message and request counts since the consumer was made. Each field is an independent
/// counter; read them with [`AtomicU64::load`] or the getters.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// The queue's name: the `queue` label of the exported metrics.
    queue: String,
    /// ReceiveMessage requests sent (lets a test prove receiving stopped).
    pub receive_calls: AtomicU64,
    /// ReceiveMessage requests that failed.
    pub receive_errors: AtomicU64,
    /// DeleteMessageBatch requests sent (ten messages each at best; see `deleter`).
    pub delete_calls: AtomicU64,
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
    pub fn delete_calls(&self) -> u64 {
        self.delete_calls.load(Ordering::Relaxed)
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

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counted {
    ReceiveCalls,
    ReceiveErrors,
    DeleteCalls,
    Received,
    Deleted,
    Retried,
    DeadLettered,
    Extended,
    HeldForOutage,
    ReleasedOnShutdown,
    Abandoned,
}

impl ConsumerStats {
    /// Counters for the queue at `queue_url` (its last path segment names it in metrics).
    pub(super) fn for_queue(queue_url: &str) -> Self {
        let name = queue_url.rsplit('/').next().unwrap_or(queue_url);
        Self {
            queue: name.to_owned(),
            ..Self::default()
        }
    }

    /// Adds `n` (always a length) to a counter and to its exported metric.
    pub(super) fn add(&self, counted: Counted, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.counter(counted).fetch_add(n, Ordering::Relaxed);
        let queue = self.queue.clone();
        match counted.metric() {
            (name, Some(event)) => {
                metrics::counter!(name, "queue" => queue, "event" => event).increment(n);
            }
            (name, None) => metrics::counter!(name, "queue" => queue).increment(n),
        }
    }

    fn counter(&self, counted: Counted) -> &AtomicU64 {
        match counted {
            Counted::ReceiveCalls => &self.receive_calls,
            Counted::ReceiveErrors => &self.receive_errors,
            Counted::DeleteCalls => &self.delete_calls,
            Counted::Received => &self.received,
            Counted::Deleted => &self.deleted,
            Counted::Retried => &self.retried,
            Counted::DeadLettered => &self.dead_lettered,
            Counted::Extended => &self.extended,
            Counted::HeldForOutage => &self.held_for_outage,
            Counted::ReleasedOnShutdown => &self.released_on_shutdown,
            Counted::Abandoned => &self.abandoned,
        }
    }
}

impl Counted {
    /// The exported metric: its name, and its `event` label for a message counter.
    fn metric(self) -> (&'static str, Option<&'static str>) {
        const MESSAGES: &str = "fulfil_consumer_messages_total";
        match self {
            Counted::ReceiveCalls => ("fulfil_consumer_receive_calls_total", None),
            Counted::ReceiveErrors => ("fulfil_consumer_receive_errors_total", None),
            Counted::DeleteCalls => ("fulfil_consumer_delete_calls_total", None),
            Counted::Received => (MESSAGES, Some("received")),
            Counted::Deleted => (MESSAGES, Some("deleted")),
            Counted::Retried => (MESSAGES, Some("retried")),
            Counted::DeadLettered => (MESSAGES, Some("dead_lettered")),
            Counted::Extended => (MESSAGES, Some("extended")),
            Counted::HeldForOutage => (MESSAGES, Some("held_for_outage")),
            Counted::ReleasedOnShutdown => (MESSAGES, Some("released_on_shutdown")),
            Counted::Abandoned => (MESSAGES, Some("abandoned")),
        }
    }
}
