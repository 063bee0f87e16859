//! The projector as the SQS consumer's batch handler, giving each message its
//! [`Disposition`]. Each body is a change event (raw delivery); the batch's events go to the
//! read database in one transaction. Every event that reaches the read database is deleted,
//! whatever its [`Verdict`] (applied, or already applied: the view holds it or a newer
//! version) and whatever order it came in; an unreadable body is retried into
//! the projector DLQ; a read-database outage holds the batch. An unexpected failure is
//! narrowed down by applying the events one by one.

use chrono::Utc;

use super::model::Verdict;
use super::{ProjectionError, Projector};
use crate::contract::event::ChangeEvent;
use crate::queue::consumer::{BatchHandler, Disposition, Message, Outage};

impl BatchHandler for Projector {
    async fn handle(&self, batch: Vec<Message>) -> Result<Vec<Disposition>, Outage> {
        let spans: Vec<tracing::Span> = batch.iter().map(event_span).collect();
        let parsed: Vec<Option<ChangeEvent>> = batch.iter().map(parse).collect();
        let (at, events): (Vec<usize>, Vec<ChangeEvent>) = parsed
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((i, e.clone()?)))
            .unzip();
        let mut dispositions = vec![Disposition::Retry; batch.len()];
        metrics::histogram!("fulfil_projector_batch_size").record(batch.len() as f64);
        record_ages(&batch);
        let started = std::time::Instant::now();
        let applied = self.apply(&events).await;
        metrics::histogram!("fulfil_projector_apply_seconds")
            .record(started.elapsed().as_secs_f64());
        let verdicts = match applied {
            Ok(verdicts) => verdicts.into_iter().map(Some).collect(),
            Err(e) if e.is_outage() => return Err(outage(&e)),
            Err(e) => {
                tracing::warn!(error = %e, events = events.len(), "batch failed; applying its events one by one");
                self.one_by_one(&events).await?
            }
        };
        for ((index, event), verdict) in at.into_iter().zip(&events).zip(verdicts) {
            dispositions[index] = match verdict {
                Some(verdict) => spans[index].in_scope(|| record(event, verdict)),
                None => Disposition::Retry,
            };
        }
        Ok(dispositions)
    }

    async fn healthy(&self) -> bool {
        Projector::healthy(self).await
    }
}

impl Projector {
    /// Each event in a transaction of its own; `None` for one that failed (left for
    /// redelivery, and the projector DLQ if it keeps failing).
    async fn one_by_one(&self, events: &[ChangeEvent]) -> Result<Vec<Option<Verdict>>, Outage> {
        let mut verdicts = Vec::with_capacity(events.len());
        for event in events {
            match self.apply(std::slice::from_ref(event)).await {
                Ok(v) => verdicts.push(v.first().copied()),
                Err(e) if e.is_outage() => return Err(outage(&e)),
                Err(e) => {
                    tracing::warn!(event_id = %event.event_id, aggregate_id = %event.aggregate_id,
                        version = event.version, error = %e, "event failed; left for redelivery");
                    verdicts.push(None);
                }
            }
        }
        Ok(verdicts)
    }
}

/// How long each event sat in SQS before this receive's transaction: with the relay's
/// mark and the event's own time, it tells SNS delivery from queueing.
fn record_ages(batch: &[Message]) {
    let now = std::time::SystemTime::now();
    for sent in batch.iter().filter_map(|m| m.sent_at) {
        if let Ok(age) = now.duration_since(sent) {
            metrics::histogram!("fulfil_projector_event_age_seconds").record(age.as_secs_f64());
        }
    }
}

fn outage(err: &ProjectionError) -> Outage {
    Outage {
        dependency: "read database",
        detail: err.to_string(),
    }
}

fn parse(message: &Message) -> Option<ChangeEvent> {
    match serde_json::from_str::<ChangeEvent>(&message.body) {
        Ok(event) => Some(event),
        Err(e) => {
            metrics::counter!("fulfil_projector_events_total", "result" => "unreadable")
                .increment(1);
            tracing::error!(message_id = %message.message_id, error = %e,
                "not a change event; left for redelivery (the projector DLQ after maxReceiveCount)");
            None
        }
    }
}

/// Counts the verdict (and the lag of an applied event); either way the event is done with.
fn record(event: &ChangeEvent, verdict: Verdict) -> Disposition {
    let result = match verdict {
        Verdict::Applied => {
            let lag = (Utc::now() - event.occurred_at).as_seconds_f64().max(0.0);
            metrics::histogram!("fulfil_projection_lag_seconds").record(lag);
            "applied"
        }
        Verdict::AlreadyApplied => "already_applied",
    };
    metrics::counter!("fulfil_projector_events_total", "result" => result).increment(1);
    tracing::debug!(target: crate::trace::TARGET, event_id = %event.event_id,
        aggregate_id = %event.aggregate_id, version = event.version, result, "event projected");
    Disposition::Delete
}

/// The projector's span for one received event, continuing the trace of the command that
/// caused it (the relay sends the worker's context on with the event).
fn event_span(message: &Message) -> tracing::Span {
    let span = tracing::info_span!(target: crate::trace::TARGET, parent: None, "event",
        message_id = %message.message_id, trace_id = tracing::field::Empty);
    crate::trace::continue_from(&span, message.traceparent.as_deref());
    span
}
