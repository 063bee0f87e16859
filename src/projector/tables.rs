//! The read tables as a whole: loading every row into a [`ReadModel`] (for `verify`), and
//! writing many views at once into a table of the read tables' shape (for `rebuild`).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgConnection;

use super::model::{OrderView, ProductView, ReadModel};
use crate::contract::OrderLine;

/// Rows per multi-row insert.
const CHUNK: usize = 1000;

#[derive(sqlx::FromRow)]
struct OrderRow {
    order_id: String,
    user_id: String,
    status: String,
    reason: Option<String>,
    lines: Json<Vec<OrderLine>>,
    version: i64,
    placed_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    product_id: String,
    name: Option<String>,
    available: i64,
    confirmed_units: i64,
    cancelled_units: i64,
    version: i64,
    updated_at: DateTime<Utc>,
}

/// Every row of `read_orders` and `read_products`, with `projection_state`'s count.
pub async fn load(conn: &mut PgConnection) -> Result<ReadModel, sqlx::Error> {
    let orders: Vec<OrderRow> = sqlx::query_as("SELECT * FROM read_orders")
        .fetch_all(&mut *conn)
        .await?;
    let products: Vec<ProductRow> = sqlx::query_as("SELECT * FROM read_products")
        .fetch_all(&mut *conn)
        .await?;
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT events_applied FROM projection_state WHERE id = 1")
            .fetch_optional(&mut *conn)
            .await?;
    Ok(ReadModel {
        orders: orders
            .into_iter()
            .map(|r| (r.order_id.clone(), order_view(r)))
            .collect(),
        products: products
            .into_iter()
            .map(|r| (r.product_id.clone(), product_view(r)))
            .collect(),
        events_applied: applied.map_or(0, |n| u64::try_from(n).unwrap_or(0)),
    })
}

fn order_view(r: OrderRow) -> OrderView {
    OrderView {
        order_id: r.order_id,
        user_id: r.user_id,
        status: r.status,
        reason: r.reason,
        lines: r.lines.0,
        version: r.version,
        placed_at: r.placed_at,
        updated_at: r.updated_at,
    }
}

fn product_view(r: ProductRow) -> ProductView {
    ProductView {
        product_id: r.product_id,
        name: r.name,
        available: r.available,
        confirmed_units: r.confirmed_units,
        cancelled_units: r.cancelled_units,
        version: r.version,
        updated_at: r.updated_at,
    }
}

/// Inserts or replaces `orders` in `table` (one of ours, never user input).
pub async fn write_orders(
    conn: &mut PgConnection,
    table: &str,
    orders: &[&OrderView],
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO {table} (order_id, user_id, status, reason, lines, version, placed_at, updated_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[],
                              $6::int8[], $7::timestamptz[], $8::timestamptz[])
         ON CONFLICT (order_id) DO UPDATE SET user_id = EXCLUDED.user_id, status = EXCLUDED.status,
             reason = EXCLUDED.reason, lines = EXCLUDED.lines, version = EXCLUDED.version,
             placed_at = EXCLUDED.placed_at, updated_at = EXCLUDED.updated_at"
    );
    for chunk in orders.chunks(CHUNK) {
        let lines: Vec<serde_json::Value> = chunk
            .iter()
            .map(|o| serde_json::to_value(&o.lines).unwrap_or_default())
            .collect();
        sqlx::query(&sql)
            .bind(
                chunk
                    .iter()
                    .map(|o| o.order_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(chunk.iter().map(|o| o.user_id.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|o| o.status.as_str()).collect::<Vec<_>>())
            .bind(
                chunk
                    .iter()
                    .map(|o| o.reason.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(lines)
            .bind(chunk.iter().map(|o| o.version).collect::<Vec<_>>())
            .bind(chunk.iter().map(|o| o.placed_at).collect::<Vec<_>>())
            .bind(chunk.iter().map(|o| o.updated_at).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Inserts or replaces `products` in `table` (one of ours, never user input).
pub async fn write_products(
    conn: &mut PgConnection,
    table: &str,
    products: &[&ProductView],
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO {table} (product_id, name, available, confirmed_units, cancelled_units, version, updated_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[],
                              $6::int8[], $7::timestamptz[])
         ON CONFLICT (product_id) DO UPDATE SET name = EXCLUDED.name, available = EXCLUDED.available,
             confirmed_units = EXCLUDED.confirmed_units, cancelled_units = EXCLUDED.cancelled_units,
             version = EXCLUDED.version, updated_at = EXCLUDED.updated_at"
    );
    for chunk in products.chunks(CHUNK) {
        sqlx::query(&sql)
            .bind(
                chunk
                    .iter()
                    .map(|p| p.product_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(chunk.iter().map(|p| p.name.as_deref()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.available).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.confirmed_units).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.cancelled_units).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.version).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.updated_at).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
