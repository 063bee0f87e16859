//! The relay: outbox rows → the events SNS topic, each event at least once and, per
//! aggregate, in version order, with several relays running at once.
//!
//! One step ([`relay_once`]) claims unpublished rows in one transaction (`FOR UPDATE SKIP
//! LOCKED`, so relays, and the steps one relay runs side by side, share the work),
//! publishes those that may go now, marks them and commits: three statements. A crash after publishing and before the commit only causes duplicates, which the
//! projector absorbs by version. The loop around it lives in `run::relay`; the wake-up on
//! NOTIFY in [`wakeup`]. Touches the write database's `outbox` and the SNS client only.

mod backoff;
mod claim;
mod error;
mod pace;
mod publish;
pub mod wakeup;

pub use backoff::Backoff;
pub use claim::{Claim, OutboxRow, CLAIM};
pub use error::RelayError;
pub use pace::Pace;
pub use publish::{publish, Published};

use sqlx::PgPool;

/// What one step did; the loop repeats steps while they publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayStep {
    /// Events published and marked in this step.
    pub published: usize,
    /// Claimed rows left for a later step: kept back behind an earlier event of their
    /// aggregate that another relay holds, or refused by SNS.
    pub waiting: bool,
    /// The claim took all `limit` rows: more are probably waiting.
    pub full: bool,
}

/// One step: claim up to `limit` rows, publish what may go, mark it, commit.
///
/// When a `PublishBatch` call fails as a whole, what earlier calls published is still
/// marked and committed, then the error is returned. Each phase is timed
/// (`fulfil_relay_phase_seconds{phase}`): the profile that says where a slow relay waits.
pub async fn relay_once(
    pool: &PgPool,
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    fifo: bool,
    limit: i64,
) -> Result<RelayStep, RelayError> {
    let claim = timed("claim", Claim::begin(pool, limit)).await?;
    let published = timed("publish", publish(sns, topic_arn, fifo, claim.rows())).await;
    let step = RelayStep {
        published: published.ids.len(),
        waiting: claim.held_back() > 0 || published.ids.len() < claim.rows().len(),
        full: (claim.rows().len() + claim.held_back()) as i64 >= limit,
    };
    timed("mark", claim.commit(&published.ids)).await?;
    metrics::counter!("fulfil_relay_steps_total").increment(1);
    metrics::counter!("fulfil_relay_published_total").increment(published.ids.len() as u64);
    match published.error {
        Some(error) => Err(error),
        None => Ok(step),
    }
}

/// Runs `phase` and records how long it took.
async fn timed<T>(phase: &'static str, work: impl std::future::Future<Output = T>) -> T {
    let started = std::time::Instant::now();
    let out = work.await;
    metrics::histogram!("fulfil_relay_phase_seconds", "phase" => phase)
        .record(started.elapsed().as_secs_f64());
    out
}
