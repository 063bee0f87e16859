//! The SQS consumer: long-poll loops that hand batches to a [`BatchHandler`] and carry out
//! the [`Disposition`] it gives each message (batch delete, a backed-off retry left to SQS's
//! redrive, or a move to the DLQ now), keeping slow batches invisible with a heartbeat,
//! pausing all receiving while a dependency is down, giving unfinished messages back on
//! shutdown (and what a long poll brings after it began), and abandoning a batch whose
//! handling runs past its processing deadline.
//!
//! It knows SQS and nothing of commands or databases: what a message means is the handler's
//! business. It may touch the SQS client and the queue it is given, nothing else.

mod batch;
mod dead_letter;
mod deadline;
mod deleter;
mod gate;
mod heartbeat;
mod pace;
pub(crate) mod policy;
mod poller;
mod sqs;
mod stats;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::QueueError;
use deleter::Deleter;
use gate::OutageGate;
use pace::ReceivePace;
use sqs::Sqs;
pub use stats::ConsumerStats;

/// Indices of a batch's messages already deleted early (the batch settles them, the
/// heartbeat stops extending them).
type Deleted = std::sync::Mutex<std::collections::BTreeSet<usize>>;

/// One received message, in our terms rather than the SDK's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// The FIFO message group; `None` on a standard queue.
    pub group_id: Option<String>,
    /// SQS's ApproximateReceiveCount: 1 on the first delivery.
    pub receive_count: u32,
    pub sent_at: Option<SystemTime>,
    /// The receive count has reached the queue's `maxReceiveCount`: if this delivery fails
    /// too, SQS dead-letters the message on its next receive. False when unknown.
    pub last_delivery: bool,
    /// The W3C `traceparent` it came with, if any (see [`crate::trace`]).
    pub traceparent: Option<String>,
}

/// What becomes of one message: the one name for a message's fate, decided by the handler
/// and carried out here. Handlers come to it from their own results (the worker from what it
/// recorded for a command, `worker::Recorded`; the projector from the projection rule's
/// `projector::Verdict` on an event; a failure from its error), and the consumer, the
/// Lambda adapter and the consumer's policies know only this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done with (applied, rejected or stored as invalid): delete it.
    Delete,
    /// Not done: leave it for redelivery after a backoff; SQS moves it to the DLQ after
    /// the queue's maxReceiveCount.
    Retry,
    /// Failed on its last delivery: move it to the dead-letter queue now (then delete it),
    /// so the later messages of its FIFO group need not wait for SQS to do it, and are not
    /// dead-lettered along with it. Without a known DLQ this is a `Retry`. `reason` goes
    /// with it as a message attribute (see [`dead_letter`]), for `fulfil dlq`.
    DeadLetter { reason: String },
}

/// An outage of something the handler needs (write DB, Redis): the whole batch is held, not
/// failed, because failing it would burn receive counts and push valid commands to the DLQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub dependency: &'static str,
    pub detail: String,
}

/// Lets a handler say, before its whole batch is decided, that a message is done (its
/// work committed): the consumer deletes it at once, so a slow message of a batch holds
/// only itself. Carries indices into the batch.
#[derive(Debug, Clone)]
pub struct Settled(tokio::sync::mpsc::UnboundedSender<usize>);

impl Settled {
    /// A `Settled` for a caller other than the consumer (the Lambda adapter), and the
    /// receiving end of the indices it reports.
    pub fn channel() -> (Settled, tokio::sync::mpsc::UnboundedReceiver<usize>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Settled(tx), rx)
    }

    /// Message `index` of the batch is done and may be deleted now (its final disposition
    /// must then be `Delete`).
    pub fn done(&self, index: usize) {
        let _consumer_gone = self.0.send(index);
    }
}

