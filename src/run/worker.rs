//! `fulfil worker`: the consumer pool on the commands queue, each batch through the worker's
//! batch path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{connect_redis, RunError};
use crate::config::{AwsSettings, RedisUrls, SecretUrl, Topology};
use crate::db::{self, Database};
use crate::lock::{LockConfig, StockLock};
use crate::ops::{self, Readiness};
use crate::queue::consumer::{Consumer, ConsumerConfig};
use crate::queue::{topology, AwsClients};
use crate::stock_cache::StockCache;
use crate::worker::{GroupLimits, Worker, WorkerSettings};

#[derive(Debug, Clone)]
pub struct WorkerRunSettings {
    pub aws: AwsSettings,
    pub topology: Topology,
    pub write_database_url: SecretUrl,
    pub redis_url: RedisUrls,
    pub redis_key_prefix: String,
    /// Concurrent long polls (and so concurrent batches).
    pub concurrency: usize,
    pub max_in_flight: usize,
    pub lock: LockConfig,
    pub groups: GroupLimits,
    pub db_limits: db::SessionLimits,
    /// Longest one batch may be worked on before it is abandoned and returned to the queue.
    pub processing_deadline: Duration,
    /// Longest a done message waits for others to fill its delete call.
    pub delete_linger: Duration,
    /// While receives come back part full, the least time between two receives' starts.
    pub receive_window: Duration,
    pub ops_addr: SocketAddr,
}

pub async fn run(settings: WorkerRunSettings, shutdown: CancellationToken) -> Result<(), RunError> {
    let pool = db::connect_limited(
        Database::Write,
        &settings.write_database_url,
        pool_size(&settings),
        Some(settings.db_limits),
    )
    .await?;
    let redis = connect_redis(&settings.redis_url).await?;
    let aws = AwsClients::connect(&settings.aws).await;
    let queue_url = topology::queue_url(&aws, &settings.topology.commands_queue()).await?;
    let locks = StockLock::new(redis.clone(), settings.lock.clone());
    let cache = StockCache::new(redis, &settings.redis_key_prefix);
    let worker_settings = WorkerSettings {
        groups: settings.groups,
        transaction_deadline: settings.lock.lease,
        ..WorkerSettings::default()
    };
    let worker = Arc::new(Worker::new(pool, locks, cache, worker_settings));
    let readiness = Readiness::default();
    let local_addr = ops::serve(
        settings.ops_addr,
        ops::router(readiness.clone()),
        shutdown.clone(),
    )
    .await?;
    tracing::info!(queue = %queue_url, concurrency = settings.concurrency, ops = %local_addr, "worker started");
    tokio::spawn(watch_readiness(
        Arc::clone(&worker),
        readiness,
        shutdown.clone(),
    ));
    let consumer = Consumer::new(aws.sqs.clone(), consumer_config(&settings, queue_url));
    consumer.run(worker, shutdown).await?;
    tracing::info!("worker stopped");
    Ok(())
}

/// One connection per committing unit (taken before its locks, so no unit holds locks
/// while it waits for the pool), one per poller for the checks made on receipt, and two for
/// invalid commands and health probes.
fn pool_size(settings: &WorkerRunSettings) -> u32 {
    u32::try_from(settings.groups.max_units + settings.concurrency + 2).unwrap_or(u32::MAX)
}

fn consumer_config(settings: &WorkerRunSettings, queue_url: String) -> ConsumerConfig {
    ConsumerConfig {
        queue_url,
        fifo: settings.topology.fifo,
        pollers: settings.concurrency,
        max_in_flight: settings.max_in_flight,
        batch_size: 10,
        wait_time: Duration::from_secs(20),
        visibility_timeout: settings.topology.visibility_timeout,
        max_backoff: Duration::from_secs(60),
        processing_deadline: settings.processing_deadline,
        delete_linger: settings.delete_linger,
        receive_window: settings.receive_window,
    }
}

/// Ready while the write database and Redis answer and no shutdown was asked for.
async fn watch_readiness(worker: Arc<Worker>, readiness: Readiness, shutdown: CancellationToken) {
    loop {
        readiness.set(!shutdown.is_cancelled() && worker.healthy().await);
        tokio::select! {
            () = shutdown.cancelled() => { readiness.set(false); return; }
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
