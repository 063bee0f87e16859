//! The consumer's pure decisions, kept apart from I/O so they are tested without a queue:
//! backoff schedules, the retry delay, and FIFO group ordering.

use std::collections::HashSet;
use std::time::Duration;

use super::{Disposition, Message};

/// SQS's largest visibility timeout: 12 hours.
const MAX_VISIBILITY_SECS: u64 = 43_200;

/// A doubling delay between `first` and `cap`, for receive errors and health probes.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    /// 200 ms doubling to 5 s: quick to notice a recovery, never a hot loop.
    pub(super) fn standard() -> Self {
        Self::between(Duration::from_millis(200), Duration::from_secs(5))
    }

    /// Doubling from `first` to `cap`.
    pub(crate) fn between(first: Duration, cap: Duration) -> Self {
        Self {
            first,
            cap,
            next: first,
        }
    }

    /// The delay to wait now; the following one is twice as long, up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.cap);
        now
    }

    pub(super) fn reset(&mut self) {
        self.next = self.first;
    }
}

/// Seconds a retried message stays invisible: 2^(receive_count−1) s capped at `max_backoff`
/// (at least 1 s, so a retry is never a hot loop), plus up to a quarter more (at least one
/// second's worth of choice) so messages that failed together do not return together.
/// `jitter` is a draw from `[0, 1)`.
pub(super) fn retry_delay_secs(receive_count: u32, max_backoff: Duration, jitter: f64) -> i32 {
    let exponent = receive_count.saturating_sub(1).min(16);
    let base = (1u64 << exponent).min(max_backoff.as_secs()).max(1);
    let spread = base.div_ceil(4) + 1;
    let extra = (jitter.clamp(0.0, 1.0) * spread as f64) as u64;
    let secs = (base + extra.min(spread - 1)).min(MAX_VISIBILITY_SECS);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

/// Makes the handler's answer one disposition per message: a missing one is a retry (the
/// safe choice), extra ones are ignored. Returns whether the answer had to be fixed.
pub(super) fn fit_to_batch(
    mut dispositions: Vec<Disposition>,
    len: usize,
) -> (Vec<Disposition>, bool) {
    let fixed = dispositions.len() != len;
    dispositions.resize(len, Disposition::Retry);
    (dispositions, fixed)
}

/// On a FIFO queue a later message of a group must never overtake an earlier one: once a
/// message of group G is retried, every later message of G in the batch is retried too.
pub(super) fn keep_group_order(batch: &[Message], dispositions: &mut [Disposition]) {
    let mut blocked: HashSet<&str> = HashSet::new();
    for (message, disposition) in batch.iter().zip(dispositions.iter_mut()) {
        let Some(group) = message.group_id.as_deref() else {
            continue;
        };
        if blocked.contains(group) {
            *disposition = Disposition::Retry;
        } else if *disposition == Disposition::Retry {
            blocked.insert(group);
        }
    }
}

/// Whether every message before `index` in `batch` of the same FIFO group is deleted or
/// about to be (`ready`): only then may `index` be deleted early without overtaking one.
pub(super) fn group_clear_before(
    batch: &[Message],
    index: usize,
    deleted: &std::collections::BTreeSet<usize>,
    ready: &std::collections::BTreeSet<usize>,
) -> bool {
    let group = batch.get(index).and_then(|m| m.group_id.as_deref());
    batch[..index.min(batch.len())]
        .iter()
        .enumerate()
        .filter(|(_, m)| m.group_id.as_deref() == group)
        .all(|(j, _)| deleted.contains(&j) || ready.contains(&j))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Disposition::{Delete, Retry};

    fn in_group(group: &str) -> Message {
        Message {
            message_id: String::new(),
            receipt_handle: String::new(),
            body: String::new(),
            group_id: Some(group.to_owned()),
            receive_count: 1,
            sent_at: None,
            last_delivery: false,
            traceparent: None,
        }
    }

    #[test]
    fn given_a_retry_in_a_group_when_ordered_then_later_messages_of_that_group_are_retried() {
        let batch = ["g", "h", "g", "g", "h"].map(in_group);
        let mut d = vec![Delete, Delete, Retry, Delete, Delete];
        keep_group_order(&batch, &mut d);
        assert_eq!(d, vec![Delete, Delete, Retry, Retry, Delete]);
    }

    #[test]
    fn a_fifo_message_is_deleted_early_only_after_the_earlier_ones_of_its_group() {
        let batch = ["g", "h", "g"].map(in_group);
        let none = std::collections::BTreeSet::new();
        let ready = std::collections::BTreeSet::from([2]);
        assert!(!group_clear_before(&batch, 2, &none, &ready));
        assert!(group_clear_before(
            &batch,
            2,
            &std::collections::BTreeSet::from([0]),
            &ready
        ));
        assert!(group_clear_before(&batch, 1, &none, &ready));
    }

    #[test]
    fn given_no_groups_when_ordered_then_nothing_changes() {
        let mut batch = [in_group("g"), in_group("g")];
        batch.iter_mut().for_each(|m| m.group_id = None);
        let mut d = vec![Retry, Delete];
        keep_group_order(&batch, &mut d);
        assert_eq!(d, vec![Retry, Delete]);
    }

    #[test]
    fn given_a_short_answer_when_fitted_then_missing_dispositions_are_retries() {
        assert_eq!(
            fit_to_batch(vec![Delete], 3),
            (vec![Delete, Retry, Retry], true)
        );
        assert_eq!(fit_to_batch(vec![Delete, Delete], 1), (vec![Delete], true));
        assert_eq!(fit_to_batch(vec![Retry], 1), (vec![Retry], false));
    }

    #[test]
    fn retry_delay_doubles_per_receive_and_stops_at_the_cap_plus_jitter() {
        let cap = Duration::from_secs(60);
        let delays: Vec<i32> = (1..=8).map(|n| retry_delay_secs(n, cap, 0.0)).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(retry_delay_secs(7, cap, 0.999), 60 + 15);
        assert_eq!(retry_delay_secs(1, cap, 0.999), 2);
    }

    #[test]
    fn retry_delay_is_at_least_a_second_and_within_sqs_limits() {
        assert_eq!(retry_delay_secs(0, Duration::ZERO, 0.0), 1);
        assert_eq!(retry_delay_secs(u32::MAX, Duration::MAX, 0.5), 43_200);
    }

    #[test]
    fn backoff_doubles_from_200_ms_to_5_s_and_resets() {
        let mut b = Backoff::standard();
        let ms: Vec<u128> = (0..7).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(ms, vec![200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(200));
    }
}