/// What the consumer drives: the decision on a batch, and a cheap health probe.
pub trait BatchHandler: Send + Sync + 'static {
    /// Decides every message of a non-empty batch: one disposition per message, same order.
    fn handle(
        &self,
        batch: Vec<Message>,
    ) -> impl Future<Output = Result<Vec<Disposition>, Outage>> + Send;

    /// [`BatchHandler::handle`], telling `settled` of each message done before the rest;
    /// by default none is.
    fn handle_settling(
        &self,
        batch: Vec<Message>,
        settled: Settled,
    ) -> impl Future<Output = Result<Vec<Disposition>, Outage>> + Send {
        drop(settled);
        self.handle(batch)
    }

    /// Whether the dependencies are back; probed with backoff while an outage lasts.
    fn healthy(&self) -> impl Future<Output = bool> + Send;
}

/// How one consumer polls its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    pub queue_url: String,
    /// A FIFO queue: a retried message holds back the later messages of its group.
    pub fifo: bool,
    /// Concurrent long-poll loops.
    pub pollers: usize,
    /// Most messages held (received and not yet settled) at once.
    pub max_in_flight: usize,
    /// Messages per receive, 1..=10.
    pub batch_size: i32,
    /// Long-poll wait, at most 20 s and at most half the visibility timeout (see
    /// `longest_wait`).
    pub wait_time: Duration,
    /// The queue's visibility timeout; also asked for on every receive, and the heartbeat
    /// extends held batches back to it (every third to half of it: see `heartbeat::period`).
    pub visibility_timeout: Duration,
    /// Cap of the retry backoff (before jitter).
    pub max_backoff: Duration,
    /// Longest one handler call on a batch may take; past it the batch is abandoned and its
    /// messages returned to the queue (see `deadline`), so a hung batch is not kept
    /// invisible by the heartbeat forever.
    pub processing_deadline: Duration,
    /// Longest a settled message waits for others to fill its `DeleteMessageBatch` (see
    /// `deleter`); zero sends each batch's deletes at once.
    pub delete_linger: Duration,
    /// While receives come back part full, the least time between the starts of two (see
    /// `pace`); zero receives again at once.
    pub receive_window: Duration,
}

/// The processing deadline when none is configured: ten 30 s visibility timeouts, far
/// beyond any healthy batch (whose commits are bounded by the lock lease).
pub const DEFAULT_PROCESSING_DEADLINE: Duration = Duration::from_secs(300);

/// The longest [`ConsumerConfig::delete_linger`]: far below any visibility timeout, so a
/// message waiting for its delete is never received again meanwhile.
pub const MOST_DELETE_LINGER: Duration = Duration::from_secs(1);

/// The longest [`ConsumerConfig::receive_window`]: a message waits at most about this long
/// before it is received, on top of what its work takes.
pub const MOST_RECEIVE_WINDOW: Duration = Duration::from_secs(1);

impl ConsumerConfig {
    /// Brings every field into the range SQS and the permit logic accept: a batch larger
    /// than `max_in_flight` could never get its permits, a zero visibility would make the
    /// heartbeat spin.
    fn normalised(mut self) -> Self {
        self.pollers = self.pollers.max(1);
        self.max_in_flight = self.max_in_flight.max(1);
        let most = i32::try_from(self.max_in_flight.min(10)).unwrap_or(10);
        self.batch_size = self.batch_size.clamp(1, most);
        self.visibility_timeout = self.visibility_timeout.max(Duration::from_secs(1));
        self.wait_time = self.wait_time.min(longest_wait(self.visibility_timeout));
        self.max_backoff = self.max_backoff.max(Duration::from_secs(1));
        self.processing_deadline = self.processing_deadline.max(Duration::from_secs(1));
        self.delete_linger = self.delete_linger.min(MOST_DELETE_LINGER);
        self.receive_window = self.receive_window.min(MOST_RECEIVE_WINDOW);
        self
    }
}

/// The longest long poll for a queue whose visibility timeout is `visibility`: 20 s (SQS's
/// most), and no more than half the visibility timeout (at least 1 s).
///
/// Why half: a process killed with long polls in flight leaves them behind. SQS does not
/// notice the closed connection; each such poll still takes the next messages that arrive
/// or turn visible within its wait, makes them invisible and counts a receive, and its
/// answer goes nowhere. A poll shorter than the visibility timeout can take a given message
/// at most once; one that outlasts it can take the same message again when it comes back,
/// and a few kills in a row could then spend a valid command's every receive, sending it
/// to the DLQ. Half also halves how long such polls linger. Shorter polls cost only more
/// empty receives on an idle queue.
fn longest_wait(visibility: Duration) -> Duration {
    (visibility / 2)
        .max(Duration::from_secs(1))
        .min(Duration::from_secs(20))
}

