//! Projection lag as a reader sees it: the read database is polled every `POLL` and each
//! order's lag is the time from its event (the worker's decision, `updated_at` in the read
//! model) to the first poll that sees it, both on the database server's clock. So a figure
//! is an upper bound, at most one poll interval above the true lag. The same polls note when
//! each stage (workers, relay, projector) finished, which says where a slow run waits.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::BenchError;

pub const POLL: Duration = Duration::from_millis(50);

/// One lag per order, and when each stage had done every order (from the call's start):
/// the workers decided them, the relay published their events, the projector applied them.
#[derive(Debug, Default)]
pub struct Observed {
    pub lags: Vec<Duration>,
    pub decided: Option<Duration>,
    pub relayed: Option<Duration>,
    pub projected: Duration,
}

/// Polls until `expected` orders are in the read database, noting the stages on the way.
pub async fn until_projected(
    write: &PgPool,
    read: &PgPool,
    expected: usize,
    deadline: Duration,
) -> Result<Observed, BenchError> {
    let started = Instant::now();
    let until = started + deadline;
    let mut seen = HashSet::with_capacity(expected);
    let mut observed = Observed::default();
    loop {
        let (decided, unpublished) = stages(write).await?;
        if observed.decided.is_none() && decided >= expected as i64 {
            observed.decided = Some(started.elapsed());
        }
        if observed.decided.is_some() && observed.relayed.is_none() && unpublished == 0 {
            observed.relayed = Some(started.elapsed());
        }
        let rows: Vec<(String, DateTime<Utc>, DateTime<Utc>)> =
            sqlx::query_as("SELECT order_id, updated_at, clock_timestamp() FROM read_orders")
                .fetch_all(read)
                .await
                .map_err(BenchError::db("poll read_orders"))?;
        for (order_id, occurred, now) in rows {
            if seen.insert(order_id) {
                let lag = (now - occurred).to_std().unwrap_or_default();
                observed.lags.push(lag);
            }
        }
        if seen.len() >= expected {
            observed.projected = started.elapsed();
            return Ok(observed);
        }
        if Instant::now() >= until {
            return Err(BenchError::Timeout {
                what: format!(
                    "{expected} orders in the read database (saw {})",
                    seen.len()
                ),
                seconds: deadline.as_secs(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Orders decided in the write database, and outbox rows not yet published.
async fn stages(write: &PgPool) -> Result<(i64, i64), BenchError> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM orders),
                (SELECT count(*) FROM outbox WHERE published_at IS NULL)",
    )
    .fetch_one(write)
    .await
    .map_err(BenchError::db("count orders and unpublished events"))
}
