//! `fulfil projector`: the consumer pool on the projector queue, each batch of change events
//! applied to the read database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::RunError;
use crate::config::{AwsSettings, SecretUrl, Topology};
use crate::db::{self, Database};
use crate::ops::{self, Readiness};
use crate::projector::Projector;
use crate::queue::consumer::{Consumer, ConsumerConfig};
use crate::queue::{topology, AwsClients};

#[derive(Debug, Clone)]
pub struct ProjectorRunSettings {
    pub aws: AwsSettings,
    pub topology: Topology,
    pub read_database_url: SecretUrl,
    /// Concurrent long polls (and so concurrent batches).
    pub concurrency: usize,
    pub ops_addr: SocketAddr,
}

pub async fn run(
    settings: ProjectorRunSettings,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let pool = db::connect(
        Database::Read,
        &settings.read_database_url,
        u32::try_from(settings.concurrency * BATCHES_PER_POLLER + 1).unwrap_or(u32::MAX),
    )
    .await?;
    let aws = AwsClients::connect(&settings.aws).await;
    let queue_url = topology::queue_url(&aws, &settings.topology.projector_queue()).await?;
    let projector = Arc::new(Projector::new(pool));
    let readiness = Readiness::default();
    let local_addr = ops::serve(
        settings.ops_addr,
        ops::router(readiness.clone()),
        shutdown.clone(),
    )
    .await?;
    tracing::info!(queue = %queue_url, concurrency = settings.concurrency, ops = %local_addr, "projector started");
    tokio::spawn(watch_readiness(
        Arc::clone(&projector),
        readiness,
        shutdown.clone(),
    ));
    let consumer = Consumer::new(aws.sqs.clone(), consumer_config(&settings, queue_url));
    consumer.run(projector, shutdown).await?;
    tracing::info!("projector stopped");
    Ok(())
}

/// Batches each poller may hold: one being applied and one whose delete is still on its way
/// (each batch may be applied at once: one read-database connection each, and one spare).
/// With one, a poller's next receive waited for its last batch's `DeleteMessageBatch`, so a
/// projector behind on a busy LocalStack spent half of each cycle waiting for deletes
/// (`./dev bench e2e`, FIFO at 80 %: full receives, 3 ms per transaction, about 190 ms per
/// cycle). Applying out of order is safe: a newer snapshot wins whatever arrives first.
const BATCHES_PER_POLLER: usize = 2;

/// The consumer settings the projector runs with (public so tests run the same in-process).
pub fn consumer_config(settings: &ProjectorRunSettings, queue_url: String) -> ConsumerConfig {
    ConsumerConfig {
        queue_url,
        fifo: settings.topology.fifo,
        pollers: settings.concurrency,
        max_in_flight: settings.concurrency * 10 * BATCHES_PER_POLLER,
        batch_size: 10,
        wait_time: Duration::from_secs(20),
        visibility_timeout: settings.topology.visibility_timeout,
        max_backoff: Duration::from_secs(60),
        processing_deadline: crate::queue::consumer::DEFAULT_PROCESSING_DEADLINE,
        delete_linger: Duration::ZERO,
        receive_window: Duration::ZERO,
    }
}

/// Ready while the read database answers and no shutdown was asked for.
async fn watch_readiness(
    projector: Arc<Projector>,
    readiness: Readiness,
    shutdown: CancellationToken,
) {
    loop {
        readiness.set(!shutdown.is_cancelled() && projector.healthy().await);
        tokio::select! {
            () = shutdown.cancelled() => { readiness.set(false); return; }
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
