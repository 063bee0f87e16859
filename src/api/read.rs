//! The read database as the API shows it: one query per view, each bounded in time. Reads
//! only `read_orders`, `read_products` and `projection_state`, which the projector writes;
//! a row of the first two is the projector's own view type ([`OrderView`],
//! [`ProductView`] in `projector::model`), so what is written and what is served cannot
//! drift apart.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::error::ApiError;
use super::params::Cursor;
use crate::projector::model::{OrderView, ProductView};

/// How long one query may take before the answer is 503: a database that stopped answering
/// (SIGSTOP, network partition) must not hold requests open.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

const ORDER_COLUMNS: &str =
    "order_id, user_id, status, reason, lines, version, updated_at, placed_at";

/// One page of a user's orders, newest first; `next` is set when more remain.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderPage {
    pub orders: Vec<OrderView>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct OrderCounts {
    pub confirmed: i64,
    pub rejected: i64,
    pub cancelled: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Stats {
    #[sqlx(flatten)]
    pub orders: OrderCounts,
    pub events_applied: i64,
    /// When the last applied event happened on the write side.
    pub last_event_at: Option<DateTime<Utc>>,
    /// How far the read side trails: now − `last_event_at` (null before any event).
    pub event_lag_seconds: Option<f64>,
}

/// Runs `query`, turning a database that does not answer in time into a 503.
async fn bounded<T>(query: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, ApiError> {
    match tokio::time::timeout(QUERY_TIMEOUT, query).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(_) => Err(ApiError::Slow {
            after: QUERY_TIMEOUT,
        }),
    }
}

pub(super) async fn order(pool: &PgPool, order_id: &str) -> Result<Option<OrderView>, ApiError> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM read_orders WHERE order_id = $1");
    let query = sqlx::query_as(&sql).bind(order_id).fetch_optional(pool);
    bounded(query).await
}

pub(super) async fn product(
    pool: &PgPool,
    product_id: &str,
) -> Result<Option<ProductView>, ApiError> {
    let query = sqlx::query_as(
        "SELECT product_id, name, available, confirmed_units, cancelled_units, version, updated_at
         FROM read_products WHERE product_id = $1",
    )
    .bind(product_id)
    .fetch_optional(pool);
    bounded(query).await
}

/// Up to `limit` orders of `user_id` after `after`, walking the `read_orders_by_user`
/// index; one row more than asked tells whether another page exists.
pub(super) async fn user_orders(
    pool: &PgPool,
    user_id: &str,
    limit: i64,
    after: Option<&Cursor>,
) -> Result<OrderPage, ApiError> {
    let order = "ORDER BY placed_at DESC, order_id DESC LIMIT $2";
    let mut rows: Vec<OrderView> = match after {
        None => {
            let sql = format!("SELECT {ORDER_COLUMNS} FROM read_orders WHERE user_id = $1 {order}");
            let query = sqlx::query_as(&sql).bind(user_id).bind(limit + 1);
            bounded(query.fetch_all(pool)).await?
        }
        Some(cursor) => {
            let sql = format!(
                "SELECT {ORDER_COLUMNS} FROM read_orders
                 WHERE user_id = $1 AND (placed_at, order_id) < ($3, $4) {order}"
            );
            let query = sqlx::query_as(&sql).bind(user_id).bind(limit + 1);
            let query = query.bind(cursor.placed_at).bind(&cursor.order_id);
            bounded(query.fetch_all(pool)).await?
        }
    };
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = more.then(|| rows.last().map(cursor_of)).flatten();
    Ok(OrderPage { orders: rows, next })
}

fn cursor_of(order: &OrderView) -> String {
    let cursor = Cursor {
        placed_at: order.placed_at,
        order_id: order.order_id.clone(),
    };
    cursor.encode()
}

/// Order totals by status and the projection's progress: one row, the counters the
/// projector keeps (never a count over the orders). The lag uses the database's clock
/// against the worker's stamp on the event (clocks kept in step by NTP); a small negative
/// skew shows as 0.
pub(super) async fn stats(pool: &PgPool) -> Result<Stats, ApiError> {
    let query = sqlx::query_as(
        "SELECT COALESCE(s.orders_confirmed, 0) AS confirmed,
                COALESCE(s.orders_rejected, 0) AS rejected,
                COALESCE(s.orders_cancelled, 0) AS cancelled,
                COALESCE(s.events_applied, 0) AS events_applied,
                s.last_occurred_at AS last_event_at,
                round(EXTRACT(EPOCH FROM
                    GREATEST(clock_timestamp(), s.last_occurred_at) - s.last_occurred_at), 3)
                    ::float8 AS event_lag_seconds
         FROM (SELECT 1) one
         LEFT JOIN projection_state s ON s.id = 1",
    )
    .fetch_one(pool);
    bounded(query).await
}

/// Whether the read database answers a trivial query in time.
pub(super) async fn ping(pool: &PgPool) -> bool {
    bounded(sqlx::query("SELECT 1").execute(pool)).await.is_ok()
}
