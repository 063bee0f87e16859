//! Deciding one invocation's records within its time. The handler is asked; an outage is
//! waited out as the consumer's hold does (health probed with backoff, then the same batch
//! asked again) until the dependency is back or the cutoff comes. Failing at once instead
//! would spend a receive per invocation, and valid commands would reach the DLQ after
//! `maxReceiveCount` invocations of one outage.
//!
//! Records the handler settled on the way (their unit committed) are done whatever happens
//! next; the others are failures when time runs out. A call still running at the cutoff is
//! dropped: what it committed meanwhile is a duplicate on redelivery (the inbox), as with
//! the consumer's processing deadline.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use tokio::time::{sleep_until, timeout_at, Instant};

use crate::queue::consumer::policy::Backoff;
use crate::queue::consumer::{BatchHandler, Disposition, Message, Outage, Settled};

/// One disposition per message of `batch`, decided by `cutoff`.
pub(super) async fn decide<H: BatchHandler>(
    handler: &H,
    batch: Vec<Message>,
    cutoff: Instant,
) -> Vec<Disposition> {
    let (settled, mut reported) = Settled::channel();
    let decided = wait_out(handler, &batch, &settled, cutoff).await;
    let last_outage = match decided {
        Ok(dispositions) => return dispositions,
        Err(last_outage) => last_outage,
    };
    let mut done = BTreeSet::new();
    while let Ok(index) = reported.try_recv() {
        done.insert(index);
    }
    let dispositions: Vec<Disposition> = (0..batch.len())
        .map(|i| {
            if done.contains(&i) {
                Disposition::Delete
            } else {
                Disposition::Retry
            }
        })
        .collect();
    let failed = dispositions
        .iter()
        .filter(|d| **d == Disposition::Retry)
        .count();
    match last_outage {
        Some(outage) => tracing::warn!(
            dependency = outage.dependency,
            detail = %outage.detail,
            failed,
            "outage outlasted the invocation's time: undecided records reported failed (SQS redelivers them after the visibility timeout)"
        ),
        None => tracing::warn!(
            failed,
            "the batch did not finish within the invocation's time: undecided records reported failed"
        ),
    }
    dispositions
}

/// The handler's answer, waiting out outages; `Err` when `cutoff` came first, with the
/// outage that was being waited out, if any.
async fn wait_out<H: BatchHandler>(
    handler: &H,
    batch: &[Message],
    settled: &Settled,
    cutoff: Instant,
) -> Result<Vec<Disposition>, Option<Outage>> {
    let ask = move || handler.handle_settling(batch.to_vec(), settled.clone());
    let mut outage = match by(cutoff, ask()).await {
        Some(Ok(dispositions)) => return Ok(dispositions),
        Some(Err(outage)) => outage,
        None => return Err(None),
    };
    let waiting = Instant::now();
    tracing::warn!(
        dependency = outage.dependency,
        detail = %outage.detail,
        left = ?cutoff.saturating_duration_since(waiting),
        "outage: waiting for the dependency within the invocation's time"
    );
    // Probes are cheap and the invocation's time is short: at most 1 s of it goes unused
    // after the dependency is back (the consumer waits up to 5 s between probes).
    let mut probes = Backoff::between(Duration::from_millis(200), Duration::from_secs(1));
    loop {
        let wake = (Instant::now() + probes.next_delay()).min(cutoff);
        sleep_until(wake).await;
        if wake >= cutoff {
            return Err(Some(outage));
        }
        if !by(cutoff, handler.healthy()).await.unwrap_or(false) {
            continue;
        }
        match by(cutoff, ask()).await {
            Some(Ok(dispositions)) => {
                tracing::info!(lasted = ?waiting.elapsed(), "outage over: the batch went through");
                return Ok(dispositions);
            }
            Some(Err(still)) => outage = still,
            None => return Err(Some(outage)),
        }
    }
}

/// `work`'s output, unless `cutoff` comes first.
async fn by<T>(cutoff: Instant, work: impl Future<Output = T>) -> Option<T> {
    timeout_at(cutoff, work).await.ok()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use Disposition::{Delete, Retry};

    /// Down for its first `outages` calls (having settled message 0 when `settles_first`),
    /// then decides everything; `hangs` makes every call hang instead.
    #[derive(Default)]
    struct Flaky {
        outages: usize,
        settles_first: bool,
        hangs: bool,
        calls: AtomicUsize,
    }

    impl BatchHandler for Flaky {
        async fn handle(&self, batch: Vec<Message>) -> Result<Vec<Disposition>, Outage> {
            let (settled, _reported) = Settled::channel();
            self.handle_settling(batch, settled).await
        }

        async fn handle_settling(
            &self,
            batch: Vec<Message>,
            settled: Settled,
        ) -> Result<Vec<Disposition>, Outage> {
            if self.hangs {
                std::future::pending::<()>().await;
            }
            if self.settles_first {
                settled.done(0);
            }
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.outages {
                return Err(Outage {
                    dependency: "redis",
                    detail: "down".into(),
                });
            }
            Ok(vec![Delete; batch.len()])
        }

        async fn healthy(&self) -> bool {
            true
        }
    }

    fn batch(len: usize) -> Vec<Message> {
        (0..len)
            .map(|i| Message {
                message_id: format!("m-{i}"),
                receipt_handle: String::new(),
                body: String::new(),
                group_id: None,
                receive_count: 1,
                sent_at: None,
                last_delivery: false,
                traceparent: None,
            })
            .collect()
    }

    fn in_ms(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[tokio::test]
    async fn given_an_outage_shorter_than_the_time_left_then_it_is_waited_out_and_nothing_fails() {
        let handler = Flaky {
            outages: 2,
            ..Flaky::default()
        };

        let dispositions = decide(&handler, batch(3), in_ms(5_000)).await;

        assert_eq!(dispositions, vec![Delete; 3]);
        assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn given_an_outage_past_the_cutoff_then_the_undecided_fail_and_the_settled_do_not() {
        let handler = Flaky {
            outages: usize::MAX,
            settles_first: true,
            ..Flaky::default()
        };
        let started = Instant::now();

        let dispositions = decide(&handler, batch(3), in_ms(700)).await;

        assert_eq!(dispositions, vec![Delete, Retry, Retry]);
        assert!(started.elapsed() < Duration::from_millis(1_500));
        assert!(handler.calls.load(Ordering::SeqCst) > 1, "it tried again");
    }

    #[tokio::test]
    async fn given_a_call_still_running_at_the_cutoff_then_it_is_cut_and_its_records_fail() {
        let handler = Flaky {
            hangs: true,
            ..Flaky::default()
        };

        let dispositions = decide(&handler, batch(2), in_ms(300)).await;

        assert_eq!(dispositions, vec![Retry, Retry]);
    }
}
