//! Waiting until a pipeline has nothing left in flight, so the checker sees final state:
//! the commands and projector queues empty (visible and in flight), every outbox row
//! published, and the read database at the latest version of every aggregate. The queues'
//! counts are approximate and SNS delivers a moment after it accepts, so "empty" must hold
//! for a few looks in a row.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName as Attr;
use sqlx::PgPool;
use tokio::time::Instant;

use super::{CheckError, Sources};
use fulfil::queue::{AwsClients, QueueError};

/// Looks in a row that must find nothing, and the pause between looks.
const QUIET_LOOKS: u32 = 4;
const LOOK_EVERY: Duration = Duration::from_millis(300);

/// What is still in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Commands queue: (visible, in flight).
    pub commands: (i64, i64),
    /// Projector queue: (visible, in flight).
    pub projector: (i64, i64),
    /// Outbox rows not yet relayed.
    pub unpublished: i64,
    /// Versions the read database still lacks, summed over the aggregates.
    pub versions_behind: i64,
}

impl Backlog {
    pub fn is_empty(&self) -> bool {
        *self == Backlog::default()
    }
}

/// How the wait ended.
#[derive(Debug, Clone, Copy)]
pub struct Drained {
    pub complete: bool,
    pub waited: Duration,
    /// The last look (empty when complete).
    pub last: Backlog,
}

/// Waits until nothing is in flight, or `deadline` passes.
pub async fn wait(sources: &Sources<'_>, deadline: Duration) -> Result<Drained, CheckError> {
    let started = Instant::now();
    let mut quiet = 0;
    loop {
        let last = look(sources).await?;
        quiet = if last.is_empty() { quiet + 1 } else { 0 };
        let waited = started.elapsed();
        if quiet >= QUIET_LOOKS || waited >= deadline {
            let complete = quiet >= QUIET_LOOKS;
            return Ok(Drained {
                complete,
                waited,
                last,
            });
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// One look at everything that can still be in flight.
pub async fn look(sources: &Sources<'_>) -> Result<Backlog, CheckError> {
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(sources.write)
            .await
            .map_err(fulfil::store::StoreError::from)?;
    Ok(Backlog {
        commands: depth(sources.aws, sources.commands_queue_url).await?,
        projector: depth(sources.aws, sources.projector_queue_url).await?,
        unpublished,
        versions_behind: versions_behind(sources.write, sources.read).await?,
    })
}

/// Versions the read database still lacks, summed over every aggregate of the event log:
/// zero once it holds the newest version of everything written, whatever order the events
/// came in (the projector skips older ones, so counting applied events would not tell).
pub async fn versions_behind(write: &PgPool, read: &PgPool) -> Result<i64, CheckError> {
    let logged: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(v), 0)::int8 FROM (SELECT max(aggregate_version) AS v FROM outbox
         GROUP BY aggregate_type, aggregate_id) t",
    )
    .fetch_one(write)
    .await
    .map_err(fulfil::store::StoreError::from)?;
    let projected: i64 = sqlx::query_scalar(
        "SELECT ((SELECT coalesce(sum(version), 0) FROM read_orders)
               + (SELECT coalesce(sum(version), 0) FROM read_products))::int8",
    )
    .fetch_one(read)
    .await
    .map_err(|source| fulfil::db::DbError::Query {
        database: fulfil::db::Database::Read,
        source,
    })?;
    Ok(logged - projected)
}

/// (visible, in flight) of one queue.
pub async fn depth(aws: &AwsClients, queue_url: &str) -> Result<(i64, i64), QueueError> {
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(Attr::ApproximateNumberOfMessages)
        .attribute_names(Attr::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| QueueError::aws("GetQueueAttributes", queue_url, &aws.endpoint, e))?;
    let attrs = out.attributes();
    let get = |name: &Attr| {
        attrs
            .and_then(|a| a.get(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((
        get(&Attr::ApproximateNumberOfMessages),
        get(&Attr::ApproximateNumberOfMessagesNotVisible),
    ))
}
