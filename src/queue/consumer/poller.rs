//! One long-poll loop: wait for the outage gate and for message permits, receive, hand the
//! batch to its own task, repeat until shutdown. Receiving is the only thing it does, so a
//! slow batch never delays the next receive beyond what the permits allow.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use super::policy::Backoff;
use super::stats::add;
use super::{batch, BatchHandler, Message, Shared};
use crate::queue::QueueError;

/// Runs poller number `index` until shutdown.
pub(super) async fn poll<H: BatchHandler>(shared: Arc<Shared<H>>, index: usize) {
    let span = tracing::info_span!("poller", index);
    poll_until_shutdown(&shared).instrument(span).await;
}

async fn poll_until_shutdown<H: BatchHandler>(shared: &Arc<Shared<H>>) {
    let mut backoff = Backoff::standard();
    while let Some(permits) = ready_to_receive(shared).await {
        let asked = tokio::time::Instant::now();
        let Some(received) = receive_or_shutdown(shared).await else {
            return;
        };
        match received {
            Ok(batch) => {
                backoff.reset();
                dispatch(shared, batch, permits, asked);
            }
            Err(error) => {
                drop(permits);
                if !pause_after_error(shared, &error, &mut backoff).await {
                    return;
                }
            }
        }
    }
}

/// Waits until the gate is open and `batch_size` permits are ours; `None` on shutdown. The
/// gate is checked again after the permits, since an outage may have begun meanwhile.
async fn ready_to_receive<H>(shared: &Shared<H>) -> Option<OwnedSemaphorePermit> {
    let wanted = u32::try_from(shared.config.batch_size).unwrap_or(1);
    loop {
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => return None,
            () = shared.gate.opened() => {}
        }
        let permits = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => return None,
            permits = Arc::clone(&shared.permits).acquire_many_owned(wanted) => permits.ok()?,
        };
        if shared.gate.is_open() {
            return Some(permits);
        }
    }
}

/// One receive, abandoned at once on shutdown (`None`) rather than waiting out the long
/// poll. An outage beginning meanwhile does not abandon it: dropping the request would
/// not stop SQS handing it messages, which would then sit invisible with a receive count
/// spent; what it brings is held by its batch task until the gate reopens.
async fn receive_or_shutdown<H>(shared: &Shared<H>) -> Option<Result<Vec<Message>, QueueError>> {
    add(&shared.stats.receive_calls, 1);
    let config = &shared.config;
    let receive = shared.sqs.receive(
        config.batch_size,
        config.wait_time,
        config.visibility_timeout,
    );
    tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => None,
        received = receive => Some(received),
    }
}

/// Keeps one permit per received message (for the batch task to hold) and gives back the
/// rest, then starts the batch's task; `asked` is when the receive was sent.
fn dispatch<H: BatchHandler>(
    shared: &Arc<Shared<H>>,
    batch: Vec<Message>,
    mut permits: OwnedSemaphorePermit,
    asked: tokio::time::Instant,
) {
    if batch.is_empty() {
        return;
    }
    add(&shared.stats.received, batch.len());
    let held = permits.split(batch.len()).unwrap_or(permits);
    let task = batch::process(Arc::clone(shared), batch, held, asked);
    shared.batches.spawn(task.in_current_span());
}

/// Logs a receive error and waits out the backoff; `false` on shutdown.
async fn pause_after_error<H>(
    shared: &Shared<H>,
    error: &QueueError,
    backoff: &mut Backoff,
) -> bool {
    add(&shared.stats.receive_errors, 1);
    let delay = backoff.next_delay();
    tracing::warn!(%error, retry_in = ?delay, "receive failed; backing off");
    tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => false,
        () = tokio::time::sleep(delay) => true,
    }
}
