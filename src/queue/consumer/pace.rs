//! Receives spaced out while they come back part full. SQS answers a long poll as soon as
//! anything is there, so a queue fed at a steady rate below what the pollers could take is
//! drained a few messages per `ReceiveMessage`: on the e2e bench's FIFO queues at 80 % of
//! the bare pipeline, 3.9 messages a receive, a quarter of a call per command. While the
//! last receive came back part full, each receive starts at least `window` after the one
//! before it (the pollers take turns), so what arrives meanwhile fills the next; once one
//! comes back full (a backlog), the pollers receive side by side again without waiting.
//! A message waits at most about `window` longer to be received: before its decision, so
//! neither the decision's work nor anything after it waits. Like a Lambda event source's
//! batching window, for the same reason: fewer calls for the same messages.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub(super) struct ReceivePace {
    window: Duration,
    /// When the last paced receive started; the pollers queue on it in turn.
    last_start: Mutex<Option<Instant>>,
    /// The last receive came back part full (or empty).
    light: AtomicBool,
}

impl ReceivePace {
    pub(super) fn new(window: Duration) -> Self {
        Self {
            window,
            last_start: Mutex::new(None),
            light: AtomicBool::new(false),
        }
    }

    /// Waits for this poller's turn to receive: at once while receives come back full,
    /// otherwise `window` after the last receive started.
    pub(super) async fn turn(&self) {
        if self.window.is_zero() {
            return;
        }
        let mut last_start = self.last_start.lock().await;
        if let (true, Some(last)) = (self.light.load(Ordering::Relaxed), *last_start) {
            tokio::time::sleep_until(last + self.window).await;
        }
        *last_start = Some(Instant::now());
    }

    /// Notes how full a receive came back.
    pub(super) fn received(&self, messages: usize, batch_size: usize) {
        self.light.store(messages < batch_size, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn part_full_receives_start_a_window_apart_and_full_ones_at_once() {
        let pace = ReceivePace::new(Duration::from_millis(50));
        let started = Instant::now();
        pace.turn().await;
        pace.received(3, 10);
        pace.turn().await;
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        pace.received(10, 10);
        pace.turn().await;
        pace.turn().await;
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(50),
            "full: no wait"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_counts_from_the_last_start_so_a_long_poll_is_not_waited_twice() {
        let pace = ReceivePace::new(Duration::from_millis(50));
        pace.turn().await;
        tokio::time::sleep(Duration::from_millis(80)).await;
        pace.received(1, 10);
        let asked = Instant::now();
        pace.turn().await;
        assert_eq!(asked.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_window_nothing_waits() {
        let pace = ReceivePace::new(Duration::ZERO);
        pace.received(0, 10);
        let started = Instant::now();
        pace.turn().await;
        pace.turn().await;
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
