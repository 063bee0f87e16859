//! Publishing order commands to the commands topic the way the contract asks of upstream:
//! `PublishBatch` of up to ten, the `command_type` attribute on every message, and on FIFO
//! topics `MessageGroupId` = order or product id and `MessageDeduplicationId` = command id.
//! Each command starts a trace of its own, sent as the `traceparent` attribute (see
//! [`crate::trace`]).

use futures::{stream, StreamExt};

use super::sns_batch::{publish_batch, Entry, MAX_ENTRIES};
use super::{AwsClients, QueueError};
use crate::contract::Envelope;

/// Calls in flight at once: enough to keep LocalStack or SNS busy, few enough to be polite.
const PARALLEL_CALLS: usize = 8;

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Sent byte for byte.
    pub body: String,
    pub command_type: String,
    pub group_id: String,
    pub dedup_id: String,
    /// The context of the command's publish span: the root of its trace.
    pub traceparent: Option<String>,
}

impl Outgoing {
    /// The message for a valid command, keeping the caller's exact body, in a new trace.
    pub fn command(envelope: &Envelope, body: String) -> Self {
        let span = tracing::info_span!(target: crate::trace::TARGET, parent: None, "publish",
            command_id = %envelope.command_id, trace_id = tracing::field::Empty);
        let traceparent = crate::trace::continue_from(&span, None);
        span.in_scope(|| tracing::debug!(target: crate::trace::TARGET, "to publish"));
        Self {
            body,
            command_type: envelope.command.type_name().to_owned(),
            group_id: envelope.command.message_group_id().to_owned(),
            dedup_id: envelope.command_id.clone(),
            traceparent,
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublishReport {
    pub sent: usize,
    /// (index in the input, why) for every message SNS did not take.
    pub failed: Vec<(usize, String)>,
}

#[derive(Clone)]
pub struct CommandPublisher {
    aws: AwsClients,
    topic_arn: String,
    fifo: bool,
}

impl CommandPublisher {
    pub fn new(aws: AwsClients, topic_arn: String, fifo: bool) -> Self {
        Self {
            aws,
            topic_arn,
            fifo,
        }
    }

    /// Publishes every message; `progress` is told how many went out after each call.
    pub async fn publish(
        &self,
        messages: &[Outgoing],
        progress: impl Fn(usize),
    ) -> Result<PublishReport, QueueError> {
        let chunks: Vec<(usize, &[Outgoing])> = messages
            .chunks(MAX_ENTRIES)
            .enumerate()
            .map(|(i, c)| (i * MAX_ENTRIES, c))
            .collect();
        let mut calls = stream::iter(chunks)
            .map(|(offset, chunk)| self.publish_chunk(offset, chunk))
            .buffered(PARALLEL_CALLS);
        let mut report = PublishReport::default();
        while let Some(result) = calls.next().await {
            let chunk = result?;
            progress(chunk.sent + chunk.failed.len());
            report.sent += chunk.sent;
            report.failed.extend(chunk.failed);
        }
        Ok(report)
    }

    async fn publish_chunk(
        &self,
        offset: usize,
        chunk: &[Outgoing],
    ) -> Result<PublishReport, QueueError> {
        let entries: Vec<Entry<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| self.entry(offset + i, m))
            .collect();
        let sns = &self.aws.sns;
        let refused = publish_batch(sns, &self.topic_arn, &self.aws.endpoint, &entries).await?;
        let failed: Vec<(usize, String)> = refused
            .into_iter()
            .map(|r| {
                let index = r.id.trim_start_matches('m').parse().unwrap_or(offset);
                (index, r.message.unwrap_or(r.code))
            })
            .collect();
        Ok(PublishReport {
            sent: chunk.len() - failed.len(),
            failed,
        })
    }

    /// The `command_type` attribute always, `traceparent` when traced; on FIFO topics the
    /// contract's group and deduplication ids.
    fn entry<'m>(&self, index: usize, m: &'m Outgoing) -> Entry<'m> {
        let mut attributes = vec![("command_type", m.command_type.as_str())];
        if let Some(traceparent) = &m.traceparent {
            attributes.push((crate::trace::ATTRIBUTE, traceparent.as_str()));
        }
        Entry {
            id: format!("m{index}"),
            body: &m.body,
            attributes,
            fifo: self.fifo.then(|| (m.group_id.clone(), m.dedup_id.clone())),
        }
    }
}
