//! The SQS consumer against LocalStack: delivery and permits, retries into the DLQ, FIFO
//! group order, the visibility heartbeat, outage holds, shutdown and receive errors.
//! This file holds the scripted handler and the queue helpers the scenarios share.

mod deadline;
mod delivery;
mod outage;
mod shutdown;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{QueueAttributeName as Attr, SendMessageBatchRequestEntry};
use fulfil::queue::topology::Provisioned;
use fulfil::queue::{
    AwsClients, BatchHandler, Consumer, ConsumerConfig, ConsumerStats, Disposition, Message,
    Outage, QueueError,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::harness;

/// What a scripted handler answers for one batch; it may look at the handler's state.
type Script =
    Box<dyn Fn(&TestHandler, &[Message]) -> Result<Vec<Disposition>, Outage> + Send + Sync>;

/// One `handle` call as the handler saw it.
#[derive(Debug, Clone)]
struct Call {
    at: Instant,
    batch: Vec<Message>,
    outcome: Result<Vec<Disposition>, Outage>,
}

/// A handler that answers from a script, optionally slowly, and records everything.
struct TestHandler {
    script: Script,
    work: Duration,
    /// The next call never answers (a hung batch); the ones after it are normal.
    hang_next: AtomicBool,
    healthy: AtomicBool,
    probes: AtomicU64,
    calls: Mutex<Vec<Call>>,
    holding: AtomicUsize,
    most_held: AtomicUsize,
}

impl TestHandler {
    fn new(work: Duration, script: Script) -> Arc<Self> {
        Arc::new(Self {
            script,
            work,
            hang_next: AtomicBool::new(false),
            healthy: AtomicBool::new(true),
            probes: AtomicU64::new(0),
            calls: Mutex::new(Vec::new()),
            holding: AtomicUsize::new(0),
            most_held: AtomicUsize::new(0),
        })
    }

    fn deleting_all() -> Arc<Self> {
        Self::new(
            Duration::ZERO,
            Box::new(|_, batch| Ok(all(batch, Disposition::Delete))),
        )
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls lock").clone()
    }

    fn probes(&self) -> u64 {
        self.probes.load(Ordering::SeqCst)
    }
}

fn all(batch: &[Message], d: Disposition) -> Vec<Disposition> {
    vec![d; batch.len()]
}

impl BatchHandler for TestHandler {
    async fn handle(&self, batch: Vec<Message>) -> Result<Vec<Disposition>, Outage> {
        if self.hang_next.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let now = self.holding.fetch_add(batch.len(), Ordering::SeqCst) + batch.len();
        self.most_held.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.work).await;
        self.holding.fetch_sub(batch.len(), Ordering::SeqCst);
        let outcome = (self.script)(self, &batch);
        let call = Call {
            at: Instant::now(),
            batch,
            outcome: outcome.clone(),
        };
        self.calls.lock().expect("calls lock").push(call);
        outcome
    }

    async fn healthy(&self) -> bool {
        self.probes.fetch_add(1, Ordering::SeqCst);
        self.healthy.load(Ordering::SeqCst)
    }
}

/// Test defaults: quick polls, permits for every poller's full batch (so pollers never wait
/// on each other unless a test says so), the topology's 5 s visibility, a 1 s retry cap, a
/// processing deadline no test reaches unless it says so.
fn config(queue_url: &str, fifo: bool) -> ConsumerConfig {
    ConsumerConfig {
        queue_url: queue_url.to_owned(),
        fifo,
        pollers: 2,
        max_in_flight: 30,
        batch_size: 10,
        wait_time: Duration::from_secs(1),
        visibility_timeout: Duration::from_secs(5),
        max_backoff: Duration::from_secs(1),
        processing_deadline: Duration::from_secs(60),
        delete_linger: Duration::ZERO,
        receive_window: Duration::ZERO,
    }
}

/// A consumer running in its own task.
struct Running {
    stats: Arc<ConsumerStats>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), QueueError>>,
}

fn start(aws: &AwsClients, config: ConsumerConfig, handler: &Arc<TestHandler>) -> Running {
    let consumer = Consumer::new(aws.sqs.clone(), config);
    let stats = consumer.stats();
    let shutdown = CancellationToken::new();
    let (token, handler) = (shutdown.clone(), Arc::clone(handler));
    let task = tokio::spawn(async move { consumer.run(handler, token).await });
    Running {
        stats,
        shutdown,
        task,
    }
}

impl Running {
    /// Cancels and fails the test unless `run` returns Ok within `deadline`.
    async fn stop_within(self, deadline: Duration) {
        self.shutdown.cancel();
        let ended = tokio::time::timeout(deadline, self.task).await;
        let result =
            ended.unwrap_or_else(|_| panic!("run did not return within {deadline:?} of shutdown"));
        result.expect("run task").expect("run returned an error");
    }

    /// Waits until `counter` of the stats reaches `at_least`.
    async fn until(
        &self,
        deadline: Duration,
        what: &str,
        at_least: u64,
        counter: fn(&ConsumerStats) -> u64,
    ) {
        harness::eventually(deadline, what, || async {
            (counter(&self.stats) >= at_least).then_some(())
        })
        .await;
    }
}

/// A fresh topology of this test's own.
async fn topology(fifo: bool) -> Provisioned {
    let settings = harness::setup_settings(fifo).await;
    fulfil::setup::run(&settings)
        .await
        .expect("setup")
        .provisioned
}

/// Sends `bodies` in order (FIFO: all in `group`, deduplicated by body).
async fn send(aws: &AwsClients, url: &str, bodies: &[&str], group: Option<&str>) {
    for (n, chunk) in bodies.chunks(10).enumerate() {
        let entries = chunk.iter().enumerate().map(|(i, body)| {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(format!("{n}-{i}"))
                .message_body(*body);
            let entry = match group {
                Some(g) => entry.message_group_id(g).message_deduplication_id(*body),
                None => entry,
            };
            entry.build().expect("entry")
        });
        let out = aws
            .sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries.collect()))
            .send();
        let out = out.await.expect("SendMessageBatch");
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    }
}

/// (visible, in flight) as the queue counts them.
async fn counts(aws: &AwsClients, url: &str) -> (u64, u64) {
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Attr::ApproximateNumberOfMessages)
        .attribute_names(Attr::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes");
    let attrs = out.attributes().cloned().unwrap_or_default();
    let count = |a: Attr| {
        attrs
            .get(&a)
            .and_then(|v| v.parse().ok())
            .expect("count attribute")
    };
    (
        count(Attr::ApproximateNumberOfMessages),
        count(Attr::ApproximateNumberOfMessagesNotVisible),
    )
}

async fn set_queue_visibility(aws: &AwsClients, url: &str, secs: u64) {
    let request = aws.sqs.set_queue_attributes().queue_url(url);
    let request = request.attributes(Attr::VisibilityTimeout, secs.to_string());
    request.send().await.expect("SetQueueAttributes");
}

/// One plain receive by someone other than the consumer (wait up to 1 s).
async fn receive_one(aws: &AwsClients, url: &str) -> Option<aws_sdk_sqs::types::Message> {
    let out = aws
        .sqs
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(1)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("ReceiveMessage");
    out.messages().first().cloned()
}

fn receive_count(m: &aws_sdk_sqs::types::Message) -> Option<&str> {
    let attrs = m.attributes()?;
    attrs
        .get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        .map(String::as_str)
}

fn bodies(batch: &[Message]) -> Vec<&str> {
    batch.iter().map(|m| m.body.as_str()).collect()
}
