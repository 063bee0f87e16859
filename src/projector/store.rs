//! Applying events to the read database, by the rule of [`model::decide`]: one transaction
//! per batch, one guarded write per event. A first version is an insert that does nothing
//! when the row exists; a later one an update `WHERE version = v - 1`. When the guard
//! matched nothing, the row's committed version tells a duplicate from a gap.
//!
//! Concurrent projectors are safe because both guards wait for a racing transaction's row
//! and re-check against what it committed; events are written in (aggregate, version) order
//! so two batches never lock the same rows in opposite orders. May touch `read_orders`,
//! `read_products` and `projection_state`.

use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use super::model::{decide, Applied, OrderView, ProductView, View};
use crate::contract::event::{AggregateType, ChangeEvent};

/// Attempts of a batch's transaction after a conflict with another projector.
const MAX_ATTEMPTS: u32 = 5;

/// Failures at the read-database boundary, classified for the caller.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The database cannot be reached: hold the batch until it is back.
    #[error("read database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Another transaction got in the way (deadlock, serialization, unique key): try again.
    #[error("read database conflict: {0}")]
    Conflict(#[source] sqlx::Error),
    /// The guard missed, yet the row now holds the previous version: it was committed
    /// between our two statements. Try again.
    #[error("{} {id}: version {version} raced with another projector", aggregate.as_str())]
    Raced {
        aggregate: AggregateType,
        id: String,
        version: i64,
    },
    #[error("read database: {0}")]
    Other(#[source] sqlx::Error),
}

impl ProjectionError {
    pub fn is_outage(&self) -> bool {
        matches!(self, ProjectionError::Unavailable(_))
    }

    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProjectionError::Conflict(_) | ProjectionError::Raced { .. }
        )
    }
}

impl From<sqlx::Error> for ProjectionError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::Error::{Io, PoolClosed, PoolTimedOut, Protocol, Tls, WorkerCrashed};
        if matches!(
            err,
            Io(_) | PoolTimedOut | PoolClosed | Tls(_) | Protocol(_) | WorkerCrashed
        ) {
            return ProjectionError::Unavailable(err);
        }
        let code = err.as_database_error().and_then(|d| d.code());
        match code.as_deref() {
            Some("23505" | "40001" | "40P01") => ProjectionError::Conflict(err),
            Some("57P01" | "57P02" | "57P03") => ProjectionError::Unavailable(err),
            // undefined table or schema: the read schema was dropped and not yet rebuilt.
            // Held like an outage, so events wait for `rebuild` instead of filling the DLQ.
            Some("42P01" | "3F000") => ProjectionError::Unavailable(err),
            _ => ProjectionError::Other(err),
        }
    }
}

/// Applies `events` in one transaction; one verdict per event, in the order given. A
/// conflict with another projector is retried here a few times.
pub async fn apply_batch(
    pool: &PgPool,
    events: &[ChangeEvent],
) -> Result<Vec<Applied>, ProjectionError> {
    let mut attempt = 1;
    loop {
        match try_batch(pool, events).await {
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                tracing::debug!(attempt, error = %e, "projection conflict; trying the batch again");
                attempt += 1;
            }
            done => return done,
        }
    }
}

async fn try_batch(pool: &PgPool, events: &[ChangeEvent]) -> Result<Vec<Applied>, ProjectionError> {
    let mut tx = pool.begin().await?;
    let mut verdicts = vec![Applied::AlreadyApplied; events.len()];
    for index in lock_order(events) {
        verdicts[index] = apply_one(&mut tx, &events[index]).await?;
    }
    record_progress(&mut tx, events, &verdicts).await?;
    tx.commit().await?;
    Ok(verdicts)
}

/// Indices of `events` by aggregate, then version: the same lock order in every batch, and
/// a batch holding v1 and v2 of one order applies both whatever their arrival order.
fn lock_order(events: &[ChangeEvent]) -> Vec<usize> {
    let views: Vec<View> = events.iter().map(View::of).collect();
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| {
        (views[a].key(), views[a].version()).cmp(&(views[b].key(), views[b].version()))
    });
    order
}

