//! The read side against the real PostgreSQL and LocalStack: the projector's rules in the
//! read database (duplicates, older versions after newer ones, racing projectors), through
//! the projector queue (shuffled, reversed and duplicated deliveries, an event never
//! delivered, two projector processes), `verify` and `rebuild`. This file holds what the scenarios share: a pair of
//! databases with an event log, a sender to the projector queue and an in-process projector.

mod end_to_end;
mod queue;
mod rebuild;
mod store;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{QueueAttributeName as Attr, SendMessageBatchRequestEntry};
use fulfil::config::SecretUrl;
use fulfil::contract::event::ChangeEvent;
use fulfil::db::Database;
use fulfil::projector::{Projector, VerifyReport};
use fulfil::queue::{Consumer, ConsumerConfig, ConsumerStats, QueueError};
use rand::seq::{IndexedRandom, SliceRandom};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::harness::{self, TestDb};
use crate::pipeline::Pipeline;

/// A write database (whose outbox is the event log) and a read database.
#[derive(Clone)]
pub struct Dbs {
    pub write: PgPool,
    pub read: PgPool,
    pub write_url: SecretUrl,
    pub read_url: SecretUrl,
}

impl Dbs {
    /// Two fresh migrated databases of this test's own.
    pub async fn new() -> Dbs {
        let (write_db, write) = TestDb::migrated(Database::Write).await;
        let (read_db, read) = TestDb::migrated(Database::Read).await;
        Dbs {
            write,
            read,
            write_url: write_db.url,
            read_url: read_db.url,
        }
    }

    /// The databases `fulfil setup` made for a pipeline.
    pub async fn of(p: &Pipeline) -> Dbs {
        let read_url = p.settings.read_database_url.clone();
        let read = fulfil::db::connect(Database::Read, &read_url, 8)
            .await
            .expect("read database");
        Dbs {
            write: p.pool.clone(),
            read,
            write_url: p.settings.write_database_url.clone(),
            read_url,
        }
    }

    /// Appends `events` to the outbox, as the worker's transaction does.
    pub async fn log(&self, events: &[ChangeEvent]) {
        let mut tx = self.write.begin().await.expect("begin");
        crate::harness::write_changes(&mut tx, &[], events)
            .await
            .expect("outbox append");
        tx.commit().await.expect("commit");
    }

    /// Applies `events` straight to the read database, ten at a time (a receive's worth).
    pub async fn project(&self, events: &[ChangeEvent]) {
        let projector = Projector::new(self.read.clone());
        for chunk in events.chunks(10) {
            projector.apply(chunk).await.expect("apply");
        }
    }

    pub async fn verify(&self) -> VerifyReport {
        fulfil::projector::verify(&self.write, &self.read)
            .await
            .expect("verify")
    }

