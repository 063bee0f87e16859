//! Publishing order commands to the commands topic the way the contract asks of upstream:
//! `PublishBatch` of up to ten, the `command_type` attribute on every message, and on FIFO
//! topics `MessageGroupId` = order or product id and `MessageDeduplicationId` = command id.
//! Each command starts a trace of its own, sent as the `traceparent` attribute (see
//! [`crate::trace`]).

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use futures::{stream, StreamExt};

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
            .chunks(10)
            .enumerate()
            .map(|(i, c)| (i * 10, c))
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
        let entries: Vec<PublishBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| self.entry(offset + i, m))
            .collect::<Result<_, _>>()?;
        let call = self
            .aws
            .sns
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries));
        let out = call
            .send()
            .await
            .map_err(|e| QueueError::aws("PublishBatch", &self.topic_arn, &self.aws.endpoint, e))?;
        let failed: Vec<(usize, String)> = out
            .failed()
            .iter()
            .map(|f| {
                (
                    f.id().trim_start_matches('m').parse().unwrap_or(offset),
                    f.message().unwrap_or(f.code()).to_owned(),
                )
            })
            .collect();
        Ok(PublishReport {
            sent: chunk.len() - failed.len(),
            failed,
        })
    }

    fn entry(&self, index: usize, m: &Outgoing) -> Result<PublishBatchRequestEntry, QueueError> {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&m.command_type)
            .build();
        let invalid = |e: aws_sdk_sns::error::BuildError| QueueError::Topology {
            resource: self.topic_arn.clone(),
            problem: e.to_string(),
        };
        let mut entry = PublishBatchRequestEntry::builder()
            .id(format!("m{index}"))
            .message(&m.body)
            .message_attributes("command_type", attribute.map_err(invalid)?);
        if let Some(traceparent) = &m.traceparent {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(traceparent)
                .build();
            entry = entry.message_attributes(crate::trace::ATTRIBUTE, value.map_err(invalid)?);
        }
        if self.fifo {
            entry = entry
                .message_group_id(&m.group_id)
                .message_deduplication_id(&m.dedup_id);
        }
        entry.build().map_err(invalid)
    }
}
