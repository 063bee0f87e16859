//! The consumer's SQS calls, translated to and from our [`Message`]. Settling calls
//! (delete, visibility changes) never fail the caller: a message they miss is redelivered,
//! and the worker's inbox absorbs the duplicate; they log and report how many succeeded.

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry as VisibilityEntry,
    DeleteMessageBatchRequestEntry as DeleteEntry, MessageSystemAttributeName as SysAttr,
    QueueAttributeName,
};

use super::dead_letter::{self, DeadLetter};
use super::Message;
use crate::queue::QueueError;

/// Most entries SQS takes in one batch request.
pub(super) const SQS_BATCH_MAX: usize = 10;

/// One queue's client, with the names error messages need.
#[derive(Debug, Clone)]
pub(super) struct Sqs {
    client: aws_sdk_sqs::Client,
    url: String,
    endpoint: String,
    /// The queue's redrive target, once `check` found it.
    dead_letter: Option<DeadLetter>,
}

impl Sqs {
    pub(super) fn new(client: aws_sdk_sqs::Client, url: &str) -> Self {
        let endpoint = url::Url::parse(url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| url.to_owned());
        Self {
            client,
            url: url.to_owned(),
            endpoint,
            dead_letter: None,
        }
    }

    /// This client with the redrive target `check` found.
    /// The queue's name: the last segment of its URL.
    fn queue_name(&self) -> String {
        self.url.rsplit('/').next().unwrap_or(&self.url).to_owned()
    }

    pub(super) fn with_dead_letter(mut self, dead_letter: Option<DeadLetter>) -> Self {
        self.dead_letter = dead_letter;
        self
    }

