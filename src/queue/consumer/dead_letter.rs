//! Moving a message to the dead-letter queue ourselves, on its last delivery.
//!
//! SQS dead-letters a message on the receive after its `maxReceiveCount`-th. On a FIFO
//! queue the later messages of its group come in the same receives (SQS returns as much of a
//! group as it can), so their receive counts climb with the failing one's and SQS would
//! dead-letter them together with it. Moving the failing message on its last delivery, while
//! the batch still holds its group, lets the group go on at once; the redrive policy stays as
//! the safety net for a consumer that dies first.
//!
//! The queue's redrive policy says where and after how many receives; a queue without one
//! (or one we cannot read) simply leaves dead-lettering to SQS. A message moved here carries
//! why, from where, after how many receives and when, as message attributes (see
//! [`crate::queue::dlq::Why`]), which `fulfil dlq list` shows.

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use super::Message;
use crate::queue::dlq::Why;
use crate::queue::QueueError;

/// Where a queue's dead letters go and after how many receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DeadLetter {
    pub(super) queue_url: String,
    pub(super) max_receive_count: u32,
}

/// (dead-letter queue ARN, maxReceiveCount) from a `RedrivePolicy` attribute.
pub(super) fn parse_redrive_policy(policy: &str) -> Option<(String, u32)> {
    let value: serde_json::Value = serde_json::from_str(policy).ok()?;
    let arn = value.get("deadLetterTargetArn")?.as_str()?.to_owned();
    let count = value.get("maxReceiveCount")?;
    let count = match count {
        serde_json::Value::String(s) => s.parse().ok()?,
        other => u32::try_from(other.as_u64()?).ok()?,
    };
    Some((arn, count))
}

/// (queue name, account id) of an SQS queue ARN `arn:aws:sqs:REGION:ACCOUNT:NAME`.
pub(super) fn name_and_account(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (arn_word, _partition, service) = (parts.next()?, parts.next()?, parts.next()?);
    let (_region, account, name) = (parts.next()?, parts.next()?, parts.next()?);
    (arn_word == "arn" && service == "sqs" && !name.is_empty()).then_some((name, account))
}

/// Looks up the dead-letter queue the redrive policy names.
pub(super) async fn resolve(
    client: &aws_sdk_sqs::Client,
    policy: &str,
) -> Result<Option<DeadLetter>, QueueError> {
    let Some((arn, max_receive_count)) = parse_redrive_policy(policy) else {
        return Ok(None);
    };
    let Some((name, account)) = name_and_account(&arn) else {
        return Ok(None);
    };
    let out = client
        .get_queue_url()
        .queue_name(name)
        .queue_owner_aws_account_id(account)
        .send()
        .await
        .map_err(|e| QueueError::aws("GetQueueUrl", name, "SQS", e))?;
    Ok(out.queue_url().map(|url| DeadLetter {
        queue_url: url.to_owned(),
        max_receive_count,
    }))
}

/// One entry per message, in order: the exact body, why it was moved (attributes) and, on
/// FIFO, the group it came from and its message id as the deduplication id (a repeated
/// move is then absorbed by SQS).
pub(super) fn entries(
    source_queue: &str,
    messages: &[(&Message, &str)],
) -> Vec<SendMessageBatchRequestEntry> {
    let now = chrono::Utc::now();
    messages
        .iter()
        .enumerate()
        .filter_map(|(i, (m, reason))| {
            let why = Why {
                reason: (*reason).to_owned(),
                source_queue: source_queue.to_owned(),
                receive_count: m.receive_count,
                at: now,
            };
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(&m.body)
                .set_message_attributes(Some(attributes(&why)));
            let entry = match &m.group_id {
                Some(group) => entry
                    .message_group_id(group)
                    .message_deduplication_id(&m.message_id),
                None => entry,
            };
            entry.build().ok()
        })
        .collect()
}

/// `why` as SQS string attributes.
fn attributes(why: &Why) -> std::collections::HashMap<String, MessageAttributeValue> {
    why.to_attributes()
        .into_iter()
        .filter_map(|(name, value)| {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .ok()?;
            Some((name.to_owned(), value))
        })
        .collect()
}

/// Sends `messages` to the dead-letter queue; returns those SQS accepted (to be deleted).
pub(super) async fn send<'m>(
    client: &aws_sdk_sqs::Client,
    target: &DeadLetter,
    source_queue: &str,
    messages: &[(&'m Message, &str)],
) -> Vec<&'m Message> {
    let mut moved = Vec::new();
    for chunk in messages.chunks(10) {
        let request = client.send_message_batch().queue_url(&target.queue_url);
        let entries = entries(source_queue, chunk);
        match request.set_entries(Some(entries)).send().await {
            Ok(out) => moved.extend(
                out.successful()
                    .iter()
                    .filter_map(|ok| Some(chunk.get(ok.id().parse::<usize>().ok()?)?.0)),
            ),
            Err(e) => {
                let error = QueueError::aws("SendMessageBatch", &target.queue_url, "SQS", e);
                tracing::warn!(%error, "moving to the DLQ failed; SQS's redrive will do it");
            }
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redrive_policy_gives_the_target_and_the_count_as_number_or_text() {
        let arn = "arn:aws:sqs:us-east-1:000000000000:q-dlq.fifo";
        let numeric = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":5}}"#);
        let text = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"3"}}"#);
        assert_eq!(parse_redrive_policy(&numeric), Some((arn.to_owned(), 5)));
        assert_eq!(parse_redrive_policy(&text), Some((arn.to_owned(), 3)));
        assert_eq!(parse_redrive_policy("{}"), None);
        assert_eq!(parse_redrive_policy("not json"), None);
    }

    #[test]
    fn a_queue_arn_names_its_queue_and_account() {
        let arn = "arn:aws:sqs:us-east-1:000000000000:q-dlq.fifo";
        assert_eq!(name_and_account(arn), Some(("q-dlq.fifo", "000000000000")));
        assert_eq!(name_and_account("arn:aws:sns:us-east-1:0:topic"), None);
        assert_eq!(name_and_account("q-dlq"), None);
    }
}
