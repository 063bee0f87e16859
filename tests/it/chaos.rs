//! The reliability suite's short scenarios: a worker killed at each named step, duplicates,
//! races, shuffled load, invalid input of every kind, a poisoned command, dependencies down,
//! processing slower than the visibility timeout, a relay dying between publish and mark,
//! and the deliberately broken builds the suite must catch. Every scenario ends the same
//! way: wait for the pipeline to drain, then run the invariant checker (`fulfil_testkit::check`)
//! over both databases and both DLQs against the list of everything published.
//!
//! This file holds what they share: a [`Run`] (a pipeline with its read side, the record of
//! what was published, the drain and the check) and small helpers for processes.

#![allow(dead_code)]

// The scenarios that configure failpoints need a `--features failpoints` build.
#[cfg(feature = "failpoints")]
mod bugs;
mod check_cli;
#[cfg(feature = "failpoints")]
mod crash;
mod duplicates;
mod input;
mod outage;
#[cfg(feature = "failpoints")]
mod poison;
mod races;
#[cfg(feature = "failpoints")]
mod relay_crash;
mod shuffled;
#[cfg(feature = "failpoints")]
mod slow;

use std::sync::Mutex;
use std::time::Duration;

use fulfil::db::Database;
use fulfil_testkit::check::{self, drain::Drained, CheckReport, Planted, Sources};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::bodies::{place, restock};
use crate::pipeline::{Pipeline, RoleProcess};

/// Long enough for any scenario here on a busy CI machine; they take seconds.
pub const DRAIN: Duration = Duration::from_secs(180);

/// A pipeline, what was published on it, and (once started) its relay and projector.
pub struct Run {
    pub p: Pipeline,
    pub read: PgPool,
    published: Mutex<Vec<String>>,
    /// Ids of the poisons the scenario dead-letters on purpose (see [`Run::plant`]).
    planted: Mutex<Vec<String>>,
    pub read_side: Vec<RoleProcess>,
}

impl Run {
    /// A fresh pipeline whose commands queue dead-letters after `max_receive_count`
    /// receives (the projector queue after 10, whatever a scenario does to the commands).
    pub async fn new(fifo: bool, max_receive_count: u32) -> Run {
        let p = Pipeline::with_receive_count(fifo, max_receive_count).await;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": p.provisioned.projector_dlq.arn,
            "maxReceiveCount": 10,
        });
        p.aws
            .sqs
            .set_queue_attributes()
            .queue_url(&p.provisioned.projector_queue.url)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
                redrive.to_string(),
            )
            .send()
            .await
            .expect("projector queue redrive policy");
        let read = fulfil::db::connect(Database::Read, &p.settings.read_database_url, 2)
            .await
            .expect("read database");
        Run {
            p,
            read,
            published: Mutex::new(Vec::new()),
            planted: Mutex::new(Vec::new()),
            read_side: Vec::new(),
        }
    }

    /// A relay and a projector process, kept until the run is dropped.
    pub async fn start_read_side(&mut self) {
        let relay = self.p.relay(&[]).await;
        let projector = self.p.projector_with(&[]).await;
        self.read_side.extend([relay, projector]);
    }

    fn record(&self, bodies: &[String]) {
        self.published
            .lock()
            .expect("published list")
            .extend_from_slice(bodies);
    }

    pub fn published(&self) -> Vec<String> {
        self.published.lock().expect("published list").clone()
    }

    /// Declares that the command (or event) `id` is a poison this scenario sends to a DLQ on
    /// purpose: the checker lists it there instead of calling it a violation.
    pub fn plant(&self, id: &str) {
        self.planted
            .lock()
            .expect("planted list")
            .push(id.to_owned());
    }

    fn planted(&self) -> Planted {
        Planted::ids(self.planted.lock().expect("planted list").clone())
    }

    /// Publishes through SNS (as upstream does) and records every body.
    pub async fn publish(&self, bodies: &[String]) {
        self.record(bodies);
        self.p.publish(bodies).await;
    }

    /// Publishes copies with new FIFO deduplication ids (so they reach the worker).
    pub async fn publish_again(&self, bodies: &[String]) {
        self.record(bodies);
        self.p.publish_with_new_dedup_ids(bodies).await;
    }

    /// A late redelivery: straight into the commands queue.
    pub async fn send_late(&self, body: &str) {
        self.record(&[body.to_owned()]);
        self.p.send_to_queue(body).await;
    }

    pub fn sources(&self) -> Sources<'_> {
        let provisioned = &self.p.provisioned;
        Sources {
            write: &self.p.pool,
            read: &self.read,
            aws: &self.p.aws,
            commands_queue_url: &provisioned.commands_queue.url,
            commands_dlq_url: &provisioned.commands_dlq.url,
            projector_queue_url: &provisioned.projector_queue.url,
            projector_dlq_url: &provisioned.projector_dlq.url,
        }
    }

    pub async fn drain(&self, deadline: Duration) -> Drained {
        check::drain::wait(&self.sources(), deadline)
            .await
            .expect("looking at the backlog")
    }

    pub async fn check(&self) -> CheckReport {
        self.check_with(&self.planted()).await
    }

    /// The checker as if only `planted` had been declared.
    pub async fn check_with(&self, planted: &Planted) -> CheckReport {
        check::run(&self.sources(), &self.published(), planted)
            .await
            .expect("the checker ran")
    }

    /// Waits for the drain (failing the test if it does not come), then checks.
    pub async fn finish(&self) -> CheckReport {
        let drained = self.drain(DRAIN).await;
        let report = self.check().await;
        assert!(
            drained.complete,
            "not drained after {:?}: {:?}\n{report}",
            drained.waited, drained.last
        );
        report
    }
}

/// Fails the test with the whole report unless it is clean.
pub fn assert_clean(report: &CheckReport) {
    assert!(
        report.is_clean(),
        "the checker found broken invariants:\n{report}"
    );
}

/// A restock and `buyers` orders of `units` each on one product.
pub fn sale(product: &str, stock: i64, buyers: usize, units: i64) -> (String, Vec<String>) {
    let orders = (0..buyers)
        .map(|i| place(&format!("c-{i}"), &format!("o-{i}"), &[(product, units)]))
        .collect();
    (restock(&format!("r-{product}"), product, stock), orders)
}

/// The ops address a process logged at start (`ops=127.0.0.1:PORT`).
pub fn ops_addr(process: &RoleProcess) -> String {
    process
        .log()
        .split_whitespace()
        .find_map(|word| word.strip_prefix("ops="))
        .map(|addr| addr.trim_matches('"').to_owned())
        .expect("the start line names the ops address")
}

/// The process's `/metrics` text.
pub async fn metrics(process: &RoleProcess) -> String {
    let addr = ops_addr(process);
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect to the ops endpoint");
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    response
}

/// The sum of every series of `name` whose labels contain `labels` (0 when absent).
pub fn counter(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Whether the process died of SIGABRT, as `return(crash)` makes it.
pub fn aborted(status: std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(6)
}
