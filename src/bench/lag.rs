//! Projection lag as a reader sees it: the read database is polled every `POLL` and each
//! order's lag is the time from its event (the worker's decision, `updated_at` in the read
//! model) to the first poll that sees it, both on the database server's clock. So a figure
//! is an upper bound, at most one poll interval above the true lag.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::BenchError;

pub const POLL: Duration = Duration::from_millis(50);

/// Polls until `expected` orders are in the read database; one lag per order.
pub async fn until_projected(
    read: &PgPool,
    expected: usize,
    deadline: Duration,
) -> Result<Vec<Duration>, BenchError> {
    let until = Instant::now() + deadline;
    let mut seen = HashSet::with_capacity(expected);
    let mut lags = Vec::with_capacity(expected);
    loop {
        let rows: Vec<(String, DateTime<Utc>, DateTime<Utc>)> =
            sqlx::query_as("SELECT order_id, updated_at, clock_timestamp() FROM read_orders")
                .fetch_all(read)
                .await
                .map_err(BenchError::db("poll read_orders"))?;
        for (order_id, occurred, now) in rows {
            if seen.insert(order_id) {
                lags.push((now - occurred).to_std().unwrap_or_default());
            }
        }
        if seen.len() >= expected {
            return Ok(lags);
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
