//! Keeping the write database bounded: relayed events that a newer event of the same
//! aggregate supersedes, and kept invalid and conflicting commands, are deleted once older
//! than the retention, in small batches.
//!
//! What stays: every aggregate's newest event (each event is the aggregate's whole snapshot,
//! so `verify` and `rebuild` fold the pruned log to the same views), every event not yet
//! relayed (the relay touches only those, so deleting published rows never waits on it nor
//! it on us), the inbox (the contract promises dedup forever) and pending cancels (state a
//! later order needs).
//!
//! Events are walked in id order from a watermark: the walk stops at the first row that is
//! not yet relayed-and-old (it may be prunable later), and the next pass starts there. A row
//! the walk passed because it was then its aggregate's newest is not looked at again by this
//! watermark once a newer event supersedes it; a fresh walk (a restart, `fulfil prune`)
//! catches those.

use std::time::Duration;

use sqlx::PgPool;

use super::StoreError;

/// What one pass over the events did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventsPass {
    pub deleted: u64,
    /// Where the next pass starts (the last id settled: relayed, old, and kept or deleted).
    pub watermark: i64,
    /// The walk met a row not yet prunable, or the end: a further pass now finds nothing.
    pub done: bool,
}

/// Rows deleted so far, by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub events: u64,
    pub invalid_commands: u64,
    pub conflicting_commands: u64,
}

/// Up to `batch` outbox rows after `watermark`, in id order: those relayed before the
/// retention and superseded by a newer event of their aggregate are deleted.
pub async fn events_pass(
    pool: &PgPool,
    retention: Duration,
    watermark: i64,
    batch: i64,
) -> Result<EventsPass, StoreError> {
    let (deleted, barrier, last, scanned): (i64, Option<i64>, Option<i64>, i64) = sqlx::query_as(
        "WITH scanned AS (
                 SELECT id, aggregate_type, aggregate_id, aggregate_version,
                        published_at < now() - make_interval(secs => $3) AS old
                 FROM outbox WHERE id > $1 ORDER BY id LIMIT $2
             ), barrier AS (
                 SELECT min(id) AS id FROM scanned WHERE old IS NOT TRUE
             ), doomed AS (
                 SELECT s.id FROM scanned s, barrier b
                 WHERE s.old AND (b.id IS NULL OR s.id < b.id)
                   AND EXISTS (SELECT 1 FROM outbox n
                               WHERE n.aggregate_type = s.aggregate_type
                                 AND n.aggregate_id = s.aggregate_id
                                 AND n.aggregate_version > s.aggregate_version)
             ), gone AS (
                 DELETE FROM outbox WHERE id IN (SELECT id FROM doomed) RETURNING id
             )
             SELECT (SELECT count(*) FROM gone), (SELECT id FROM barrier),
                    (SELECT max(id) FROM scanned), (SELECT count(*) FROM scanned)",
    )
    .bind(watermark)
    .bind(batch)
    .bind(retention.as_secs_f64())
    .fetch_one(pool)
    .await?;
    let deleted = u64::try_from(deleted).unwrap_or(0);
    Ok(match (barrier, last) {
        (Some(barrier), _) => EventsPass {
            deleted,
            watermark: barrier - 1,
            done: true,
        },
        (None, last) => EventsPass {
            deleted,
            watermark: last.unwrap_or(watermark),
            done: scanned < batch,
        },
    })
}

/// Up to `batch` of the oldest kept invalid and conflicting commands received before the
/// retention: (invalid, conflicting) deleted.
pub async fn kept_pass(
    pool: &PgPool,
    retention: Duration,
    batch: i64,
) -> Result<(u64, u64), StoreError> {
    let mut deleted = [0u64; 2];
    for (n, table) in ["invalid_commands", "conflicting_commands"]
        .iter()
        .enumerate()
    {
        let sql = format!(
            "DELETE FROM {table} WHERE id IN (
                 SELECT id FROM {table} WHERE received_at < now() - make_interval(secs => $1)
                 ORDER BY id LIMIT $2)"
        );
        let done = sqlx::query(&sql)
            .bind(retention.as_secs_f64())
            .bind(batch)
            .execute(pool)
            .await?;
        deleted[n] = done.rows_affected();
    }
    Ok((deleted[0], deleted[1]))
}
