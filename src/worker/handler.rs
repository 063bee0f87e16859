//! The worker as the SQS consumer's batch handler: it turns the batch path's results into
//! each message's [`Disposition`]. Every message with something [`Recorded`] is deleted; a
//! batch that could not be applied is left for redelivery (`Retry`); an outage holds the
//! batch; a batch that fails for an unexpected reason is split so one poisoned message cannot
//! hold back the rest (on FIFO, only the messages of its own group wait behind it), and one
//! failing on its last delivery is dead-lettered (`DeadLetter`).

use std::collections::HashSet;
use std::time::{Instant, SystemTime};

use super::{Incoming, Recorded, Worker, WorkerError};
use crate::queue::consumer::{BatchHandler, Disposition, Message, Outage, Settled};

impl BatchHandler for Worker {
    async fn handle(&self, batch: Vec<Message>) -> Result<Vec<Disposition>, Outage> {
        self.handle_with(batch, None).await
    }

    /// Each message is settled when its own unit commits: a hot or slow product holds only
    /// its own messages.
    async fn handle_settling(
        &self,
        batch: Vec<Message>,
        settled: Settled,
    ) -> Result<Vec<Disposition>, Outage> {
        self.handle_with(batch, Some(&settled)).await
    }

    async fn healthy(&self) -> bool {
        Worker::healthy(self).await
    }
}

impl Worker {
    async fn handle_with(
        &self,
        batch: Vec<Message>,
        settled: Option<&Settled>,
    ) -> Result<Vec<Disposition>, Outage> {
        let started = Instant::now();
        metrics::histogram!("fulfil_batch_size").record(batch.len() as f64);
        metrics::counter!("fulfil_messages_received_total").increment(batch.len() as u64);
        let traced = traced(&batch);
        let dispositions = match self.process_settling(&incoming(&traced), settled).await {
            Ok(records) => Ok(done(&traced, &records)),
            Err(WorkerError::Outage { dependency, detail }) => Err(Outage { dependency, detail }),
            Err(WorkerError::Transient(why)) => {
                tracing::info!(%why, messages = batch.len(), "batch left for redelivery");
                Ok(vec![Disposition::Retry; batch.len()])
            }
            Err(WorkerError::Failed(why)) => {
                tracing::warn!(%why, messages = batch.len(), "batch failed; processing its messages one by one");
                self.isolate(&traced).await
            }
        };
        metrics::histogram!("fulfil_batch_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        dispositions
    }

    /// One message at a time, in order; after a failure in a FIFO group, that group's later
    /// messages are left too, so none overtakes the failed one. A failure on the message's
    /// last delivery dead-letters it at once instead, and its group goes on.
    async fn isolate(&self, batch: &[Traced<'_>]) -> Result<Vec<Disposition>, Outage> {
        let mut failed_groups: HashSet<&str> = HashSet::new();
        let mut dispositions = Vec::with_capacity(batch.len());
        for traced in batch {
            let message = traced.message;
            let group = message.group_id.as_deref();
            if group.is_some_and(|g| failed_groups.contains(g)) {
                dispositions.push(Disposition::Retry);
                continue;
            }
            let one = std::slice::from_ref(traced);
            match self.process(&incoming(one)).await {
                Ok(records) => dispositions.extend(done(one, &records)),
                Err(WorkerError::Outage { dependency, detail }) => {
                    return Err(Outage { dependency, detail })
                }
                Err(err) if message.last_delivery => {
                    tracing::warn!(message_id = %message.message_id, error = %err, "message failed on its last delivery; moving it to the DLQ so its group can go on");
                    dispositions.push(Disposition::DeadLetter {
                        reason: err.to_string(),
                    });
                }
                Err(err) => {
                    tracing::warn!(message_id = %message.message_id, error = %err, "message failed; left for redelivery (the DLQ after maxReceiveCount)");
                    failed_groups.extend(group);
                    dispositions.push(Disposition::Retry);
                }
            }
        }
        Ok(dispositions)
    }
}

/// A received message in the worker's span for its command, which continues the trace the
/// message came with; `traceparent` is that span's context, written beside the command's
/// events.
struct Traced<'m> {
    message: &'m Message,
    span: tracing::Span,
    traceparent: Option<String>,
}

fn traced(batch: &[Message]) -> Vec<Traced<'_>> {
    batch
        .iter()
        .map(|message| {
            let command_id = command_id_of(&message.body);
            let span = tracing::info_span!(target: crate::trace::TARGET, parent: None, "command",
                message_id = %message.message_id, command_id = %command_id, trace_id = tracing::field::Empty);
            let traceparent = crate::trace::continue_from(&span, message.traceparent.as_deref());
            Traced {
                message,
                span,
                traceparent,
            }
        })
        .collect()
}

fn incoming(batch: &[Traced<'_>]) -> Vec<Incoming> {
    batch
        .iter()
        .map(|t| Incoming {
            message_id: t.message.message_id.clone(),
            body: t.message.body.clone(),
            traceparent: t.traceparent.clone(),
        })
        .collect()
}

/// Counts and logs each decided message in its command's span; all are deleted.
fn done(batch: &[Traced<'_>], records: &[Recorded]) -> Vec<Disposition> {
    for (traced, record) in batch.iter().zip(records) {
        traced.span.in_scope(|| count(traced.message, record));
    }
    vec![Disposition::Delete; batch.len()]
}

fn count(message: &Message, record: &Recorded) {
    match record {
        Recorded::Decided { outcome, reason } => {
            metrics::counter!("fulfil_commands_total", "outcome" => outcome.clone()).increment(1);
            if outcome == "REJECTED" {
                metrics::counter!("fulfil_rejected_total", "reason" => reason.clone().unwrap_or_default()).increment(1);
            }
            tracing::debug!(target: crate::trace::TARGET, %outcome, ?reason, "applied");
        }
        Recorded::Duplicate => {
            metrics::counter!("fulfil_duplicates_total", "kind" => "duplicate").increment(1);
            tracing::debug!(target: crate::trace::TARGET, "duplicate: no effect");
        }
        Recorded::Conflict => {
            metrics::counter!("fulfil_duplicates_total", "kind" => "conflict").increment(1);
            tracing::warn!("CONFLICTING_DUPLICATE kept");
        }
        Recorded::Invalid { error } => {
            metrics::counter!("fulfil_invalid_total").increment(1);
            tracing::debug!(target: crate::trace::TARGET, %error, "invalid: kept");
        }
    }
    if let Some(age) = message
        .sent_at
        .and_then(|t| SystemTime::now().duration_since(t).ok())
    {
        metrics::histogram!("fulfil_message_age_seconds").record(age.as_secs_f64());
    }
}

/// The command id for logs, without a second full parse.
fn command_id_of(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Ids {
        command_id: Option<String>,
    }
    serde_json::from_str::<Ids>(body)
        .ok()
        .and_then(|i| i.command_id)
        .unwrap_or_default()
}