async fn apply_one(
    conn: &mut PgConnection,
    event: &ChangeEvent,
) -> Result<Applied, ProjectionError> {
    let view = View::of(event);
    let written = match &view {
        View::Order(o) => write_order(conn, o).await?,
        View::Product(p) => write_product(conn, p).await?,
    };
    if written {
        return Ok(Applied::Applied);
    }
    let (aggregate, id) = view.key();
    match decide(current_version(conn, aggregate, id).await?, event.version) {
        Applied::Applied => Err(ProjectionError::Raced {
            aggregate,
            id: id.to_owned(),
            version: event.version,
        }),
        verdict => Ok(verdict),
    }
}

/// Whether the guarded write changed the row (this event was next in line).
async fn write_order(conn: &mut PgConnection, o: &OrderView) -> Result<bool, sqlx::Error> {
    let sql = if o.version == 1 {
        "INSERT INTO read_orders (order_id, user_id, status, reason, lines, version, placed_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (order_id) DO NOTHING"
    } else {
        "UPDATE read_orders SET user_id = $2, status = $3, reason = $4, lines = $5, version = $6,
                placed_at = $7, updated_at = $8
         WHERE order_id = $1 AND version = $6 - 1"
    };
    let done = sqlx::query(sql)
        .bind(&o.order_id)
        .bind(&o.user_id)
        .bind(&o.status)
        .bind(&o.reason)
        .bind(Json(&o.lines))
        .bind(o.version)
        .bind(o.placed_at)
        .bind(o.updated_at)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

async fn write_product(conn: &mut PgConnection, p: &ProductView) -> Result<bool, sqlx::Error> {
    let sql = if p.version == 1 {
        "INSERT INTO read_products (product_id, name, available, confirmed_units, cancelled_units, version, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (product_id) DO NOTHING"
    } else {
        "UPDATE read_products SET name = $2, available = $3, confirmed_units = $4,
                cancelled_units = $5, version = $6, updated_at = $7
         WHERE product_id = $1 AND version = $6 - 1"
    };
    let done = sqlx::query(sql)
        .bind(&p.product_id)
        .bind(&p.name)
        .bind(p.available)
        .bind(p.confirmed_units)
        .bind(p.cancelled_units)
        .bind(p.version)
        .bind(p.updated_at)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The committed version of an aggregate's row (0 when absent).
async fn current_version(
    conn: &mut PgConnection,
    aggregate: AggregateType,
    id: &str,
) -> Result<i64, sqlx::Error> {
    let sql = match aggregate {
        AggregateType::Order => "SELECT version FROM read_orders WHERE order_id = $1",
        AggregateType::Product => "SELECT version FROM read_products WHERE product_id = $1",
    };
    let version: Option<i64> = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(version.unwrap_or(0))
}

/// Counts the applied events and moves the lag marks, last in the transaction so the one
/// `projection_state` row is locked only briefly.
async fn record_progress(
    conn: &mut PgConnection,
    events: &[ChangeEvent],
    verdicts: &[Applied],
) -> Result<(), sqlx::Error> {
    let applied: Vec<&ChangeEvent> = events
        .iter()
        .zip(verdicts)
        .filter(|(_, v)| **v == Applied::Applied)
        .map(|(e, _)| e)
        .collect();
    let Some(latest) = applied.iter().map(|e| e.occurred_at).max() else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO projection_state (id, events_applied, last_occurred_at, last_applied_at)
         VALUES (1, $1, $2, now())
         ON CONFLICT (id) DO UPDATE SET
             events_applied = projection_state.events_applied + EXCLUDED.events_applied,
             last_occurred_at = GREATEST(projection_state.last_occurred_at, EXCLUDED.last_occurred_at),
             last_applied_at = EXCLUDED.last_applied_at",
    )
    .bind(applied.len() as i64)
    .bind(latest)
    .execute(conn)
    .await?;
    Ok(())
}