    /// Verifies and fails the test with every difference found.
    pub async fn assert_verified(&self) -> VerifyReport {
        let report = self.verify().await;
        let found: Vec<String> = report.differences.iter().map(|d| d.to_string()).collect();
        assert!(
            found.is_empty(),
            "{}:\n{}",
            report.summary(),
            found.join("\n")
        );
        report
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.read)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// `log` shuffled, with about `percent` % of its events a second time.
pub fn shuffled_with_duplicates(log: &[ChangeEvent], percent: usize) -> Vec<ChangeEvent> {
    let mut rng = rand::rng();
    let mut arrivals = log.to_vec();
    let copies = log.len() * percent / 100;
    arrivals.extend(log.choose_multiple(&mut rng, copies).cloned());
    arrivals.shuffle(&mut rng);
    arrivals
}

/// Sends `events` to the pipeline's projector queue as the relay would (FIFO: one group per
/// aggregate), each copy with its own deduplication id so duplicates get through.
pub async fn send(p: &Pipeline, events: &[ChangeEvent]) {
    for (n, chunk) in events.chunks(10).enumerate() {
        let entries = chunk.iter().enumerate().map(|(i, event)| {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(format!("{n}-{i}"))
                .message_body(event.to_json());
            let entry = match p.settings.topology.fifo {
                true => entry
                    .message_group_id(format!(
                        "{}:{}",
                        event.aggregate_type.as_str(),
                        event.aggregate_id
                    ))
                    .message_deduplication_id(harness::unique("ev")),
                false => entry,
            };
            entry.build().expect("entry")
        });
        let out = p
            .aws
            .sqs
            .send_message_batch()
            .queue_url(&p.provisioned.projector_queue.url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .expect("SendMessageBatch");
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    }
}

/// Messages in a queue: (visible, in flight).
pub async fn depth(p: &Pipeline, url: &str) -> (i64, i64) {
    let out = p
        .aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Attr::ApproximateNumberOfMessages)
        .attribute_names(Attr::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let attrs = out.attributes().cloned().unwrap_or_default();
    let get = |k: &Attr| attrs.get(k).and_then(|v| v.parse().ok()).unwrap_or(-1);
    (
        get(&Attr::ApproximateNumberOfMessages),
        get(&Attr::ApproximateNumberOfMessagesNotVisible),
    )
}

/// Waits until the projector queue holds nothing, visible or in flight.
pub async fn wait_drained(p: &Pipeline, deadline: Duration) {
    let url = &p.provisioned.projector_queue.url;
    harness::eventually(deadline, "the projector queue to drain", || async {
        (depth(p, url).await == (0, 0)).then_some(())
    })
    .await;
}

/// Waits until the read database counts `expected` applied events.
pub async fn wait_applied(dbs: &Dbs, expected: usize, deadline: Duration) {
    let what = format!("{expected} events applied to the read database");
    harness::eventually(deadline, &what, || async {
        let applied = dbs
            .scalar("SELECT events_applied FROM projection_state")
            .await;
        (applied == expected as i64).then_some(())
    })
    .await;
}

/// Waits until the read database equals the fold of the event log: on a standard queue the
/// count of applied events depends on the arrival order, so it cannot tell when that is.
pub async fn wait_verified(dbs: &Dbs, deadline: Duration) {
    harness::eventually(
        deadline,
        "the read database to equal the event log",
        || async { dbs.verify().await.is_clean().then_some(()) },
    )
    .await;
}

/// An in-process projector: the production handler under the consumer, with test timing
/// (1 s polls, retries after at most 2 s).
pub struct Running {
    pub stats: Arc<ConsumerStats>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), QueueError>>,
}

pub fn start(p: &Pipeline, read: &PgPool) -> Running {
    let config = ConsumerConfig {
        queue_url: p.provisioned.projector_queue.url.clone(),
        fifo: p.settings.topology.fifo,
        pollers: 2,
        max_in_flight: 20,
        batch_size: 10,
        wait_time: Duration::from_secs(1),
        visibility_timeout: Duration::from_secs(5),
        max_backoff: Duration::from_secs(2),
        processing_deadline: fulfil::queue::consumer::DEFAULT_PROCESSING_DEADLINE,
        delete_linger: Duration::ZERO,
        receive_window: Duration::ZERO,
    };
    let consumer = Consumer::new(p.aws.sqs.clone(), config);
    let stats = consumer.stats();
    let shutdown = CancellationToken::new();
    let projector = Arc::new(Projector::new(read.clone()));
    let token = shutdown.clone();
    let task = tokio::spawn(async move { consumer.run(projector, token).await });
    Running {
        stats,
        shutdown,
        task,
    }
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(30), self.task).await;
        let result = ended.expect("the projector stops within 30 s of shutdown");
        result.expect("projector task").expect("projector run");
    }
}

/// Runs `fulfil ARGS` against both databases and returns its output.
pub async fn cli(dbs: &Dbs, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_fulfil"))
        .args(args)
        .env("FULFIL_WRITE_DATABASE_URL", dbs.write_url.expose())
        .env("FULFIL_READ_DATABASE_URL", dbs.read_url.expose())
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run fulfil")
}
