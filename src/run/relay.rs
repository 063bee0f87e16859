//! `fulfil relay`: relay steps, several side by side, started on a NOTIFY, the poll interval
//! or the end of a step that published (see [`Pace`]). While the write database or SNS is
//! down one step at a time probes with backoff, logging once per outage. SIGTERM lets the
//! steps in progress finish, then returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::RunError;
use crate::config::{AwsSettings, SecretUrl, Topology};
use crate::db::{self, Database};
use crate::ops::{self, Readiness};
use crate::queue::{topology, AwsClients};
use crate::relay::{self, wakeup, Backoff, Pace, RelayError, RelayStep};

#[derive(Debug, Clone)]
pub struct RelayRunSettings {
    pub aws: AwsSettings,
    pub topology: Topology,
    pub write_database_url: SecretUrl,
    /// How often to look for unpublished rows without a NOTIFY (which can be lost).
    pub poll_interval: Duration,
    /// Most rows claimed by one step.
    pub batch_size: i64,
    /// Steps running side by side (each with its own claim and lanes of `PublishBatch`).
    pub steps_in_flight: usize,
    pub ops_addr: SocketAddr,
    /// The events topic's ARN, when it must not be looked up by name.
    pub events_topic_arn: Option<String>,
    /// Pruning in the background, and how often; `None`: never.
    pub prune: Option<(super::prune::PruneSettings, Duration)>,
}

pub async fn run(settings: RelayRunSettings, shutdown: CancellationToken) -> Result<(), RunError> {
    let connections = settings.steps_in_flight as u32 + 3;
    let pool = db::connect(Database::Write, &settings.write_database_url, connections).await?;
    let aws = AwsClients::connect(&settings.aws).await;
    // On AWS the relay's role may publish but not list topics: the ARN can be given.
    let topic_arn = match &settings.events_topic_arn {
        Some(arn) => arn.clone(),
        None => topology::topic_arn(&aws, &settings.topology.events_topic()).await?,
    };
    let readiness = Readiness::default();
    let router = ops::router(readiness.clone());
    let ops_addr = ops::serve(settings.ops_addr, router, shutdown.clone()).await?;
    tokio::spawn(watch_readiness(pool.clone(), readiness, shutdown.clone()));
    let wake = wakeup::spawn(pool.clone(), shutdown.clone());
    if let Some((prune, every)) = settings.prune {
        tokio::spawn(super::prune::keep_pruning(
            pool.clone(),
            prune,
            every,
            shutdown.clone(),
        ));
    }
    tracing::info!(topic = %topic_arn, endpoint = %aws.endpoint, ops = %ops_addr,
        steps_in_flight = settings.steps_in_flight, "relay started");
    let relay = Arc::new(RelayLoop {
        pool,
        sns: aws.sns,
        topic_arn,
        endpoint: aws.endpoint,
        fifo: settings.topology.fifo,
        batch_size: settings.batch_size,
        poll_interval: settings.poll_interval,
        steps_in_flight: settings.steps_in_flight,
    });
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
    steps_in_flight: usize,
}

type Steps = JoinSet<Result<RelayStep, RelayError>>;

impl RelayLoop {
    /// Starts steps as [`Pace`] says, up to `steps_in_flight` at once, until shutdown; then
    /// lets the steps in progress finish (never abandons one half-way).
    async fn run(self: Arc<Self>, wake: Arc<Notify>, shutdown: CancellationToken) {
        let mut steps = Steps::new();
        let mut pace = Pace::new(self.steps_in_flight);
        let mut outage = OutageLog::default();
        // No step starts before `not_before` (a failure's backoff); `next_poll` is the next
        // look without a NOTIFY.
        let (mut not_before, mut next_poll) = (Instant::now(), Instant::now());
        while !shutdown.is_cancelled() {
            if Instant::now() >= not_before {
                self.start_steps(&mut steps, &mut pace, &outage);
            }
            let timer = match (outage.ongoing(), steps.is_empty()) {
                (true, false) => None, // a probe runs: its end decides
                (true, true) => Some(not_before),
                (false, _) => Some(
                    pace.due(steps.len())
                        .map_or(next_poll, |due| due.min(next_poll)),
                ),
            };
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = wake.notified(), if !outage.ongoing() => pace.look(),
                () = sleep_until(timer), if timer.is_some() => {
                    pace.look();
                    next_poll = next_poll.max(Instant::now() + self.poll_interval);
                }
                Some(ended) = steps.join_next(), if !steps.is_empty() => {
                    if let Some(pause) = self.ended(ended, &mut pace, &mut outage, steps.len()).await {
                        not_before = Instant::now() + pause;
                    }
                }
            }
        }
        while steps.join_next().await.is_some() {}
    }

    /// During an outage one step at a time probes; otherwise as many as the pace wants.
    fn start_steps(self: &Arc<Self>, steps: &mut Steps, pace: &mut Pace, outage: &OutageLog) {
        let most = if outage.ongoing() { 1 } else { usize::MAX };
        while steps.len() < most && pace.start(steps.len(), Instant::now()) {
            let relay = Arc::clone(self);
            steps.spawn(async move { relay.step().await });
        }
    }

    async fn step(&self) -> Result<RelayStep, RelayError> {
        let started = Instant::now();
        let step = relay::relay_once(
            &self.pool,
            &self.sns,
            &self.topic_arn,
            self.fifo,
            self.batch_size,
        )
        .await;
        metrics::histogram!("fulfil_relay_step_seconds").record(started.elapsed().as_secs_f64());
        step
    }

    /// Takes in a finished step; returns the pause before the next look after a failure.
    async fn ended(
        &self,
        ended: Result<Result<RelayStep, RelayError>, tokio::task::JoinError>,
        pace: &mut Pace,
        outage: &mut OutageLog,
        in_flight: usize,
    ) -> Option<Duration> {
        let step = ended.unwrap_or_else(|e| Err(RelayError::Panicked(e.to_string())));
        match step {
            Ok(step) => {
                outage.over();
                pace.finished(&step, in_flight);
                if in_flight == 0 && step.published == 0 {
                    self.record_backlog().await;
                }
                None
            }
            Err(error) => {
                pace.look();
                Some(outage.failed(&error, &self.endpoint))
            }
        }
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

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
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
