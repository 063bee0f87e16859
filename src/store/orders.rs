//! Orders with their lines, and cancels that arrived before their order.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{types::Json, PgConnection, PgExecutor};

use super::{PgQuery, StoreError};
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
        "SELECT order_id, user_id, status, reason, version, created_at, lines
         FROM orders WHERE order_id = ANY($1)",
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

/// One order's state after a batch (its lines are stored only when the order is new).
#[derive(Debug, Clone)]
pub struct OrderWrite {
    pub order_id: String,
    pub order: Order,
    pub version: i64,
    pub command_id: String,
    pub placed_at: DateTime<Utc>,
}

/// Writes a unit's orders (`bind` gives the parameters): new ones with their lines, known
/// ones their new status (an existing order's row keeps its lines). Written into the unit's
/// one statement by [`super::changes`].
pub(super) const UPSERT: &str =
    "INSERT INTO orders (order_id, user_id, status, reason, command_id, version, created_at, updated_at, lines)
     SELECT o, u, s, r, c, v, p, now(), l
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::timestamptz[], $8::text[]::json[])
          AS t(o, u, s, r, c, v, p, l)
     /*guard*/
     ON CONFLICT (order_id) DO UPDATE
     SET status = EXCLUDED.status, reason = EXCLUDED.reason, version = EXCLUDED.version, updated_at = now()";

/// Binds [`UPSERT`]'s parameters for `writes`.
pub(super) fn bind<'q>(query: PgQuery<'q>, writes: &'q [OrderWrite]) -> PgQuery<'q> {
    let text = |f: fn(&OrderWrite) -> &str| writes.iter().map(f).collect::<Vec<&str>>();
    let reasons: Vec<Option<&str>> = writes.iter().map(|w| w.order.reason.as_deref()).collect();
    let versions: Vec<i64> = writes.iter().map(|w| w.version).collect();
    let placed: Vec<DateTime<Utc>> = writes.iter().map(|w| w.placed_at).collect();
    let lines: Vec<String> = writes.iter().map(|w| lines_json(&w.order.lines)).collect();
    query
        .bind(text(|w| w.order_id.as_str()))
        .bind(text(|w| w.order.user_id.as_str()))
        .bind(text(|w| w.order.status.as_str()))
        .bind(reasons)
        .bind(text(|w| w.command_id.as_str()))
        .bind(versions)
        .bind(placed)
        .bind(lines)
}

/// The lines as stored: the contract's own JSON shape, in line order.
fn lines_json(lines: &[OrderLine]) -> String {
    serde_json::to_string(lines).expect("order lines serialize: strings and integers only")
}

/// One row of a unit's load: an order id's stored order and the cancel waiting for it, each
/// if any; or a command the inbox already has, with its fingerprint.
#[derive(sqlx::FromRow)]
struct UnitRow {
    order_id: Option<String>,
    user_id: Option<String>,
    status: Option<String>,
    reason: Option<String>,
    version: Option<i64>,
    created_at: Option<DateTime<Utc>>,
    lines: Option<Json<Vec<OrderLine>>>,
    pending_command_id: Option<String>,
    pending_reason: Option<String>,
    known_command_id: Option<String>,
    known_fingerprint: Option<String>,
}

/// What a unit decides against besides stock: the stored orders it names, the cancels
/// waiting for those not placed yet, and the fingerprint of each of its commands the inbox
/// already has (by command id).
#[derive(Debug, Default)]
pub struct UnitLoad {
    pub orders: BTreeMap<String, StoredOrder>,
    pub pending: BTreeMap<String, PendingCancel>,
    pub inbox: BTreeMap<String, String>,
}

/// Serialises units that touch the same orders (a CancelOrder racing its PlaceOrder on
/// standard queues), then loads the orders of `order_ids`, the cancels waiting for those not
/// placed yet, and which of `command_ids` the inbox has: one round trip, through the
/// `lock_and_load_unit` function (migration 0010), whose look-ups run after the locks are
/// granted and so see what their last holder committed.
pub async fn lock_and_load<'e>(
    db: impl PgExecutor<'e>,
    order_ids: &[String],
    command_ids: &[String],
) -> Result<UnitLoad, StoreError> {
    if order_ids.is_empty() && command_ids.is_empty() {
        return Ok(UnitLoad::default());
    }
    let rows: Vec<UnitRow> = sqlx::query_as("SELECT * FROM lock_and_load_unit($1, $2)")
        .bind(order_ids)
        .bind(command_ids)
        .fetch_all(db)
        .await?;
    let mut load = UnitLoad::default();
    for row in rows {
        load.add(row)?;
    }
    Ok(load)
}

impl UnitLoad {
    fn add(&mut self, row: UnitRow) -> Result<(), StoreError> {
        if let (Some(id), Some(fingerprint)) = (row.known_command_id, row.known_fingerprint) {
            self.inbox.insert(id, fingerprint);
        }
        let Some(order_id) = row.order_id else {
            return Ok(());
        };
        if let Some(command_id) = row.pending_command_id {
            let cancel = PendingCancel {
                command_id,
                reason: row.pending_reason,
            };
            self.pending.insert(order_id.clone(), cancel);
        }
        if let (Some(u), Some(s), Some(v), Some(p), Some(l)) = (
            row.user_id,
            row.status,
            row.version,
            row.created_at,
            row.lines,
        ) {
            let (id, order) = from_row((order_id, u, s, row.reason, v, p, l))?;
            self.orders.insert(id, order);
        }
        Ok(())
    }
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
