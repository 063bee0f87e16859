//! One long-poll loop: wait for the outage gate and for message permits, receive, hand the
//! batch to its own task, repeat until shutdown. Receiving is the only thing it does, so a
//! slow batch never delays the next receive beyond what the permits allow. A long poll in
//! flight at shutdown is waited out, and what it brings goes straight back to the queue.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tracing::Instrument;

use super::policy::Backoff;
use super::stats::Counted;
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
        if !paced(shared).await {
            return;
        }
        let asked = Instant::now();
        let Some(received) = receive_unless_shutdown(shared, asked).await else {
            return;
        };
        match received {
            Ok(batch) => {
                backoff.reset();
                let wanted = usize::try_from(shared.config.batch_size).unwrap_or(10);
                shared.pace.received(batch.len(), wanted);
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

/// Waits for this poller's turn (see [`super::pace`]); `false` on shutdown.
async fn paced<H>(shared: &Shared<H>) -> bool {
    tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => false,
        () = shared.pace.turn() => true,
    }
}

/// Time a long poll in flight at shutdown is given beyond its wait to answer; an answer
/// later than that is a stalled connection, not SQS holding the poll.
const LATE_ANSWER: Duration = Duration::from_secs(5);

/// One receive; `None` once shutdown has begun. A long poll in flight at shutdown is not
/// dropped: SQS may already have handed it messages, and a dropped request would leave them
/// invisible for the whole visibility timeout with a receive spent. It is waited out (it
/// answers within `wait_time`, as soon as messages arrive) and what it brings is made
/// visible again at once. An outage beginning meanwhile does not abandon it either: what it
/// brings is held by its batch task until the gate reopens.
async fn receive_unless_shutdown<H>(
    shared: &Shared<H>,
    asked: Instant,
) -> Option<Result<Vec<Message>, QueueError>> {
    shared.stats.add(Counted::ReceiveCalls, 1);
    metrics::counter!("fulfil_receive_requests_total").increment(1);
    let config = &shared.config;
    let receive = shared.sqs.receive(
        config.batch_size,
        config.wait_time,
        config.visibility_timeout,
    );
    tokio::pin!(receive);
    let early = tokio::select! {
        received = &mut receive => Some(received),
        () = shared.shutdown.cancelled() => None,
    };
    let received = match early {
        Some(received) => received,
        None => wait_out(shared, receive, asked).await?,
    };
    if !shared.shutdown.is_cancelled() {
        return Some(received);
    }
    give_back(shared, received).await;
    None
}

/// The rest of a long poll in flight at shutdown, up to its wait and [`LATE_ANSWER`].
async fn wait_out<H, F>(shared: &Shared<H>, receive: F, asked: Instant) -> Option<F::Output>
where
    F: Future,
{
    let wait = shared.config.wait_time;
    tracing::info!(
        ?wait,
        "shutdown: waiting out the long poll in flight; what it brings goes back to the queue"
    );
    let answered = tokio::time::timeout_at(asked + wait + LATE_ANSWER, receive).await;
    if answered.is_err() {
        tracing::warn!(
            "shutdown: the long poll in flight did not answer in time; dropped (anything \
             it took stays invisible until its visibility timeout)"
        );
    }
    answered.ok()
}

/// Makes what a receive brought after shutdown began visible again at once.
async fn give_back<H>(shared: &Shared<H>, received: Result<Vec<Message>, QueueError>) {
    let messages = match received {
        Ok(messages) if !messages.is_empty() => messages,
        _ => return,
    };
    shared.stats.add(Counted::Received, messages.len());
    let returned = shared
        .sqs
        .make_visible(&messages, "return after shutdown")
        .await;
    shared.stats.add(Counted::ReleasedOnShutdown, returned);
    tracing::info!(
        received = messages.len(),
        returned,
        "shutdown: messages a long poll brought after shutdown returned to the queue"
    );
}

/// Keeps one permit per received message (for the batch task to hold) and gives back the
/// rest, then starts the batch's task; `asked` is when the receive was sent.
fn dispatch<H: BatchHandler>(
    shared: &Arc<Shared<H>>,
    batch: Vec<Message>,
    mut permits: OwnedSemaphorePermit,
    asked: Instant,
) {
    if batch.is_empty() {
        return;
    }
    shared.stats.add(Counted::Received, batch.len());
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
    shared.stats.add(Counted::ReceiveErrors, 1);
    let delay = backoff.next_delay();
    tracing::warn!(%error, retry_in = ?delay, "receive failed; backing off");
    tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => false,
        () = tokio::time::sleep(delay) => true,
    }
}