    fn err<E, R>(
        &self,
        operation: &'static str,
        e: aws_sdk_sqs::error::SdkError<E, R>,
    ) -> QueueError
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        QueueError::aws(operation, &self.url, &self.endpoint, e)
    }

    /// Proves the queue exists and we may use it, before any poller starts, and finds its
    /// redrive target (none when it has no redrive policy or the target cannot be found).
    pub(super) async fn check(&self) -> Result<Option<DeadLetter>, QueueError> {
        let request = self.client.get_queue_attributes().queue_url(&self.url);
        let request = request
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .attribute_names(QueueAttributeName::RedrivePolicy);
        let out = request
            .send()
            .await
            .map_err(|e| self.err("GetQueueAttributes", e))?;
        let policy = out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy));
        let Some(policy) = policy else {
            return Ok(None);
        };
        match dead_letter::resolve(&self.client, policy).await {
            Ok(target) => Ok(target),
            Err(error) => {
                tracing::warn!(%error, "dead-letter queue not found; SQS's redrive alone will move failing messages");
                Ok(None)
            }
        }
    }

    /// Moves `messages` (each with why) to the dead-letter queue; returns those moved (none
    /// without one).
    pub(super) async fn move_to_dead_letter<'m>(
        &self,
        messages: &[(&'m Message, &str)],
    ) -> Vec<&'m Message> {
        match (&self.dead_letter, messages.is_empty()) {
            (Some(target), false) => {
                dead_letter::send(&self.client, target, &self.queue_name(), messages).await
            }
            _ => Vec::new(),
        }
    }

    /// One long poll. The visibility timeout is asked for explicitly so the heartbeat's
    /// cadence and the messages' real timeout cannot drift apart.
    pub(super) async fn receive(
        &self,
        max: i32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        let request = self.client.receive_message().queue_url(&self.url);
        let out = request
            .max_number_of_messages(max)
            .wait_time_seconds(secs(wait))
            .visibility_timeout(secs(visibility))
            .message_system_attribute_names(SysAttr::ApproximateReceiveCount)
            .message_system_attribute_names(SysAttr::MessageGroupId)
            .message_system_attribute_names(SysAttr::SentTimestamp)
            .message_attribute_names(crate::trace::ATTRIBUTE)
            .send()
            .await
            .map_err(|e| self.err("ReceiveMessage", e))?;
        let last = self.dead_letter.as_ref().map(|d| d.max_receive_count);
        let mut messages: Vec<Message> = out.messages().iter().filter_map(to_message).collect();
        for m in &mut messages {
            m.last_delivery = last.is_some_and(|max| m.receive_count >= max);
        }
        Ok(messages)
    }

    /// One `DeleteMessageBatch` of at most ten messages (the [`super::deleter`] makes the
    /// calls); whether SQS confirmed each, in order. The `consumer::before_delete`
    /// failpoint's error stands for a call that failed as a whole.
    pub(super) async fn delete_chunk(&self, chunk: &[&Message]) -> Vec<bool> {
        if crate::failpoint::step("consumer::before_delete").is_err() {
            return vec![false; chunk.len()];
        }
        let entries = chunk.iter().enumerate().filter_map(|(i, m)| {
            let entry = DeleteEntry::builder().id(i.to_string());
            entry.receipt_handle(&m.receipt_handle).build().ok()
        });
        let request = self.client.delete_message_batch().queue_url(&self.url);
        let sent = request.set_entries(Some(entries.collect())).send().await;
        let confirmed: BTreeSet<usize> = match sent {
            Ok(out) => {
                self.confirmed("delete", chunk, out.successful().len(), out.failed());
                out.successful()
                    .iter()
                    .filter_map(|e| e.id().parse().ok())
                    .collect()
            }
            Err(e) => {
                self.failed("delete", chunk, self.err("DeleteMessageBatch", e));
                BTreeSet::new()
            }
        };
        (0..chunk.len()).map(|i| confirmed.contains(&i)).collect()
    }

    /// Sets the visibility of `batch` to zero, so others receive it now (`purpose` names
    /// why, in logs); returns how many SQS confirmed.
    pub(super) async fn make_visible(&self, batch: &[Message], purpose: &'static str) -> usize {
        let changes: Vec<(&Message, i32)> = batch.iter().map(|m| (m, 0)).collect();
        self.set_visibility(&changes, purpose).await
    }

    /// Sets each message's visibility timeout to its paired number of seconds; returns how
    /// many SQS confirmed. `purpose` names the change in logs (heartbeat, retry, release).
    pub(super) async fn set_visibility(
        &self,
        changes: &[(&Message, i32)],
        purpose: &'static str,
    ) -> usize {
        let mut changed = 0;
        for chunk in changes.chunks(SQS_BATCH_MAX) {
            changed += self.visibility_chunk(chunk, purpose).await;
        }
        changed
    }

    async fn visibility_chunk(&self, chunk: &[(&Message, i32)], purpose: &'static str) -> usize {
        let entries = chunk.iter().enumerate().filter_map(|(i, (m, secs))| {
            let entry = VisibilityEntry::builder().id(i.to_string());
            let entry = entry
                .receipt_handle(&m.receipt_handle)
                .visibility_timeout(*secs);
            entry.build().ok()
        });
        let messages: Vec<&Message> = chunk.iter().map(|(m, _)| *m).collect();
        let request = self
            .client
            .change_message_visibility_batch()
            .queue_url(&self.url);
        match request.set_entries(Some(entries.collect())).send().await {
            Ok(out) => self.confirmed(purpose, &messages, out.successful().len(), out.failed()),
            Err(e) => self.failed(
                purpose,
                &messages,
                self.err("ChangeMessageVisibilityBatch", e),
            ),
        }
    }

    /// Logs each entry SQS refused (by message id) and returns the number it accepted.
    fn confirmed(
        &self,
        purpose: &str,
        chunk: &[&Message],
        ok: usize,
        failed: &[BatchResultErrorEntry],
    ) -> usize {
        for entry in failed {
            let message_id = entry
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| chunk.get(i))
                .map_or("?", |m| m.message_id.as_str());
            tracing::warn!(
                purpose,
                message_id,
                code = entry.code(),
                reason = entry.message().unwrap_or_default(),
                "SQS refused one entry; the message will be redelivered"
            );
        }
        ok
    }

    fn failed(&self, purpose: &str, chunk: &[&Message], error: QueueError) -> usize {
        let ids: Vec<&str> = chunk.iter().map(|m| m.message_id.as_str()).collect();
        tracing::warn!(
            purpose,
            message_ids = ?ids,
            %error,
            "SQS batch request failed; the messages will be redelivered"
        );
        0
    }
}

/// Whole seconds for SQS's integer fields.
pub(super) fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// Our message from the SDK's; one without a receipt handle cannot be settled, so it is
/// skipped (SQS redelivers it).
fn to_message(m: &aws_sdk_sqs::types::Message) -> Option<Message> {
    let Some(receipt_handle) = m.receipt_handle() else {
        let message_id = m.message_id();
        tracing::warn!(
            ?message_id,
            "received a message without a receipt handle; skipped"
        );
        return None;
    };
    let attribute = |name: SysAttr| {
        m.attributes()
            .and_then(|a| a.get(&name))
            .map(String::as_str)
    };
    let sent_at = attribute(SysAttr::SentTimestamp)
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    Some(Message {
        message_id: m.message_id().unwrap_or_default().to_owned(),
        receipt_handle: receipt_handle.to_owned(),
        body: m.body().unwrap_or_default().to_owned(),
        group_id: attribute(SysAttr::MessageGroupId).map(str::to_owned),
        receive_count: attribute(SysAttr::ApproximateReceiveCount)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1),
        sent_at,
        last_delivery: false,
        traceparent: m
            .message_attributes()
            .and_then(|a| a.get(crate::trace::ATTRIBUTE))
            .and_then(|v| v.string_value())
            .map(str::to_owned),
    })
}
