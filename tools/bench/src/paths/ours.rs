//! Our path: `Worker::process` on batches of 10 contract-v1 PlaceOrder bodies, the entry
//! point the SQS consumer calls with one receive (minus the receive and delete), from as many
//! concurrent receivers as the cell has, on one shared worker as in one process. A batch the
//! worker leaves for redelivery (lock wait timed out, world moved) is handed to it again, as
//! SQS would, and counted. The worker's own figures (commands per commit, lock rounds) say
//! how much it grouped.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::{stream, TryStreamExt};
use sqlx::PgPool;

use super::tables::into_tally;
use crate::check::Tally;
use crate::workload::{restock_body, Generated, Order};
use crate::{BenchEnv, BenchError};
use fulfil::lock::{LockConfig, StockLock};
use fulfil::stock_cache::StockCache;
use fulfil::worker::{GroupFigures, Incoming, Recorded, Worker, WorkerError, WorkerSettings};

/// Redeliveries of one batch before the bench gives up on it.
const MAX_REDELIVERIES: u32 = 50;

pub(crate) struct Ours {
    worker: Worker,
    pool: PgPool,
    retries: AtomicU64,
}

impl Ours {
    /// The worker as `fulfil worker` builds it, with default lock settings.
    pub(crate) fn new(env: &BenchEnv) -> Self {
        let lock_config = LockConfig {
            key_prefix: env.key_prefix.clone(),
            ..LockConfig::default()
        };
        let locks = StockLock::new(env.redis.clone(), lock_config);
        let cache = StockCache::new(env.redis.clone(), &env.key_prefix);
        let worker = Worker::new(env.pool.clone(), locks, cache, WorkerSettings::default());
        Self {
            worker,
            pool: env.pool.clone(),
            retries: AtomicU64::new(0),
        }
    }

    pub(crate) fn take_retries(&self) -> u64 {
        self.retries.swap(0, Ordering::Relaxed)
    }

    /// Commands per commit and lock rounds since the last call.
    pub(crate) fn take_group_figures(&self) -> GroupFigures {
        self.worker.take_group_figures()
    }

    /// One Restock per product, through the same path, in batches of 10.
    pub(crate) async fn prepare(&self, generated: &Generated) -> Result<(), BenchError> {
        let bodies: Vec<Incoming> = generated
            .products
            .iter()
            .map(|p| incoming(&format!("{p}-restock"), restock_body(p, generated.stock)))
            .collect();
        stream::iter(bodies.chunks(10).map(Ok))
            .try_for_each_concurrent(4, |chunk| self.process(chunk))
            .await
    }

    pub(crate) async fn handle(&self, orders: &[Order]) -> Result<(), BenchError> {
        let batch: Vec<Incoming> = orders
            .iter()
            .map(|o| incoming(&o.order_id, o.body.clone()))
            .collect();
        self.process(&batch).await
    }

    async fn process(&self, batch: &[Incoming]) -> Result<(), BenchError> {
        for _ in 0..MAX_REDELIVERIES {
            match self.worker.process(batch).await {
                Ok(records) => return expect_applied(batch, &records),
                Err(WorkerError::Transient(_)) => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => return Err(BenchError::Worker(e.to_string())),
            }
        }
        Err(BenchError::Worker(format!(
            "a batch starting with {} was not applied after {MAX_REDELIVERIES} deliveries",
            batch.first().map_or("", |m| m.message_id.as_str())
        )))
    }

    pub(crate) async fn tally(&self, generated: &Generated) -> Result<Tally, BenchError> {
        let available: Vec<(String, i64)> =
            sqlx::query_as("SELECT product_id, available FROM products WHERE product_id = ANY($1)")
                .bind(&generated.products)
                .fetch_all(&self.pool)
                .await
                .map_err(BenchError::db("read products"))?;
        let orders: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT l.line->>'product_id', o.status, count(*), sum((l.line->>'quantity')::int8)::int8
             FROM orders o, json_array_elements(o.lines) AS l(line)
             WHERE l.line->>'product_id' = ANY($1) GROUP BY 1, 2",
        )
        .bind(&generated.products)
        .fetch_all(&self.pool)
        .await
        .map_err(BenchError::db("count orders"))?;
        Ok(into_tally(available, orders))
    }
}

fn incoming(message_id: &str, body: String) -> Incoming {
    Incoming {
        message_id: format!("m-{message_id}"),
        body,
        traceparent: None,
    }
}

/// Every message of a fresh run is decided; anything else is a bug worth stopping for.
fn expect_applied(batch: &[Incoming], records: &[Recorded]) -> Result<(), BenchError> {
    match batch
        .iter()
        .zip(records)
        .find(|(_, f)| !matches!(f, Recorded::Decided { .. }))
    {
        None => Ok(()),
        Some((m, record)) => Err(BenchError::Worker(format!(
            "{}: unexpected record {record:?}",
            m.message_id
        ))),
    }
}
