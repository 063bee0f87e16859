//! Applying a receive's events to the read database by the rule of [`model::decide`]: one
//! transaction, one set-based upsert per table. First the rows the events touch are locked,
//! each table in key order (`SELECT … ORDER BY key FOR UPDATE`, products then orders):
//! concurrent projectors wait for each other instead of deadlocking, and the versions read
//! are the ones the upsert replaces, so [`model::plan`] knows exactly which events apply.
//! The upsert keeps the rule itself as its guard (`WHERE view.version < EXCLUDED.version`):
//! an older event never overwrites a newer view. May touch `read_orders`, `read_products`
//! and `projection_state`.

use std::collections::BTreeMap;

use sqlx::{PgConnection, PgPool, Row};

use super::counts::StatusCounts;
use super::model::{self, table_of, Key, OrderView, ProductView, Verdict};
use super::tables::{self, PgQuery, Shape};
use crate::contract::event::{AggregateType, ChangeEvent};
use crate::db::fault::{self, Fault};

/// Attempts of a batch's transaction after a conflict with another projector.
const MAX_ATTEMPTS: u32 = 5;

/// Failures at the read-database boundary, classified for the caller.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The database cannot be reached: hold the batch until it is back.
    #[error("read database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Another transaction got in the way (deadlock, serialization, unique key, a bounded
    /// lock or statement wait): try again.
    #[error("read database conflict: {0}")]
    Conflict(#[source] sqlx::Error),
    /// Another projector created a row after this one's locking read, so the version it
    /// replaced is unknown and the verdicts could be wrong. Try again: the row is there to
    /// lock now.
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

/// By the one reading of database failures shared with the worker, relay and API, with one
/// exception of the projector's own: an undefined table or schema means the read schema was
/// dropped and not yet rebuilt, so it is held like an outage and events wait for `rebuild`
/// instead of filling the DLQ.
impl From<sqlx::Error> for ProjectionError {
    fn from(err: sqlx::Error) -> Self {
        let code = err.as_database_error().and_then(|d| d.code());
        if matches!(code.as_deref(), Some("42P01" | "3F000")) {
            return ProjectionError::Unavailable(err);
        }
        match fault::classify(&err) {
            Fault::Outage => ProjectionError::Unavailable(err),
            Fault::Retry => ProjectionError::Conflict(err),
            Fault::BadData | Fault::Bug => ProjectionError::Other(err),
        }
    }
}

/// Applies `events` in one transaction; one verdict per event, in the order given. A
/// conflict with another projector is retried here a few times.
pub async fn apply_batch(
    pool: &PgPool,
    events: &[ChangeEvent],
) -> Result<Vec<Verdict>, ProjectionError> {
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

async fn try_batch(pool: &PgPool, events: &[ChangeEvent]) -> Result<Vec<Verdict>, ProjectionError> {
    let mut tx = pool.begin().await?;
    let (current, statuses) = lock_views(&mut tx, events).await?;
    let plan = model::plan(events, &current);
    upsert_products(&mut tx, &plan.products, &current).await?;
    upsert_orders(&mut tx, &plan.orders, &current).await?;
    let counted = StatusCounts::change(&statuses, &plan.orders);
    record_progress(&mut tx, events, &plan.verdicts, counted).await?;
    tx.commit().await?;
    Ok(plan.verdicts)
}

/// Locks the existing rows of `events`' aggregates and returns their versions. A row that
/// does not exist yet cannot be locked; the upsert's guard deals with one that appears.
async fn lock_views(
    conn: &mut PgConnection,
    events: &[ChangeEvent],
) -> Result<(BTreeMap<Key, i64>, BTreeMap<String, String>), sqlx::Error> {
    let ids = |aggregate| -> Vec<&str> {
        let of = events.iter().filter(|e| table_of(e) == aggregate);
        of.map(|e| e.aggregate_id.as_str()).collect()
    };
    let mut current = BTreeMap::new();
    let products = ids(AggregateType::Product);
    if !products.is_empty() {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT product_id, version FROM read_products WHERE product_id = ANY($1)
             ORDER BY product_id FOR UPDATE",
        )
        .bind(products)
        .fetch_all(&mut *conn)
        .await?;
        let keyed = rows
            .into_iter()
            .map(|(id, v)| ((AggregateType::Product, id), v));
        current.extend(keyed);
    }
    let mut statuses = BTreeMap::new();
    let orders = ids(AggregateType::Order);
    if !orders.is_empty() {
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT order_id, version, status FROM read_orders WHERE order_id = ANY($1)
             ORDER BY order_id FOR UPDATE",
        )
        .bind(orders)
        .fetch_all(&mut *conn)
        .await?;
        for (id, version, status) in rows {
            current.insert((AggregateType::Order, id.clone()), version);
            statuses.insert(id, status);
        }
    }
    Ok((current, statuses))
}

