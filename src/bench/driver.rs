//! The load: `tasks` tokio tasks pulling from one shared queue of pre-generated orders, each
//! taking a path's batch (10 for ours, as an SQS receive gives, 1 for the baselines) and
//! timing it. An order's latency is the latency of the call that decided it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::paths::Contender;
use super::workload::Order;
use super::BenchError;

/// Wall time of the whole run and one latency per order.
#[derive(Debug)]
pub struct Timed {
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

pub async fn drive(
    contender: Arc<Contender>,
    orders: Arc<Vec<Order>>,
    tasks: usize,
) -> Result<Timed, BenchError> {
    let cursor = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..tasks {
        set.spawn(pull(
            Arc::clone(&contender),
            Arc::clone(&orders),
            Arc::clone(&cursor),
        ));
    }
    let mut latencies = Vec::with_capacity(orders.len());
    while let Some(joined) = set.join_next().await {
        let mine = joined.map_err(|e| BenchError::Worker(format!("a bench task died: {e}")))??;
        latencies.extend(mine);
    }
    Ok(Timed {
        elapsed: started.elapsed(),
        latencies,
    })
}

/// One task: take the next batch until the queue is empty.
async fn pull(
    contender: Arc<Contender>,
    orders: Arc<Vec<Order>>,
    cursor: Arc<AtomicUsize>,
) -> Result<Vec<Duration>, BenchError> {
    let size = contender.batch_size();
    let mut latencies = Vec::new();
    loop {
        let start = cursor.fetch_add(size, Ordering::Relaxed);
        if start >= orders.len() {
            return Ok(latencies);
        }
        let batch = &orders[start..(start + size).min(orders.len())];
        let sent = Instant::now();
        contender.handle(batch).await?;
        latencies.extend(std::iter::repeat_n(sent.elapsed(), batch.len()));
    }
}
