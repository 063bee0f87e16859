//! Baseline (b): PostgreSQL alone, one transaction per order, the product row locked with
//! `SELECT … FOR UPDATE` while the order is decided. Correct, and serial on a hot product:
//! every order waits for the previous one's commit.

use sqlx::PgPool;

use super::tables;
use crate::workload::{Generated, Order};
use crate::{BenchEnv, BenchError};

pub(crate) struct ForUpdate {
    pool: PgPool,
}

impl ForUpdate {
    pub(crate) fn new(env: &BenchEnv) -> Self {
        Self {
            pool: env.pool.clone(),
        }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn prepare(&self, generated: &Generated) -> Result<(), BenchError> {
        tables::seed_stock(&self.pool, tables::BASELINES, generated).await
    }

    /// BEGIN; SELECT … FOR UPDATE; UPDATE (if served); INSERT the order; COMMIT.
    pub(crate) async fn place(&self, order: &Order) -> Result<(), BenchError> {
        let err = || BenchError::db(format!("(b) order {}", order.order_id));
        let mut tx = self.pool.begin().await.map_err(err())?;
        let available: i64 = sqlx::query_scalar(
            "SELECT available FROM bench_stock WHERE product_id = $1 FOR UPDATE",
        )
        .bind(&order.product_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(err())?;
        let served = available >= order.quantity;
        if served {
            sqlx::query("UPDATE bench_stock SET available = available - $2 WHERE product_id = $1")
                .bind(&order.product_id)
                .bind(order.quantity)
                .execute(&mut *tx)
                .await
                .map_err(err())?;
        }
        insert_order(&mut tx, order, served).await.map_err(err())?;
        tx.commit().await.map_err(err())
    }
}

/// The order row, confirmed or rejected (both paths record rejections, like ours does).
pub(super) async fn insert_order(
    conn: &mut sqlx::PgConnection,
    order: &Order,
    served: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bench_orders (order_id, product_id, quantity, status) VALUES ($1, $2, $3, $4)",
    )
    .bind(&order.order_id)
    .bind(&order.product_id)
    .bind(order.quantity)
    .bind(if served { "confirmed" } else { "rejected" })
    .execute(conn)
    .await?;
    Ok(())
}
