//! Orders with their lines, and cancels that arrived before their order.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{types::Json, PgConnection, PgExecutor};

use super::StoreError;
use crate::contract::OrderLine;
use crate::domain::{Order, OrderStatus, PendingCancel};

/// An order as stored, with its version (its event count) and when it was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrder {
    pub order: Order,
    pub version: i64,
    pub placed_at: DateTime<Utc>,
}

type Row = (
    String,
    String,
    String,
    Option<String>,
    i64,
    DateTime<Utc>,
    Json<Vec<OrderLine>>,
);

pub async fn load<'e>(
    db: impl PgExecutor<'e>,
    ids: &[String],
) -> Result<BTreeMap<String, StoredOrder>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT o.order_id, o.user_id, o.status, o.reason, o.version, o.created_at,
                (SELECT coalesce(json_agg(json_build_object('product_id', l.product_id, 'quantity', l.quantity)
                                          ORDER BY l.line_no), '[]')
                 FROM order_lines l WHERE l.order_id = o.order_id)
         FROM orders o WHERE o.order_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(from_row).collect()
}

fn from_row(row: Row) -> Result<(String, StoredOrder), StoreError> {
    let (order_id, user_id, status, reason, version, placed_at, Json(lines)) = row;
    let status: OrderStatus = status.parse().map_err(|_| {
        StoreError::Other(sqlx::Error::Decode(
            format!("order {order_id}: unknown status {status:?}").into(),
        ))
    })?;
    let order = Order {
        user_id,
        status,
        reason,
        lines,
    };
    Ok((
        order_id,
        StoredOrder {
            order,
            version,
            placed_at,
        },
    ))
}

/// One order's state after a batch; `new` orders also get their lines.
#[derive(Debug, Clone)]
pub struct OrderWrite {
    pub order_id: String,
    pub order: Order,
    pub version: i64,
    pub command_id: String,
    pub placed_at: DateTime<Utc>,
    pub new: bool,
}

/// Every order of a batch in two statements (orders, then the new orders' lines): a batch
/// of ten orders costs two round trips, not twenty.
pub async fn write(conn: &mut PgConnection, writes: &[OrderWrite]) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Ok(());
    }
    upsert(conn, writes).await?;
    insert_lines(conn, writes).await
}

async fn upsert(conn: &mut PgConnection, writes: &[OrderWrite]) -> Result<(), StoreError> {
    let text = |f: fn(&OrderWrite) -> &str| writes.iter().map(f).collect::<Vec<&str>>();
    let reasons: Vec<Option<&str>> = writes.iter().map(|w| w.order.reason.as_deref()).collect();
    let versions: Vec<i64> = writes.iter().map(|w| w.version).collect();
    let placed: Vec<DateTime<Utc>> = writes.iter().map(|w| w.placed_at).collect();
    sqlx::query(
        "INSERT INTO orders (order_id, user_id, status, reason, command_id, version, created_at, updated_at)
         SELECT o, u, s, r, c, v, p, now()
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::timestamptz[])
              AS t(o, u, s, r, c, v, p)
         ON CONFLICT (order_id) DO UPDATE
         SET status = EXCLUDED.status, reason = EXCLUDED.reason, version = EXCLUDED.version, updated_at = now()",
    )
    .bind(text(|w| w.order_id.as_str()))
    .bind(text(|w| w.order.user_id.as_str()))
    .bind(text(|w| w.order.status.as_str()))
    .bind(reasons)
    .bind(text(|w| w.command_id.as_str()))
    .bind(versions)
    .bind(placed)
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_lines(conn: &mut PgConnection, writes: &[OrderWrite]) -> Result<(), StoreError> {
    let lines: Vec<(&str, i32, &OrderLine)> = writes
        .iter()
        .filter(|w| w.new)
        .flat_map(|w| {
            w.order
                .lines
                .iter()
                .enumerate()
                .map(|(n, l)| (w.order_id.as_str(), n as i32, l))
        })
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO order_lines (order_id, line_no, product_id, quantity)
         SELECT * FROM UNNEST($1::text[], $2::int4[], $3::text[], $4::int4[])",
    )
    .bind(lines.iter().map(|l| l.0).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.1).collect::<Vec<_>>())
    .bind(
        lines
            .iter()
            .map(|l| l.2.product_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        lines
            .iter()
            .map(|l| l.2.quantity as i32)
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn load_pending<'e>(
    db: impl PgExecutor<'e>,
    ids: &[String],
) -> Result<BTreeMap<String, PendingCancel>, StoreError> {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT order_id, command_id, reason FROM pending_cancels WHERE order_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, command_id, reason)| (id, PendingCancel { command_id, reason }))
        .collect())
}

pub async fn remember_cancel(
    conn: &mut PgConnection,
    order_id: &str,
    cancel: &PendingCancel,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO pending_cancels (order_id, command_id, reason) VALUES ($1, $2, $3)")
        .bind(order_id)
        .bind(&cancel.command_id)
        .bind(&cancel.reason)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn forget_cancel(conn: &mut PgConnection, order_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM pending_cancels WHERE order_id = $1")
        .bind(order_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Serialises batches that touch the same orders (a CancelOrder racing its PlaceOrder on
/// standard queues): transaction-scoped advisory locks, taken in one sorted order.
pub async fn lock_orders(conn: &mut PgConnection, ids: &[String]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT pg_advisory_xact_lock(k) FROM
           (SELECT DISTINCT hashtextextended(id, 7) AS k FROM UNNEST($1::text[]) AS id ORDER BY k) AS keys",
    )
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}
