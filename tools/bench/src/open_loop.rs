//! Open-loop load: commands published at a fixed rate whatever the pipeline does, as buyers
//! arrive whether or not the shop keeps up. Every tick the messages that are due go out in
//! `PublishBatch` calls of up to ten, the calls running side by side so a slow call never
//! delays the schedule; only when 64 calls are in flight at once does the publisher itself
//! fall behind, which the result says (`most_behind`). A tick is the time ten messages take
//! to fall due (at most half a second), so calls are full as they are when (ii) publishes:
//! on LocalStack each call, not each message, costs a turn of the topic's one delivery
//! thread, and the ceiling and the pipeline must pay the same for their input.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};

use super::{queues, BenchError};
use fulfil::queue::publisher::{CommandPublisher, Outgoing};

const MOST_CALLS: usize = 64;

/// What the publisher did.
#[derive(Debug, Clone)]
pub struct Sent {
    /// When each message's call started, by index.
    pub at: Vec<DateTime<Utc>>,
    /// Messages per second from the first call to the last.
    pub per_s: f64,
    /// The most a call started after its first message was due.
    pub most_behind: Duration,
}

/// Publishes `messages` at `rate` per second; returns once every call has finished.
pub(super) async fn publish(
    publisher: &CommandPublisher,
    messages: &[Outgoing],
    rate: f64,
) -> Result<Sent, BenchError> {
    let started = Instant::now();
    let mut calls = FuturesUnordered::new();
    let mut sent = Sent {
        at: Vec::with_capacity(messages.len()),
        per_s: 0.0,
        most_behind: Duration::ZERO,
    };
    let mut ticker = tokio::time::interval(tick(rate));
    while sent.at.len() < messages.len() || !calls.is_empty() {
        tokio::select! {
            _ = ticker.tick(), if sent.at.len() < messages.len() => {
                let due = due(started.elapsed(), rate, messages.len());
                while sent.at.len() < due && calls.len() < MOST_CALLS {
                    let chunk = next_chunk(&mut sent, messages, due, started, rate);
                    calls.push(queues::publish_all(publisher, chunk));
                }
                if sent.at.len() == messages.len() {
                    sent.per_s = messages.len() as f64 / started.elapsed().as_secs_f64().max(1.0 / rate);
                }
            }
            Some(call) = calls.next(), if !calls.is_empty() => call?,
        }
    }
    Ok(sent)
}

/// The next up to ten due messages, noted as sent now.
fn next_chunk<'m>(
    sent: &mut Sent,
    messages: &'m [Outgoing],
    due: usize,
    started: Instant,
    rate: f64,
) -> &'m [Outgoing] {
    let first = sent.at.len();
    let chunk = &messages[first..due.min(first + 10)];
    let due_at = Duration::from_secs_f64(first as f64 / rate);
    sent.most_behind = sent
        .most_behind
        .max(started.elapsed().saturating_sub(due_at));
    sent.at.extend(std::iter::repeat_n(Utc::now(), chunk.len()));
    chunk
}

/// The time ten messages take to fall due, between 20 ms and half a second.
fn tick(rate: f64) -> Duration {
    Duration::from_secs_f64((10.0 / rate.max(1e-3)).clamp(0.02, 0.5))
}

/// Messages due after `elapsed`: message `i` is due at `i / rate` seconds.
fn due(elapsed: Duration, rate: f64, total: usize) -> usize {
    ((elapsed.as_secs_f64() * rate).floor() as usize + 1).min(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_i_is_due_at_i_over_the_rate() {
        assert_eq!(due(Duration::ZERO, 100.0, 1000), 1);
        assert_eq!(due(Duration::from_millis(995), 100.0, 1000), 100);
        assert_eq!(due(Duration::from_secs(1), 100.0, 1000), 101);
        assert_eq!(due(Duration::from_secs(60), 100.0, 1000), 1000);
    }

    #[test]
    fn a_tick_lets_ten_messages_fall_due() {
        assert_eq!(tick(100.0), Duration::from_millis(100));
        assert_eq!(tick(5.0), Duration::from_millis(500));
        assert_eq!(tick(10_000.0), Duration::from_millis(20));
    }
}