async fn upsert_products(
    conn: &mut PgConnection,
    products: &[ProductView],
    current: &BTreeMap<Key, i64>,
) -> Result<(), ProjectionError> {
    if products.is_empty() {
        return Ok(());
    }
    let views: Vec<&ProductView> = products.iter().collect();
    let sql = guarded(&tables::PRODUCTS, "read_products");
    let query = tables::bind_products(sqlx::query(&sql), &views);
    let sent = products.iter().map(|p| (p.product_id.as_str(), p.version));
    upsert(conn, query, AggregateType::Product, current, sent).await
}

async fn upsert_orders(
    conn: &mut PgConnection,
    orders: &[OrderView],
    current: &BTreeMap<Key, i64>,
) -> Result<(), ProjectionError> {
    if orders.is_empty() {
        return Ok(());
    }
    let views: Vec<&OrderView> = orders.iter().collect();
    let sql = guarded(&tables::ORDERS, "read_orders");
    let query = tables::bind_orders(sqlx::query(&sql), &views);
    let sent = orders.iter().map(|o| (o.order_id.as_str(), o.version));
    upsert(conn, query, AggregateType::Order, current, sent).await
}

/// The projection rule as the upsert's guard: a row is replaced only by a newer version, and
/// only a row this transaction locked. One created by another projector since the locking
/// read is left alone, and the receive tried again ([`ProjectionError::Raced`]).
fn guarded(shape: &Shape, table: &str) -> String {
    let (key, locked) = (shape.key, shape.arity + 1);
    shape.upsert(
        table,
        &format!(
            "WHERE {table}.version < EXCLUDED.version AND {table}.{key} = ANY(${locked})
             RETURNING {key}"
        ),
    )
}

/// Runs `query` (the rows bound, the locked keys still to bind) and checks that every row
/// `sent` was written: the plan sends only newer versions, so a row left alone raced.
async fn upsert<'q, 's>(
    conn: &mut PgConnection,
    query: PgQuery<'q>,
    aggregate: AggregateType,
    current: &'q BTreeMap<Key, i64>,
    mut sent: impl Iterator<Item = (&'s str, i64)>,
) -> Result<(), ProjectionError> {
    let locked: Vec<&str> = current
        .keys()
        .filter(|(a, _)| *a == aggregate)
        .map(|(_, id)| id.as_str())
        .collect();
    let rows = query.bind(locked).fetch_all(conn).await?;
    let written: Vec<&str> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    match sent.find(|(id, _)| !written.contains(id)) {
        Some((id, version)) => Err(ProjectionError::Raced {
            aggregate,
            id: id.to_owned(),
            version,
        }),
        None => Ok(()),
    }
}

/// Counts the applied events and moves the lag marks, last in the transaction so the one
/// `projection_state` row is locked only briefly.
async fn record_progress(
    conn: &mut PgConnection,
    events: &[ChangeEvent],
    verdicts: &[Verdict],
    counted: StatusCounts,
) -> Result<(), sqlx::Error> {
    let applied: Vec<&ChangeEvent> = events
        .iter()
        .zip(verdicts)
        .filter(|(_, v)| **v == Verdict::Applied)
        .map(|(e, _)| e)
        .collect();
    let Some(latest) = applied.iter().map(|e| e.occurred_at).max() else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO projection_state (id, events_applied, last_occurred_at, last_applied_at,
                                       orders_confirmed, orders_rejected, orders_cancelled)
         VALUES (1, $1, $2, now(), $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET
             events_applied = projection_state.events_applied + EXCLUDED.events_applied,
             last_occurred_at = GREATEST(projection_state.last_occurred_at, EXCLUDED.last_occurred_at),
             last_applied_at = EXCLUDED.last_applied_at,
             orders_confirmed = projection_state.orders_confirmed + EXCLUDED.orders_confirmed,
             orders_rejected = projection_state.orders_rejected + EXCLUDED.orders_rejected,
             orders_cancelled = projection_state.orders_cancelled + EXCLUDED.orders_cancelled",
    )
    .bind(applied.len() as i64)
    .bind(latest)
    .bind(counted.confirmed)
    .bind(counted.rejected)
    .bind(counted.cancelled)
    .execute(conn)
    .await?;
    Ok(())
}
