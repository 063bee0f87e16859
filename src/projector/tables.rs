//! The read tables as a whole: loading every row into a [`ReadModel`] (for `verify`; each
//! row read straight into its view type, the one the API serves), and
//! writing many views at once into a table of the read tables' shape (for `rebuild`, and
//! the statements the projector's guarded upserts are built from).

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres};

use super::model::{OrderView, ProductView, ReadModel};

/// Rows per multi-row insert.
const CHUNK: usize = 1000;

/// Every row of `read_orders` and `read_products`, with `projection_state`'s count.
pub async fn load(conn: &mut PgConnection) -> Result<ReadModel, sqlx::Error> {
    let orders: Vec<OrderView> = sqlx::query_as("SELECT * FROM read_orders")
        .fetch_all(&mut *conn)
        .await?;
    let products: Vec<ProductView> = sqlx::query_as("SELECT * FROM read_products")
        .fetch_all(&mut *conn)
        .await?;
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT events_applied FROM projection_state WHERE id = 1")
            .fetch_optional(&mut *conn)
            .await?;
    Ok(ReadModel {
        orders: orders
            .into_iter()
            .map(|o| (o.order_id.clone(), o))
            .collect(),
        products: products
            .into_iter()
            .map(|p| (p.product_id.clone(), p))
            .collect(),
        events_applied: applied.map_or(0, |n| u64::try_from(n).unwrap_or(0)),
    })
}

/// A read table as a set-based write sees it: its columns, one array parameter per column
/// (`$1`, `$2`, …) unnested into rows, and the assignments that replace a row with the
/// incoming one. Shared by `rebuild` (plain replace) and the projector (guarded by version).
pub(super) struct Shape {
    pub key: &'static str,
    /// How many columns, so how many array parameters.
    pub arity: usize,
    columns: &'static str,
    unnest: &'static str,
    replace: &'static str,
}

pub(super) const ORDERS: Shape = Shape {
    key: "order_id",
    arity: 8,
    columns: "order_id, user_id, status, reason, lines, version, placed_at, updated_at",
    unnest: "UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[],
                    $6::int8[], $7::timestamptz[], $8::timestamptz[])",
    replace: "user_id = EXCLUDED.user_id, status = EXCLUDED.status, reason = EXCLUDED.reason,
              lines = EXCLUDED.lines, version = EXCLUDED.version,
              placed_at = EXCLUDED.placed_at, updated_at = EXCLUDED.updated_at",
};

pub(super) const PRODUCTS: Shape = Shape {
    key: "product_id",
    arity: 7,
    columns: "product_id, name, available, confirmed_units, cancelled_units, version, updated_at",
    unnest: "UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[],
                    $6::int8[], $7::timestamptz[])",
    replace: "name = EXCLUDED.name, available = EXCLUDED.available,
              confirmed_units = EXCLUDED.confirmed_units, cancelled_units = EXCLUDED.cancelled_units,
              version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
};

impl Shape {
    /// Inserts the unnested rows into `table` (one of ours, never user input), replacing a
    /// row that exists; `tail` follows the `SET` (a `WHERE` guard, `RETURNING`).
    pub(super) fn upsert(&self, table: &str, tail: &str) -> String {
        let Shape {
            key,
            columns,
            unnest,
            replace,
            ..
        } = self;
        format!(
            "INSERT INTO {table} ({columns}) SELECT * FROM {unnest}
             ON CONFLICT ({key}) DO UPDATE SET {replace} {tail}"
        )
    }
}

pub(super) type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// Binds `orders` as the column arrays of [`ORDERS`], in order.
pub(super) fn bind_orders<'q>(query: PgQuery<'q>, orders: &[&'q OrderView]) -> PgQuery<'q> {
    let lines: Vec<serde_json::Value> = orders
        .iter()
        .map(|o| serde_json::to_value(&o.lines).unwrap_or_default())
        .collect();
    query
        .bind(column(orders, |o| o.order_id.as_str()))
        .bind(column(orders, |o| o.user_id.as_str()))
        .bind(column(orders, |o| o.status.as_str()))
        .bind(column(orders, |o| o.reason.as_deref()))
        .bind(lines)
        .bind(column(orders, |o| o.version))
        .bind(column(orders, |o| o.placed_at))
        .bind(column(orders, |o| o.updated_at))
}

/// Binds `products` as the column arrays of [`PRODUCTS`], in order.
pub(super) fn bind_products<'q>(query: PgQuery<'q>, products: &[&'q ProductView]) -> PgQuery<'q> {
    query
        .bind(column(products, |p| p.product_id.as_str()))
        .bind(column(products, |p| p.name.as_deref()))
        .bind(column(products, |p| p.available))
        .bind(column(products, |p| p.confirmed_units))
        .bind(column(products, |p| p.cancelled_units))
        .bind(column(products, |p| p.version))
        .bind(column(products, |p| p.updated_at))
}

fn column<'q, V, T>(views: &[&'q V], field: impl Fn(&'q V) -> T) -> Vec<T> {
    views.iter().copied().map(field).collect()
}

/// Inserts or replaces `orders` in `table` (one of ours, never user input).
pub async fn write_orders(
    conn: &mut PgConnection,
    table: &str,
    orders: &[&OrderView],
) -> Result<(), sqlx::Error> {
    let sql = ORDERS.upsert(table, "");
    for chunk in orders.chunks(CHUNK) {
        bind_orders(sqlx::query(&sql), chunk)
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
    let sql = PRODUCTS.upsert(table, "");
    for chunk in products.chunks(CHUNK) {
        bind_products(sqlx::query(&sql), chunk)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
