//! The visibility heartbeat of one batch: while it is decided (or held through an outage), its
//! messages' visibility is extended back to the full timeout, early enough that one slow or
//! lost extension never lets a message reappear to another consumer. Two rules make that so:
//! the schedule ([`period`]) leaves room for a whole lost extension, and it counts from when
//! each call was *sent* (the receive's too), never from when an answer came, while calls
//! still unanswered never delay the next one. Touches only the batch's visibility.

use std::convert::Infallible;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::sqs::secs;
use super::stats::Counted;
use super::{Message, Shared};

/// Time to spare for an extension even after the one before it was lost: a connect timeout
/// (3 s) and a retried attempt, or a stalled answer from a loaded LocalStack, fit in it.
pub(super) const FLOOR: Duration = Duration::from_secs(10);

/// How often a batch whose visibility timeout is `timeout` is extended. Every
/// `(timeout − FLOOR) / 2`, so that when one extension is lost or hangs, the next one still
/// lands with [`FLOOR`] to spare; a single slow call has `timeout − period` (at least half
/// the timeout). Short timeouts cannot keep the floor: they extend every third of the
/// timeout (2 s: every 667 ms, each call with 1.3 s to spare), never more often, so the
/// heartbeat does not turn into a stream of calls. Never less often than every half.
pub(super) fn period(timeout: Duration) -> Duration {
    (timeout.saturating_sub(FLOOR) / 2).clamp(timeout / 3, timeout / 2)
}

/// Extends the visibility of `batch`'s messages not yet deleted on [`period`]'s schedule,
/// counted from `received` (when the receive was asked for: the messages cannot have turned
/// invisible earlier). Runs until dropped. Each call is given up after one timeout, after
/// which it could not help any more; so at most about three are ever in flight.
pub(super) async fn run<H>(
    shared: &Shared<H>,
    batch: &[Message],
    deleted: &super::Deleted,
    received: Instant,
) -> Infallible {
    let timeout = shared.config.visibility_timeout;
    let every = period(timeout);
    let mut next = received + every;
    let mut in_flight = FuturesUnordered::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {
                next = Instant::now() + every;
                let call = extend(shared, batch, deleted, timeout);
                in_flight.push(tokio::time::timeout(timeout, call));
            }
            Some(_) = in_flight.next(), if !in_flight.is_empty() => {}
        }
    }
}

/// One extension of the messages still held back to the full `timeout`.
async fn extend<H>(
    shared: &Shared<H>,
    batch: &[Message],
    deleted: &super::Deleted,
    timeout: Duration,
) {
    let gone = deleted.lock().map(|d| d.clone()).unwrap_or_default();
    let changes: Vec<(&Message, i32)> = batch
        .iter()
        .enumerate()
        .filter(|(i, _)| !gone.contains(i))
        .map(|(_, m)| (m, secs(timeout)))
        .collect();
    slow_call().await;
    let extended = shared.sqs.set_visibility(&changes, "heartbeat").await;
    shared.stats.add(Counted::Extended, extended);
    tracing::debug!(extended, "heartbeat extended visibility");
}

/// The `consumer::slow_heartbeat` failpoint: `return(MS)` delays an extension by MS
/// milliseconds, as a slow answer from SQS would (fault tests only).
async fn slow_call() {
    let delay = crate::failpoint::value("consumer::slow_heartbeat");
    if let Some(ms) = delay.and_then(|v| v.trim().parse::<u64>().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn short_timeouts_extend_every_third_and_long_ones_keep_the_floor_after_a_lost_call() {
        let table = [
            (1, Duration::from_nanos(333_333_333)),
            (2, Duration::from_nanos(666_666_666)),
            (5, Duration::from_nanos(1_666_666_666)),
            (30, secs(10)),
            (60, secs(25)),
            (300, secs(145)),
        ];
        for (timeout, expected) in table {
            assert_eq!(period(secs(timeout)), expected, "timeout {timeout} s");
        }
    }

    #[test]
    fn at_any_timeout_one_slow_call_has_half_and_one_lost_call_leaves_the_floor_or_a_third() {
        for timeout in (1..=43_200).map(secs) {
            let every = period(timeout);
            assert!(
                every >= timeout / 3,
                "{timeout:?}: every {every:?} is too often"
            );
            assert!(timeout - every >= timeout / 2, "{timeout:?}: {every:?}");
            let after_a_lost_call = timeout - every * 2;
            assert!(
                after_a_lost_call >= FLOOR.min(timeout / 3),
                "{timeout:?}: every {every:?} leaves {after_a_lost_call:?} after a lost call"
            );
        }
    }
}
