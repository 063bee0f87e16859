//! The processing deadline of one batch. A handler call still running at the deadline is
//! abandoned: its future is dropped (and with it the batch's heartbeat, which only runs
//! beside the decision), and the messages not yet settled are made visible again at once, so
//! a hung batch is neither kept invisible forever nor left to wait out a visibility timeout.
//! Whatever the abandoned call committed meanwhile is a duplicate on redelivery.
//!
//! The deadline bounds each handler call, not the time a batch waits for the outage gate or
//! is held through an outage: holding is deliberate and ends when the dependency is back.

use std::future::Future;
use std::time::Duration;

use super::stats::Counted;
use super::{Message, Shared};

/// Runs one handler call under the processing deadline; `None` if the deadline came first.
pub(super) async fn within<H, T>(shared: &Shared<H>, call: impl Future<Output = T>) -> Option<T> {
    let call = async {
        hang().await;
        call.await
    };
    tokio::time::timeout(shared.config.processing_deadline, call)
        .await
        .ok()
}

/// Gives the unsettled messages of an abandoned batch back to the queue, and counts them
/// (`fulfil_messages_abandoned_total`, and the consumer's `abandoned` counter).
pub(super) async fn abandon<H>(shared: &Shared<H>, batch: &[Message]) {
    let deadline = shared.config.processing_deadline;
    tracing::warn!(
        ?deadline,
        messages = batch.len(),
        "batch past its processing deadline: abandoned, its messages returned to the queue"
    );
    shared.stats.add(Counted::Abandoned, batch.len());
    metrics::counter!("fulfil_messages_abandoned_total").increment(batch.len() as u64);
    shared
        .sqs
        .make_visible(batch, "return after the processing deadline")
        .await;
}

/// The `consumer::hang_batch` failpoint (fault tests only): `return` holds every handler
/// call until the deadline abandons it (or the process ends), `return(MS)` delays each by MS
/// milliseconds.
async fn hang() {
    let Some(value) = crate::failpoint::value("consumer::hang_batch") else {
        return;
    };
    match value.trim().parse::<u64>() {
        Ok(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Err(_) => {
            tracing::warn!("failpoint consumer::hang_batch: holding the batch");
            std::future::pending::<()>().await;
        }
    }
}
