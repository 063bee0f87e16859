//! `fulfil relay`: relay steps while they publish, then wait for a NOTIFY, the poll interval
//! or shutdown. While the write database or SNS is down it backs off and keeps trying,
//! logging once per outage. SIGTERM lets the step in progress finish, then returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::RunError;
use crate::config::{AwsSettings, SecretUrl, Topology};
use crate::db::{self, Database};
use crate::ops::{self, Readiness};
use crate::queue::{topology, AwsClients};
use crate::relay::{self, wakeup, Backoff, RelayError};

#[derive(Debug, Clone)]
pub struct RelayRunSettings {
    pub aws: AwsSettings,
    pub topology: Topology,
    pub write_database_url: SecretUrl,
    /// How often to look for unpublished rows without a NOTIFY (which can be lost).
    pub poll_interval: Duration,
    /// Most rows claimed by one step.
    pub batch_size: i64,
    pub ops_addr: SocketAddr,
}

pub async fn run(settings: RelayRunSettings, shutdown: CancellationToken) -> Result<(), RunError> {
    let pool = db::connect(Database::Write, &settings.write_database_url, 5).await?;
    let aws = AwsClients::connect(&settings.aws).await;
    let topic_arn = topology::topic_arn(&aws, &settings.topology.events_topic()).await?;
    let readiness = Readiness::default();
    let router = ops::router(readiness.clone());
    let ops_addr = ops::serve(settings.ops_addr, router, shutdown.clone()).await?;
    tokio::spawn(watch_readiness(pool.clone(), readiness, shutdown.clone()));
    let wake = wakeup::spawn(pool.clone(), shutdown.clone());
    tracing::info!(topic = %topic_arn, endpoint = %aws.endpoint, ops = %ops_addr, "relay started");
    let relay = RelayLoop {
        pool,
        sns: aws.sns,
        topic_arn,
        endpoint: aws.endpoint,
        fifo: settings.topology.fifo,
        batch_size: settings.batch_size,
        poll_interval: settings.poll_interval,
    };
    relay.run(wake, shutdown).await;
    tracing::info!("relay stopped");
    Ok(())
}

struct RelayLoop {
    pool: PgPool,
    sns: aws_sdk_sns::Client,
    topic_arn: String,
    endpoint: String,
    fifo: bool,
    batch_size: i64,
    poll_interval: Duration,
}

impl RelayLoop {
    async fn run(&self, wake: Arc<Notify>, shutdown: CancellationToken) {
        let mut outage = OutageLog::default();
        while !shutdown.is_cancelled() {
            let pause = match self.drain(&shutdown).await {
                Ok(()) => {
                    outage.over();
                    self.record_backlog().await;
                    self.poll_interval
                }
                Err(error) => outage.failed(&error, &self.endpoint),
            };
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = wake.notified(), if !outage.ongoing() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Steps while they publish; shutdown is checked between steps, never inside one.
    async fn drain(&self, shutdown: &CancellationToken) -> Result<(), RelayError> {
        while !shutdown.is_cancelled() {
            let started = Instant::now();
            let step = relay::relay_once(
                &self.pool,
                &self.sns,
                &self.topic_arn,
                self.fifo,
                self.batch_size,
            )
            .await;
            metrics::histogram!("fulfil_relay_step_seconds")
                .record(started.elapsed().as_secs_f64());
            if step?.published == 0 {
                break;
            }
        }
        Ok(())
    }

    /// The `fulfil_outbox_unpublished` gauge, taken when the relay goes idle.
    async fn record_backlog(&self) {
        let count =
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(&self.pool)
                .await;
        if let Ok(count) = count {
            metrics::gauge!("fulfil_outbox_unpublished").set(count as f64);
        }
    }
}

/// One warning per outage (not one per retry), the recovery logged with how long it lasted.
#[derive(Default)]
struct OutageLog {
    since: Option<Instant>,
    backoff: Backoff,
}

impl OutageLog {
    fn ongoing(&self) -> bool {
        self.since.is_some()
    }

    /// Logs the first failure of an outage; returns how long to wait before trying again.
    fn failed(&mut self, error: &RelayError, endpoint: &str) -> Duration {
        if self.since.is_none() {
            self.since = Some(Instant::now());
            let dependency = error.dependency();
            let endpoint = matches!(error, RelayError::Publish { .. }).then_some(endpoint);
            if error.is_outage() {
                tracing::warn!(%error, dependency, endpoint, "relay paused: {dependency} unavailable; retrying with backoff");
            } else {
                tracing::error!(%error, dependency, endpoint, "relay step failed; retrying with backoff");
            }
        }
        self.backoff.next_delay()
    }

    fn over(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(lasted = ?since.elapsed(), "relay resumed");
        }
        self.backoff.reset();
    }
}

/// Ready while the write database answers and no shutdown was asked for.
async fn watch_readiness(pool: PgPool, readiness: Readiness, shutdown: CancellationToken) {
    loop {
        let probe = sqlx::query("SELECT 1").execute(&pool);
        let reachable = matches!(
            tokio::time::timeout(Duration::from_secs(2), probe).await,
            Ok(Ok(_))
        );
        readiness.set(reachable && !shutdown.is_cancelled());
        tokio::select! {
            () = shutdown.cancelled() => { readiness.set(false); return; }
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
