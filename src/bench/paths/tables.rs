//! The baselines' own tables in the bench database: `bench_stock` and `bench_orders`, as a
//! seed-era service would have them (no inbox, no outbox, no version or fence columns).

use std::collections::BTreeMap;

use sqlx::PgPool;

use crate::bench::check::Tally;
use crate::bench::workload::Generated;
use crate::bench::BenchError;

const DDL: [&str; 2] = [
    "CREATE TABLE bench_stock (product_id TEXT PRIMARY KEY, available BIGINT NOT NULL)",
    "CREATE TABLE bench_orders (order_id TEXT PRIMARY KEY, product_id TEXT NOT NULL,
         quantity BIGINT NOT NULL, status TEXT NOT NULL)",
];

pub async fn create_tables(pool: &PgPool) -> Result<(), BenchError> {
    for ddl in DDL {
        sqlx::query(ddl)
            .execute(pool)
            .await
            .map_err(BenchError::db("create the baselines' tables"))?;
    }
    Ok(())
}

/// One stock row per product of the run.
pub async fn seed_stock(pool: &PgPool, generated: &Generated) -> Result<(), BenchError> {
    sqlx::query("INSERT INTO bench_stock (product_id, available) SELECT unnest($1::text[]), $2")
        .bind(&generated.products)
        .bind(generated.stock)
        .execute(pool)
        .await
        .map_err(BenchError::db("seed bench_stock"))?;
    Ok(())
}

type Counted = (String, String, i64, i64);

pub async fn tally(pool: &PgPool, generated: &Generated) -> Result<Tally, BenchError> {
    let available: Vec<(String, i64)> =
        sqlx::query_as("SELECT product_id, available FROM bench_stock WHERE product_id = ANY($1)")
            .bind(&generated.products)
            .fetch_all(pool)
            .await
            .map_err(BenchError::db("read bench_stock"))?;
    let orders: Vec<Counted> = sqlx::query_as(
        "SELECT product_id, status, count(*), sum(quantity)::int8 FROM bench_orders
         WHERE product_id = ANY($1) GROUP BY 1, 2",
    )
    .bind(&generated.products)
    .fetch_all(pool)
    .await
    .map_err(BenchError::db("count bench_orders"))?;
    Ok(into_tally(available, orders))
}

pub fn into_tally(available: Vec<(String, i64)>, orders: Vec<Counted>) -> Tally {
    Tally {
        available: available.into_iter().collect(),
        orders: orders
            .into_iter()
            .map(|(p, s, n, u)| ((p, s), (n, u)))
            .collect::<BTreeMap<_, _>>(),
    }
}
