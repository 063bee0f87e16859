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

pub async fn write(conn: &mut PgConnection, writes: &[OrderWrite]) -> Result<(), StoreError> {
    for w in writes {
        upsert(conn, w).await?;
        if w.new {
            insert_lines(conn, &w.order_id, &w.order.lines).await?;
        }
    }
    Ok(())
}

async fn upsert(conn: &mut PgConnection, w: &OrderWrite) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO orders (order_id, user_id, status, reason, command_id, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now())
         ON CONFLICT (order_id) DO UPDATE
         SET status = EXCLUDED.status, reason = EXCLUDED.reason, version = EXCLUDED.version, updated_at = now()",
    )
    .bind(&w.order_id)
    .bind(&w.order.user_id)
    .bind(w.order.status.as_str())
    .bind(&w.order.reason)
    .bind(&w.command_id)
    .bind(w.version)
    .bind(w.placed_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_lines(
    conn: &mut PgConnection,
    order_id: &str,
    lines: &[OrderLine],
) -> Result<(), StoreError> {
    let numbers: Vec<i32> = (0..lines.len() as i32).collect();
    let products: Vec<&str> = lines.iter().map(|l| l.product_id.as_str()).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity as i32).collect();
    sqlx::query(
        "INSERT INTO order_lines (order_id, line_no, product_id, quantity)
         SELECT $1, * FROM UNNEST($2::int4[], $3::text[], $4::int4[])",
    )
    .bind(order_id)
    .bind(numbers)
    .bind(products)
    .bind(quantities)
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
