//! The Lambda adapter: an SQS event (up to 10 records) through the same batch handler the
//! long-running consumer uses, answered with partial batch failures (`batchItemFailures`),
//! so only the records that failed come back. On FIFO queues the first failure and every
//! record after it are reported failed: Lambda must not let later messages of a group
//! overtake an earlier one, and a record after the failure was never attempted out of turn.
//!
//! Lambda cannot hold a batch the way the consumer's outage gate does, but it can wait:
//! through an outage the handler waits for the dependency within the invocation's own time
//! (see `hold`), and reports records failed only when that time runs out. `budget` is the
//! start-up check that the function's timeout leaves room for the worker's own retries.

pub mod budget;
mod hold;

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use tokio::time::Instant;

use crate::queue::consumer::{BatchHandler, Disposition, Message};

/// Kept back from the invocation's deadline to answer (the report itself takes
/// milliseconds); also what [`budget`] adds to the worker's retry budget.
pub const REPORT_MARGIN: Duration = Duration::from_secs(2);

/// Runs one SQS event through `handler` and answers before `deadline` (the invocation's,
/// see [`deadline_of`]). An outage is waited out while time remains; the records still
/// undecided when it runs out are reported failed, and SQS redelivers them after the
/// visibility timeout (one receive spent: size `maxReceiveCount` for it, see the README).
pub async fn handle_sqs_event<H: BatchHandler>(
    handler: &H,
    event: SqsEvent,
    fifo: bool,
    deadline: Instant,
) -> SqsBatchResponse {
    let messages: Vec<Message> = event.records.into_iter().map(message).collect();
    let ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
    let cutoff = deadline.checked_sub(REPORT_MARGIN).unwrap_or(deadline);
    let dispositions = hold::decide(handler, messages, cutoff).await;
    let mut response = SqsBatchResponse::default();
    for position in failed_positions(&dispositions, ids.len(), fifo) {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = ids[position].clone();
        response.batch_item_failures.push(failure);
    }
    response
}

/// The invocation's deadline (the Lambda context's, a wall-clock time) on the monotonic
/// clock the handler waits with; a deadline already past is now.
pub fn deadline_of(context_deadline: SystemTime) -> Instant {
    let left = context_deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + left
}

/// The deadline to answer an invocation that has just arrived by: the context's (see
/// [`deadline_of`]), unless that is already past. Lambda hands an invocation out with its
/// deadline ahead; a past one is a runtime API that sends something else (cargo-lambda's
/// emulator sends the timeout as a duration, 600 000 ms, which reads as 1970). Trusted, it
/// would report every record failed at once, each failure a receive spent towards the DLQ;
/// so the function timeout (`FULFIL_LAMBDA_TIMEOUT_SECONDS`), from now, stands in for it,
/// or with no timeout set, the answer is due at once as before.
pub fn invocation_deadline(
    context_deadline: SystemTime,
    function_timeout: Option<Duration>,
) -> Instant {
    if context_deadline > SystemTime::now() {
        return deadline_of(context_deadline);
    }
    warn_once_of_a_past_deadline(context_deadline, function_timeout);
    Instant::now() + function_timeout.unwrap_or(Duration::ZERO)
}

fn warn_once_of_a_past_deadline(context_deadline: SystemTime, stand_in: Option<Duration>) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        let deadline_ms = context_deadline
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        tracing::warn!(
            deadline_ms,
            stand_in = ?stand_in,
            "the runtime API sent a deadline already past (not Lambda's Unix time in ms): \
             answering by the function timeout instead, when FULFIL_LAMBDA_TIMEOUT_SECONDS is set"
        );
    });
}

/// Positions reported failed: every Retry, and on FIFO everything from the first one on.
fn failed_positions(dispositions: &[Disposition], len: usize, fifo: bool) -> Vec<usize> {
    let retry = |i: usize| !matches!(dispositions.get(i), Some(Disposition::Delete));
    match (fifo, (0..len).find(|&i| retry(i))) {
        (true, Some(first)) => (first..len).collect(),
        _ => (0..len).filter(|&i| retry(i)).collect(),
    }
}

fn message(record: SqsMessage) -> Message {
    let attribute = |name: &str| record.attributes.get(name).cloned();
    let sent_at = attribute("SentTimestamp")
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
    Message {
        message_id: record.message_id.clone().unwrap_or_default(),
        receipt_handle: record.receipt_handle.clone().unwrap_or_default(),
        body: record.body.clone().unwrap_or_default(),
        group_id: attribute("MessageGroupId"),
        receive_count: attribute("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1),
        sent_at,
        // The event source mapping reports failures; SQS's redrive does the dead-lettering.
        last_delivery: false,
        traceparent: record
            .message_attributes
            .get(crate::trace::ATTRIBUTE)
            .and_then(|v| v.string_value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Disposition::{Delete, Retry};

    #[test]
    fn on_fifo_the_first_failure_and_everything_after_it_fail() {
        assert_eq!(
            failed_positions(&[Delete, Retry, Delete, Delete], 4, true),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn on_standard_queues_only_the_failures_fail() {
        assert_eq!(
            failed_positions(&[Delete, Retry, Delete, Retry], 4, false),
            vec![1, 3]
        );
    }

    #[test]
    fn a_missing_answer_counts_as_a_failure() {
        assert_eq!(failed_positions(&[Delete], 2, false), vec![1]);
        assert!(failed_positions(&[Delete, Delete], 2, true).is_empty());
    }

    #[test]
    fn a_past_context_deadline_gives_way_to_the_function_timeout() {
        let emulator = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
        let now = Instant::now();
        let by_timeout = invocation_deadline(emulator, Some(Duration::from_secs(30)));
        assert!(by_timeout >= now + Duration::from_secs(29));
        assert!(by_timeout <= Instant::now() + Duration::from_secs(30));
        assert!(invocation_deadline(emulator, None) <= Instant::now());
    }

    #[test]
    fn a_future_context_deadline_is_kept_whatever_the_function_timeout() {
        let lambda = SystemTime::now() + Duration::from_secs(5);
        let deadline = invocation_deadline(lambda, Some(Duration::from_secs(900)));
        assert!(deadline <= Instant::now() + Duration::from_secs(5));
    }

    #[test]
    fn the_context_deadline_becomes_the_time_left_on_the_monotonic_clock() {
        let now = Instant::now();
        let soon = deadline_of(SystemTime::now() + Duration::from_secs(30));
        assert!(soon >= now + Duration::from_secs(29) && soon <= now + Duration::from_secs(31));
        let past = deadline_of(SystemTime::now() - Duration::from_secs(5));
        assert!(past <= Instant::now());
    }
}
