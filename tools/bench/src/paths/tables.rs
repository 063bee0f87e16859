//! The bench-only paths' own tables in the bench database, as a seed-era service would have
//! them (no inbox, no outbox, no version or fence columns): `bench_stock` and `bench_orders`
//! for the baselines, `ceiling_stock` and `ceiling_orders` for the ceiling, so each path's
//! tally counts only its own rows.

use std::collections::BTreeMap;

use sqlx::PgPool;

use crate::check::Tally;
use crate::workload::Generated;
use crate::BenchError;

/// A stock table and an orders table of the same shape.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tables {
    pub stock: &'static str,
    pub orders: &'static str,
}

pub(super) const BASELINES: Tables = Tables {
    stock: "bench_stock",
    orders: "bench_orders",
};

pub(super) const CEILING: Tables = Tables {
    stock: "ceiling_stock",
    orders: "ceiling_orders",
};

pub(crate) async fn create_tables(pool: &PgPool) -> Result<(), BenchError> {
    for tables in [BASELINES, CEILING] {
        let ddl = [
            format!(
                "CREATE TABLE {} (product_id TEXT PRIMARY KEY, available BIGINT NOT NULL)",
                tables.stock
            ),
            format!(
                "CREATE TABLE {} (order_id TEXT PRIMARY KEY, product_id TEXT NOT NULL,
                 quantity BIGINT NOT NULL, status TEXT NOT NULL)",
                tables.orders
            ),
        ];
        for statement in ddl {
            sqlx::query(&statement)
                .execute(pool)
                .await
                .map_err(BenchError::db("create the bench paths' tables"))?;
        }
    }
    Ok(())
}

/// One stock row per product of the run.
pub(super) async fn seed_stock(
    pool: &PgPool,
    tables: Tables,
    generated: &Generated,
) -> Result<(), BenchError> {
    let sql = format!(
        "INSERT INTO {} (product_id, available) SELECT unnest($1::text[]), $2",
        tables.stock
    );
    sqlx::query(&sql)
        .bind(&generated.products)
        .bind(generated.stock)
        .execute(pool)
        .await
        .map_err(BenchError::db(format!("seed {}", tables.stock)))?;
    Ok(())
}

type Counted = (String, String, i64, i64);

pub(super) async fn tally(
    pool: &PgPool,
    tables: Tables,
    generated: &Generated,
) -> Result<Tally, BenchError> {
    let stock = format!(
        "SELECT product_id, available FROM {} WHERE product_id = ANY($1)",
        tables.stock
    );
    let available: Vec<(String, i64)> = sqlx::query_as(&stock)
        .bind(&generated.products)
        .fetch_all(pool)
        .await
        .map_err(BenchError::db(format!("read {}", tables.stock)))?;
    let counts = format!(
        "SELECT product_id, status, count(*), sum(quantity)::int8 FROM {}
         WHERE product_id = ANY($1) GROUP BY 1, 2",
        tables.orders
    );
    let orders: Vec<Counted> = sqlx::query_as(&counts)
        .bind(&generated.products)
        .fetch_all(pool)
        .await
        .map_err(BenchError::db(format!("count {}", tables.orders)))?;
    Ok(into_tally(available, orders))
}

pub(super) fn into_tally(available: Vec<(String, i64)>, orders: Vec<Counted>) -> Tally {
    Tally {
        available: available.into_iter().collect(),
        orders: orders
            .into_iter()
            .map(|(p, s, n, u)| ((p, s), (n, u)))
            .collect::<BTreeMap<_, _>>(),
    }
}
