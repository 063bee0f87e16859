//! Deletes shared by every batch of one consumer. A receive that came back part full would
//! otherwise cost a `DeleteMessageBatch` of its own, and on a queue fed at a steady rate
//! most receives do (SQS answers a long poll as soon as anything arrives). Here every
//! batch's deletes go to one task, which sends a call as soon as ten are waiting, or when
//! the oldest has waited `linger`: on a busy queue about one call per ten messages, at the
//! cost of up to `linger` more in flight for each message. The wait is off the command's
//! path: its work is committed, only its removal from the queue waits; a crash meanwhile
//! means a redelivery, which the handler's idempotency absorbs. With `linger` zero nothing
//! waits, and only deletes asked for at the same moment share a call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::sqs::{Sqs, SQS_BATCH_MAX};
use super::stats::{ConsumerStats, Counted};
use super::Message;

/// The handle the batches share; the task ends once every handle is dropped, after sending
/// what it still holds.
pub(super) struct Deleter {
    requests: mpsc::UnboundedSender<Request>,
}

/// One caller's messages and where its answer goes.
struct Request {
    messages: Vec<Message>,
    tally: Arc<Tally>,
}

/// How many of one caller's messages SQS confirmed; sent to the caller when the last call
/// carrying one of them is done, that is when the last clone is dropped.
struct Tally {
    confirmed: AtomicUsize,
    answer: Mutex<Option<oneshot::Sender<usize>>>,
}

impl Drop for Tally {
    fn drop(&mut self) {
        let answer = self.answer.get_mut().ok().and_then(Option::take);
        if let Some(answer) = answer {
            let _caller_gone = answer.send(self.confirmed.load(Ordering::Relaxed));
        }
    }
}

/// A message waiting for its call, with its caller's tally.
type Entry = (Message, Arc<Tally>);

impl Deleter {
    /// Starts the task that sends the deletes of `sqs`'s queue, counting its calls in
    /// `stats`.
    pub(super) fn start(sqs: Sqs, stats: Arc<ConsumerStats>, linger: Duration) -> Self {
        let (requests, waiting) = mpsc::unbounded_channel();
        let calls = Calls {
            sqs,
            stats,
            linger,
            held: Vec::new(),
            oldest: None,
            in_flight: JoinSet::new(),
        };
        tokio::spawn(send_until_closed(calls, waiting));
        Self { requests }
    }

    /// Deletes `messages`; returns how many SQS confirmed (none if the task is gone).
    pub(super) async fn delete(&self, messages: &[&Message]) -> usize {
        if messages.is_empty() {
            return 0;
        }
        let (answer, answered) = oneshot::channel();
        let tally = Arc::new(Tally {
            confirmed: AtomicUsize::new(0),
            answer: Mutex::new(Some(answer)),
        });
        let messages = messages.iter().map(|m| (*m).clone()).collect();
        if self.requests.send(Request { messages, tally }).is_err() {
            return 0;
        }
        answered.await.unwrap_or(0)
    }
}

/// The task: gathers requests into calls of ten, each call sent as soon as it is full or
/// its oldest message has waited `linger`; what is left when the handles are gone is sent
/// at once, and the calls in flight are waited for.
async fn send_until_closed(mut calls: Calls, mut waiting: mpsc::UnboundedReceiver<Request>) {
    while let Some(request) = calls.next_request(&mut waiting).await {
        calls.take(request);
        while let Ok(more) = waiting.try_recv() {
            calls.take(more);
        }
        calls.send_ready();
    }
    calls.send_all();
    while calls.in_flight.join_next().await.is_some() {}
}

/// The messages waiting for a call, and the calls under way.
struct Calls {
    sqs: Sqs,
    stats: Arc<ConsumerStats>,
    linger: Duration,
    held: Vec<Entry>,
    /// When the oldest held message arrived; `None` while none is held.
    oldest: Option<Instant>,
    in_flight: JoinSet<()>,
}

impl Calls {
    /// The next request, sending what is held whenever its oldest message has waited
    /// `linger` meanwhile; `None` once every handle is gone.
    async fn next_request(
        &mut self,
        waiting: &mut mpsc::UnboundedReceiver<Request>,
    ) -> Option<Request> {
        loop {
            let Some(since) = self.oldest else {
                return waiting.recv().await;
            };
            match tokio::time::timeout_at(since + self.linger, waiting.recv()).await {
                Ok(next) => return next,
                Err(_lingered) => self.send_all(),
            }
        }
    }

    fn take(&mut self, request: Request) {
        let tally = request.tally;
        let entries = request.messages.into_iter();
        self.held.extend(entries.map(|m| (m, Arc::clone(&tally))));
        self.oldest.get_or_insert_with(Instant::now);
    }

    /// Sends every full call; without a linger, the rest too.
    fn send_ready(&mut self) {
        match self.linger.is_zero() {
            true => self.send_all(),
            false => self.send_full(),
        }
        while self.in_flight.try_join_next().is_some() {}
    }

    /// Sends every full call of ten that the held messages make; the rest stays.
    fn send_full(&mut self) {
        while self.held.len() >= SQS_BATCH_MAX {
            let rest = self.held.split_off(SQS_BATCH_MAX);
            let call = std::mem::replace(&mut self.held, rest);
            self.spawn(call);
        }
        if self.held.is_empty() {
            self.oldest = None;
        }
    }

    fn spawn(&mut self, call: Vec<Entry>) {
        self.stats.add(Counted::DeleteCalls, 1);
        self.in_flight.spawn(send(self.sqs.clone(), call));
    }

    /// Sends everything held, in calls of up to ten.
    fn send_all(&mut self) {
        self.send_full();
        if !self.held.is_empty() {
            let call = std::mem::take(&mut self.held);
            self.spawn(call);
        }
        self.oldest = None;
    }
}

/// One `DeleteMessageBatch`; each message SQS confirmed counts for its caller.
async fn send(sqs: Sqs, call: Vec<Entry>) {
    let messages: Vec<&Message> = call.iter().map(|(m, _)| m).collect();
    let confirmed = sqs.delete_chunk(&messages).await;
    for ((_, tally), ok) in call.iter().zip(confirmed) {
        if ok {
            tally.confirmed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