/// A consumer of one queue; [`Consumer::run`] does the work until shutdown.
pub struct Consumer {
    sqs: Sqs,
    config: ConsumerConfig,
    stats: Arc<ConsumerStats>,
}

/// What the pollers and batch tasks of one `run` share.
struct Shared<H> {
    sqs: Sqs,
    deletes: Deleter,
    pace: ReceivePace,
    config: ConsumerConfig,
    stats: Arc<ConsumerStats>,
    handler: Arc<H>,
    gate: OutageGate,
    permits: Arc<Semaphore>,
    batches: TaskTracker,
    shutdown: CancellationToken,
}

impl Consumer {
    /// Out-of-range settings are brought into range (see [`ConsumerConfig`]).
    pub fn new(sqs: aws_sdk_sqs::Client, config: ConsumerConfig) -> Self {
        let config = config.normalised();
        Self {
            sqs: Sqs::new(sqs, &config.queue_url),
            stats: Arc::new(ConsumerStats::for_queue(&config.queue_url)),
            config,
        }
    }

    /// Counters shared with the running consumer.
    pub fn stats(&self) -> Arc<ConsumerStats> {
        Arc::clone(&self.stats)
    }

    /// Polls until `shutdown`, then finishes in-flight batches, returns undecided messages
    /// to the queue (and those a long poll in flight still brings) and returns. Fails at once if the queue cannot be reached at start (a
    /// wrong URL should stop the process, not log forever); receive errors after that are
    /// retried with backoff.
    pub async fn run<H: BatchHandler>(
        &self,
        handler: Arc<H>,
        shutdown: CancellationToken,
    ) -> Result<(), QueueError> {
        let dead_letter = self.sqs.check().await?;
        let mut shared = self.shared(handler, shutdown);
        shared.sqs = shared.sqs.with_dead_letter(dead_letter);
        let shared = Arc::new(shared);
        let mut pollers = JoinSet::new();
        for index in 0..self.config.pollers {
            pollers.spawn(poller::poll(Arc::clone(&shared), index));
        }
        while let Some(done) = pollers.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "a poller ended abnormally");
            }
        }
        shared.batches.close();
        shared.batches.wait().await;
        Ok(())
    }

    fn shared<H>(&self, handler: Arc<H>, shutdown: CancellationToken) -> Shared<H> {
        Shared {
            sqs: self.sqs.clone(),
            deletes: Deleter::start(
                self.sqs.clone(),
                Arc::clone(&self.stats),
                self.config.delete_linger,
            ),
            pace: ReceivePace::new(self.config.receive_window),
            config: self.config.clone(),
            stats: Arc::clone(&self.stats),
            handler,
            gate: OutageGate::default(),
            permits: Arc::new(Semaphore::new(self.config.max_in_flight)),
            batches: TaskTracker::new(),
            shutdown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_long_poll_lasts_at_most_half_the_visibility_timeout_and_twenty_seconds() {
        assert_eq!(longest_wait(secs(10)), secs(5));
        assert_eq!(longest_wait(secs(30)), secs(15));
        assert_eq!(longest_wait(secs(300)), secs(20));
        assert_eq!(longest_wait(secs(1)), secs(1));
    }

    #[test]
    fn a_consumer_asked_for_twenty_second_polls_on_a_ten_second_timeout_polls_five() {
        let config = ConsumerConfig {
            queue_url: "q".into(),
            fifo: true,
            pollers: 4,
            max_in_flight: 40,
            batch_size: 10,
            wait_time: secs(20),
            visibility_timeout: secs(10),
            max_backoff: secs(60),
            processing_deadline: DEFAULT_PROCESSING_DEADLINE,
            delete_linger: Duration::ZERO,
            receive_window: Duration::ZERO,
        };
        assert_eq!(config.normalised().wait_time, secs(5));
    }
}
