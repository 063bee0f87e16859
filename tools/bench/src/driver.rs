//! The load: `receivers` tokio tasks pulling from one shared queue of pre-generated orders,
//! each taking a path's batch (10 for ours, as an SQS receive gives, 1 for the baselines) and
//! handing it over, as a poller hands a receive to the worker, timing it. An order's latency
//! is the latency of the call that decided it.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::workload::Order;
use super::BenchError;

/// A path the receivers feed: the driver knows it only by this, so the paths depend on the
/// driver and not the other way round.
pub(super) trait Handler: Send + Sync + 'static {
    /// Orders a receiver hands over at once: an SQS receive, or one order.
    fn batch_size(&self) -> usize;
    /// Decides and records `orders` (at most `batch_size`).
    fn handle(&self, orders: &[Order]) -> impl Future<Output = Result<(), BenchError>> + Send;
}

/// Wall time of the whole run and one latency per order.
#[derive(Debug)]
pub struct Timed {
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

pub(super) async fn drive<H: Handler>(
    path: Arc<H>,
    orders: Arc<Vec<Order>>,
    receivers: usize,
) -> Result<Timed, BenchError> {
    let cursor = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..receivers {
        set.spawn(pull(
            Arc::clone(&path),
            Arc::clone(&orders),
            Arc::clone(&cursor),
        ));
    }
    let mut latencies = Vec::with_capacity(orders.len());
    while let Some(joined) = set.join_next().await {
        let mine =
            joined.map_err(|e| BenchError::Worker(format!("a bench receiver died: {e}")))??;
        latencies.extend(mine);
    }
    Ok(Timed {
        elapsed: started.elapsed(),
        latencies,
    })
}

/// One receiver: take the next batch until the queue is empty.
async fn pull<H: Handler>(
    path: Arc<H>,
    orders: Arc<Vec<Order>>,
    cursor: Arc<AtomicUsize>,
) -> Result<Vec<Duration>, BenchError> {
    let size = path.batch_size();
    let mut latencies = Vec::new();
    loop {
        let start = cursor.fetch_add(size, Ordering::Relaxed);
        if start >= orders.len() {
            return Ok(latencies);
        }
        let batch = &orders[start..(start + size).min(orders.len())];
        let sent = Instant::now();
        path.handle(batch).await?;
        latencies.extend(std::iter::repeat_n(sent.elapsed(), batch.len()));
    }
}
