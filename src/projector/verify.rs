//! `fulfil verify`: the read database must equal a replay of the write database's event
//! log. Folds the outbox through [`ReadModel::apply`](super::model::ReadModel::apply) in
//! memory and compares it with the read tables row by row, and the order counts the
//! projector keeps for `/v1/stats` with the orders there. Reads both databases, writes
//! neither. Meant for a drained pipeline: events still in flight show as differences.

use sqlx::PgPool;

use super::counts::StatusCounts;
use super::diff::{compare, Difference};
use super::model::ReadModel;
use super::{log, tables};
use crate::config::SecretUrl;
use crate::db::{self, Database, DbError};

/// What was compared and what differed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub orders: usize,
    pub products: usize,
    /// Outbox rows read (duplicates included).
    pub events: u64,
    pub differences: Vec<Difference>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }

    /// `verified 1000 orders, 1 product, 2001 events: no differences`
    pub fn summary(&self) -> String {
        let found = match self.differences.len() {
            0 => "no differences".to_owned(),
            n => plural(n as u64, "difference"),
        };
        format!(
            "verified {}, {}, {}: {found}",
            plural(self.orders as u64, "order"),
            plural(self.products as u64, "product"),
            plural(self.events, "event"),
        )
    }
}

pub(crate) fn plural(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// Connects to both databases and verifies.
pub async fn verify_databases(
    write_url: &SecretUrl,
    read_url: &SecretUrl,
) -> Result<VerifyReport, DbError> {
    let write = db::connect(Database::Write, write_url, 2).await?;
    let read = db::connect(Database::Read, read_url, 2).await?;
    let report = verify(&write, &read).await;
    write.close().await;
    read.close().await;
    report
}

/// Reads the read tables first, then the log: on a live system a difference then means the
/// read side lags, never that it is ahead of the log it came from.
pub async fn verify(write: &PgPool, read: &PgPool) -> Result<VerifyReport, DbError> {
    let read_err = |source| DbError::Query {
        database: Database::Read,
        source,
    };
    let (actual, maintained) = read_side(read).await.map_err(read_err)?;
    let log = log::read(write).await.map_err(|source| DbError::Query {
        database: Database::Write,
        source,
    })?;
    let expected = &log.replayed.model;
    let mut differences: Vec<Difference> = log
        .unreadable
        .iter()
        .cloned()
        .map(Difference::Unreadable)
        .collect();
    differences.extend(compare(expected, &actual));
    differences.extend(count_differences(&actual, maintained));
    Ok(VerifyReport {
        orders: expected.orders.len(),
        products: expected.products.len(),
        events: log.replayed.events_read + log.unreadable.len() as u64,
        differences,
    })
}

/// The read tables and the maintained order counts, from one snapshot.
async fn read_side(read: &PgPool) -> Result<(ReadModel, StatusCounts), sqlx::Error> {
    let mut tx = read.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await?;
    let actual = tables::load(&mut tx).await?;
    let row: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT orders_confirmed, orders_rejected, orders_cancelled
         FROM projection_state WHERE id = 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let (confirmed, rejected, cancelled) = row.unwrap_or_default();
    let maintained = StatusCounts {
        confirmed,
        rejected,
        cancelled,
    };
    Ok((actual, maintained))
}

/// The counters `/v1/stats` shows against the orders the read database holds.
fn count_differences(actual: &ReadModel, maintained: StatusCounts) -> Vec<Difference> {
    let counted = StatusCounts::of(actual.orders.values().map(|o| o.status.as_str()));
    [
        ("confirmed", counted.confirmed, maintained.confirmed),
        ("rejected", counted.rejected, maintained.rejected),
        ("cancelled", counted.cancelled, maintained.cancelled),
    ]
    .into_iter()
    .filter(|(_, counted, kept)| counted != kept)
    .map(|(status, counted, kept)| Difference::Field {
        aggregate: "stats",
        id: "orders".to_owned(),
        field: status,
        expected: counted.to_string(),
        actual: kept.to_string(),
    })
    .collect()
}
