//! One received batch from decision to settlement: the handler decides (held through an
//! outage if need be) while a heartbeat keeps the batch invisible; then the Delete ones are
//! deleted and the Retry ones given a backoff, or, at shutdown, undecided ones released, or,
//! past the processing deadline, the batch abandoned and its messages returned.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::time::Instant;
use tracing::Instrument;

use super::policy::{self, Backoff};
use super::stats::Counted;
use super::{deadline, heartbeat};
use super::{BatchHandler, Deleted, Disposition, Message, Outage, Settled, Shared};

/// How a batch's decision phase ended.
enum Decision {
    Decided(Vec<Disposition>),
    /// Shutdown came before a decision: give the messages back.
    Undecided,
    /// A handler call ran past the processing deadline: give the messages back, counted.
    Abandoned,
}

/// Decides and settles `batch`, holding its message permits until it is settled.
/// `received` is when its receive was asked for, where the heartbeat's schedule starts.
pub(super) async fn process<H: BatchHandler>(
    shared: Arc<Shared<H>>,
    batch: Vec<Message>,
    permits: OwnedSemaphorePermit,
    received: Instant,
) {
    let ids: Vec<&str> = batch.iter().map(|m| m.message_id.as_str()).collect();
    let span = tracing::info_span!("batch", size = batch.len(), message_ids = ?ids);
    async {
        log_redeliveries(&batch);
        let deleted = Deleted::default();
        let (tx, rx) = mpsc::unbounded_channel();
        let deciding = keep_invisible(
            &shared,
            &batch,
            &deleted,
            received,
            decide(&shared, &batch, Settled(tx)),
        );
        let (decision, ()) = tokio::join!(deciding, delete_early(&shared, &batch, rx, &deleted));
        let deleted = deleted
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rest = |b: &[Message]| -> Vec<Message> {
            b.iter()
                .enumerate()
                .filter(|(i, _)| !deleted.contains(i))
                .map(|(_, m)| m.clone())
                .collect()
        };
        match decision {
            Decision::Decided(dispositions) => {
                let dispositions = dispositions
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| !deleted.contains(i))
                    .map(|(_, d)| d)
                    .collect();
                settle(&shared, &rest(&batch), dispositions).await
            }
            Decision::Undecided => release(&shared, &rest(&batch)).await,
            Decision::Abandoned => deadline::abandon(&shared, &rest(&batch)).await,
        }
    }
    .instrument(span)
    .await;
    drop(permits);
}

/// Names each message that comes again (a receive count above one): how often a message
/// came back, and to which process, is what explains one that ends in the DLQ.
fn log_redeliveries(batch: &[Message]) {
    for m in batch.iter().filter(|m| m.receive_count > 1) {
        tracing::info!(message_id = %m.message_id, receive_count = m.receive_count,
            last_delivery = m.last_delivery, "message delivered again");
    }
}

/// Asks the handler, unless an outage holds the gate (this batch was received as it
/// began): then it waits for the gate first, so it is not failed for nothing.
async fn decide<H: BatchHandler>(
    shared: &Shared<H>,
    batch: &[Message],
    settled: Settled,
) -> Decision {
    tokio::select! {
        biased;
        () = shared.gate.opened() => {}
        () = shared.shutdown.cancelled() => return Decision::Undecided,
    }
    let call = shared.handler.handle_settling(batch.to_vec(), settled);
    match deadline::within(shared, call).await {
        Some(Ok(dispositions)) => Decision::Decided(dispositions),
        Some(Err(outage)) => hold(shared, batch, outage).await,
        None => Decision::Abandoned,
    }
}

/// Deletes the messages the handler reports done while the rest are still being decided,
/// in batched deletes of whatever has arrived. On FIFO a message waits until every earlier
/// message of its group in the batch is gone, so none overtakes one that may yet be retried.
async fn delete_early<H>(
    shared: &Shared<H>,
    batch: &[Message],
    mut done: mpsc::UnboundedReceiver<usize>,
    deleted: &Deleted,
) {
    let mut ready: BTreeSet<usize> = BTreeSet::new();
    while let Some(first) = done.recv().await {
        ready.insert(first);
        while let Ok(more) = done.try_recv() {
            ready.insert(more);
        }
        let gone = deleted.lock().map(|d| d.clone()).unwrap_or_default();
        let go: Vec<usize> = ready
            .iter()
            .copied()
            .filter(|&i| !shared.config.fifo || policy::group_clear_before(batch, i, &gone, &ready))
            .collect();
        let messages: Vec<&Message> = go.iter().filter_map(|&i| batch.get(i)).collect();
        shared
            .stats
            .add(Counted::Deleted, shared.deletes.delete(&messages).await);
        ready.retain(|i| !go.contains(i));
        if let Ok(mut d) = deleted.lock() {
            d.extend(go);
        }
    }
}

