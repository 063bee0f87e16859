//! Baseline (a), the seed's "Redisson-style" path, per order: take the product's Redis lock
//! ([`RedisMutex`]: SET NX PX, woken on the holder's unlock), read the stock from a Redis
//! cache key (hydrating from PostgreSQL on a miss), check it, write the order and the stock
//! row in one transaction per order, commit, write the cache, unlock (compare-and-delete).

use redis::aio::ConnectionManager;
use sqlx::PgPool;

use super::redis_mutex::RedisMutex;
use super::{for_update::insert_order, tables};
use crate::workload::{Generated, Order};
use crate::{BenchEnv, BenchError};

pub(crate) struct Redisson {
    pool: PgPool,
    redis: ConnectionManager,
    prefix: String,
    mutex: RedisMutex,
}

impl Redisson {
    pub(crate) fn new(env: &BenchEnv) -> Self {
        Self {
            pool: env.pool.clone(),
            redis: env.redis.clone(),
            prefix: env.key_prefix.clone(),
            mutex: RedisMutex::new(env.redis.clone(), "(a)"),
        }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn lock_key(&self, product_id: &str) -> String {
        format!("{}a-lock:{product_id}", self.prefix)
    }

    fn cache_key(&self, product_id: &str) -> String {
        format!("{}a-stock:{product_id}", self.prefix)
    }

    /// Stock rows, and the cache filled as the seed's restock would have left it.
    pub(crate) async fn prepare(&self, generated: &Generated) -> Result<(), BenchError> {
        tables::seed_stock(&self.pool, tables::BASELINES, generated).await?;
        for chunk in generated.products.chunks(500) {
            let mut cmd = redis::cmd("MSET");
            for product in chunk {
                cmd.arg(self.cache_key(product)).arg(generated.stock);
            }
            let () = cmd
                .query_async(&mut self.redis.clone())
                .await
                .map_err(BenchError::redis("(a) fill the cache"))?;
        }
        Ok(())
    }

    pub(crate) async fn place(&self, order: &Order) -> Result<(), BenchError> {
        let key = self.lock_key(&order.product_id);
        self.mutex.with_lock(&key, self.under_lock(order)).await
    }

    async fn under_lock(&self, order: &Order) -> Result<(), BenchError> {
        let available = self.cached_stock(&order.product_id).await?;
        let served = available >= order.quantity;
        let err = || BenchError::db(format!("(a) order {}", order.order_id));
        let mut tx = self.pool.begin().await.map_err(err())?;
        insert_order(&mut tx, order, served).await.map_err(err())?;
        if served {
            sqlx::query("UPDATE bench_stock SET available = $2 WHERE product_id = $1")
                .bind(&order.product_id)
                .bind(available - order.quantity)
                .execute(&mut *tx)
                .await
                .map_err(err())?;
        }
        tx.commit().await.map_err(err())?;
        if served {
            self.cache(&order.product_id, available - order.quantity)
                .await?;
        }
        Ok(())
    }

    async fn cached_stock(&self, product_id: &str) -> Result<i64, BenchError> {
        let cached: Option<i64> = redis::cmd("GET")
            .arg(self.cache_key(product_id))
            .query_async(&mut self.redis.clone())
            .await
            .map_err(BenchError::redis("(a) read the cache"))?;
        if let Some(available) = cached {
            return Ok(available);
        }
        let available: i64 =
            sqlx::query_scalar("SELECT available FROM bench_stock WHERE product_id = $1")
                .bind(product_id)
                .fetch_one(&self.pool)
                .await
                .map_err(BenchError::db(format!("(a) hydrate {product_id}")))?;
        self.cache(product_id, available).await?;
        Ok(available)
    }

    async fn cache(&self, product_id: &str, available: i64) -> Result<(), BenchError> {
        let () = redis::cmd("SET")
            .arg(self.cache_key(product_id))
            .arg(available)
            .query_async(&mut self.redis.clone())
            .await
            .map_err(BenchError::redis("(a) write the cache"))?;
        Ok(())
    }
}