/// Holds the batch through an outage: the gate stays closed while the handler's health is
/// probed with backoff; once healthy the same batch (same receipt handles) is handled
/// again, and only a decision reopens the gate.
async fn hold<H: BatchHandler>(shared: &Shared<H>, batch: &[Message], outage: Outage) -> Decision {
    let hold = shared.gate.close(&outage);
    shared.stats.add(Counted::HeldForOutage, batch.len());
    let mut probes = Backoff::standard();
    loop {
        if !wait_or_shutdown(shared, probes.next_delay()).await {
            return Decision::Undecided;
        }
        if !shared.handler.healthy().await {
            continue;
        }
        match deadline::within(shared, shared.handler.handle(batch.to_vec())).await {
            Some(Ok(dispositions)) => {
                hold.recovered();
                return Decision::Decided(dispositions);
            }
            None => return Decision::Abandoned,
            Some(Err(still)) => tracing::debug!(
                dependency = still.dependency,
                detail = %still.detail,
                "healthy, yet the batch hit the outage again; still holding"
            ),
        }
    }
}

async fn wait_or_shutdown<H>(shared: &Shared<H>, delay: std::time::Duration) -> bool {
    tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => false,
        () = tokio::time::sleep(delay) => true,
    }
}

/// Runs `work` while the heartbeat keeps the batch invisible, so slow work (or an outage
/// hold) is not redelivered to another consumer meanwhile.
async fn keep_invisible<H, T>(
    shared: &Shared<H>,
    batch: &[Message],
    deleted: &Deleted,
    received: Instant,
    work: impl Future<Output = T>,
) -> T {
    tokio::select! {
        out = work => out,
        never = heartbeat::run(shared, batch, deleted, received) => match never {},
    }
}

/// Carries out the handler's decision: dead letters moved, one batch delete (of the done
/// and the moved), one backed-off retry per Retry (and per dead letter that could not move).
async fn settle<H>(shared: &Shared<H>, batch: &[Message], dispositions: Vec<Disposition>) {
    let (mut dispositions, fixed) = policy::fit_to_batch(dispositions, batch.len());
    if fixed {
        tracing::error!(
            messages = batch.len(),
            "the handler's dispositions do not match the batch; missing ones are retried"
        );
    }
    if shared.config.fifo {
        policy::keep_group_order(batch, &mut dispositions);
    }
    let with = |wanted: Disposition| -> Vec<&Message> {
        let pairs = batch.iter().zip(&dispositions);
        pairs
            .filter(|(_, d)| **d == wanted)
            .map(|(m, _)| m)
            .collect()
    };
    let (mut delete, mut retry) = (with(Disposition::Delete), with(Disposition::Retry));
    let failed: Vec<(&Message, &str)> = batch
        .iter()
        .zip(&dispositions)
        .filter_map(|(m, d)| match d {
            Disposition::DeadLetter { reason } => Some((m, reason.as_str())),
            _ => None,
        })
        .collect();
    let moved = shared.sqs.move_to_dead_letter(&failed).await;
    shared.stats.add(Counted::DeadLettered, moved.len());
    retry.extend(
        failed
            .iter()
            .map(|(m, _)| *m)
            .filter(|m| !moved.contains(m)),
    );
    delete.extend(moved);
    shared
        .stats
        .add(Counted::Deleted, shared.deletes.delete(&delete).await);
    retry_later(shared, &retry).await;
}

/// Leaves `messages` for redelivery after their backoff (see [`policy::retry_delay_secs`]).
async fn retry_later<H>(shared: &Shared<H>, messages: &[&Message]) {
    if messages.is_empty() {
        return;
    }
    let cap = shared.config.max_backoff;
    let changes: Vec<(&Message, i32)> = messages
        .iter()
        .map(|m| {
            (
                *m,
                policy::retry_delay_secs(m.receive_count, cap, rand::random()),
            )
        })
        .collect();
    shared.stats.add(Counted::Retried, messages.len());
    shared.sqs.set_visibility(&changes, "retry").await;
}

/// Makes undecided messages visible again at once, so another consumer takes them now
/// rather than after the visibility timeout.
async fn release<H>(shared: &Shared<H>, batch: &[Message]) {
    let released = shared.sqs.make_visible(batch, "release on shutdown").await;
    shared.stats.add(Counted::ReleasedOnShutdown, released);
    tracing::info!(
        released,
        "shutdown: undecided messages returned to the queue"
    );
}
