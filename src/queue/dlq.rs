//! The dead-letter queues for the invariant checker and for operators (`fulfil dlq`):
//! looking in without emptying them, and redriving their messages to the queue they came
//! from.
//!
//! Looking: messages are received with a visibility timeout long enough to see each once,
//! are not deleted, and are made visible again at the end, so a second look (or a redrive)
//! finds them all at once.
//!
//! Why not a receive with visibility timeout 0: each receive could then return the same
//! messages again, so a loop could not tell when it has seen every message, nor count one
//! once. Queue attributes give only counts, never bodies. Hiding what was seen for the length
//! of the look is the only way to enumerate; the one trace it leaves is a higher
//! `ApproximateReceiveCount`, which a DLQ (no redrive policy of its own) does not act on. A
//! checker that dies mid-look leaves the messages hidden until `hide_for` passes, no longer.
//!
//! On a FIFO queue a receive returns nothing more of a message group while some of it is in
//! flight, so a group with more than a batch of messages may be seen only in part: a checker
//! then reports the rest as lost, never the other way round.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry as VisibilityEntry;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName as SysAttr};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AwsClients, QueueError};

/// One message seen in a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peeked {
    /// The id the DLQ gave it (a message the worker moved there itself has a new one).
    pub message_id: String,
    pub body: String,
    /// Its FIFO message group (FIFO queues only).
    pub group_id: Option<String>,
    /// When it was sent to the DLQ (moved by the consumer) or first sent (moved by SQS).
    pub sent_at: Option<DateTime<Utc>>,
    /// Why it is there, when the consumer moved it itself (SQS's redrive says nothing).
    pub why: Option<Why>,
}

/// Why the consumer moved a message to its dead-letter queue: carried with the message as
/// string message attributes named `fulfil.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Why {
    /// The failure of its last delivery.
    pub reason: String,
    /// The queue it failed on (its name).
    pub source_queue: String,
    /// Deliveries it had there.
    pub receive_count: u32,
    /// When it was moved.
    pub at: DateTime<Utc>,
}

const REASON: &str = "fulfil.reason";
const SOURCE_QUEUE: &str = "fulfil.source_queue";
const RECEIVE_COUNT: &str = "fulfil.receive_count";
const MOVED_AT: &str = "fulfil.dead_lettered_at";
/// Longest reason carried: an attribute shares the message's 256 KiB with the body.
const MAX_REASON: usize = 2048;

impl Why {
    pub fn to_attributes(&self) -> Vec<(&'static str, String)> {
        let mut reason = self.reason.clone();
        if reason.len() > MAX_REASON {
            let cut = (0..=MAX_REASON).rev().find(|i| reason.is_char_boundary(*i));
            reason.truncate(cut.unwrap_or(0));
            reason.push('…');
        }
        vec![
            (REASON, reason),
            (SOURCE_QUEUE, self.source_queue.clone()),
            (RECEIVE_COUNT, self.receive_count.to_string()),
            (MOVED_AT, self.at.to_rfc3339()),
        ]
    }

    /// From a message's string attributes; `None` unless the consumer put them there.
    pub fn from_attributes(attributes: &HashMap<String, String>) -> Option<Why> {
        Some(Why {
            reason: attributes.get(REASON)?.clone(),
            source_queue: attributes.get(SOURCE_QUEUE)?.clone(),
            receive_count: attributes.get(RECEIVE_COUNT)?.parse().ok()?,
            at: DateTime::parse_from_rfc3339(attributes.get(MOVED_AT)?)
                .ok()?
                .to_utc(),
        })
    }
}

/// Every message in the queue at the time of the call (each once), oldest receive first.
pub async fn peek(
    aws: &AwsClients,
    queue_url: &str,
    hide_for: Duration,
) -> Result<Vec<Peeked>, QueueError> {
    let seen = receive_all(aws, queue_url, hide_for).await?;
    let handles: Vec<&str> = seen.iter().filter_map(|m| m.receipt_handle()).collect();
    show_again(aws, queue_url, &handles).await?;
    Ok(seen.iter().filter_map(peeked).collect())
}

/// Receives until the queue has nothing more to give, hiding each message for `hide_for`.
async fn receive_all(
    aws: &AwsClients,
    queue_url: &str,
    hide_for: Duration,
) -> Result<Vec<Message>, QueueError> {
    let mut seen = Vec::new();
    loop {
        let out = aws
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(hide_for.as_secs().max(1) as i32)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(SysAttr::MessageGroupId)
            .message_system_attribute_names(SysAttr::SentTimestamp)
            .send()
            .await
            .map_err(|e| QueueError::aws("ReceiveMessage", queue_url, &aws.endpoint, e))?;
        if out.messages().is_empty() {
            return Ok(seen);
        }
        seen.extend(out.messages().iter().cloned());
    }
}

fn peeked(m: &Message) -> Option<Peeked> {
    let system = |name: SysAttr| m.attributes().and_then(|a| a.get(&name)).cloned();
    let strings: HashMap<String, String> = m
        .message_attributes()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
        .collect();
    Some(Peeked {
        message_id: m.message_id()?.to_owned(),
        body: m.body()?.to_owned(),
        group_id: system(SysAttr::MessageGroupId),
        sent_at: system(SysAttr::SentTimestamp)
            .and_then(|ms| ms.parse().ok())
            .and_then(DateTime::from_timestamp_millis),
        why: Why::from_attributes(&strings),
    })
}

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Redriven {
    /// Sent to the source queue and deleted from the DLQ.
    pub moved: Vec<String>,
    /// Left in the DLQ: not asked for.
    pub left: usize,
}

/// Moves the DLQ's messages (those in `only`, or all when it is empty) back to `target_url`,
/// oldest first: receive, send, delete, in rounds until none is left to move (a FIFO receive
/// holds back the rest of a group in flight, so a long group takes several rounds). On FIFO
/// each message keeps its group, and its DLQ message id becomes the deduplication id: a
/// redrive repeated after a crash between send and delete is absorbed by SQS (and the
/// worker's inbox absorbs any copy that gets through). `progress` hears of each one moved.
pub async fn redrive(
    aws: &AwsClients,
    dlq_url: &str,
    target_url: &str,
    only: &[String],
    progress: impl Fn(&Peeked),
) -> Result<Redriven, QueueError> {
    let mut done = Redriven::default();
    loop {
        let seen = receive_all(aws, dlq_url, Duration::from_secs(60)).await?;
        let (chosen, others): (Vec<&Message>, Vec<&Message>) = seen.iter().partition(|m| {
            only.is_empty() || only.iter().any(|id| m.message_id() == Some(id.as_str()))
        });
        let handles: Vec<&str> = others.iter().filter_map(|m| m.receipt_handle()).collect();
        show_again(aws, dlq_url, &handles).await?;
        done.left = others.len();
        if chosen.is_empty() {
            return Ok(done);
        }
        for message in chosen {
            let Some(peeked) = peeked(message) else {
                continue;
            };
            send_back(aws, target_url, &peeked).await?;
            delete(aws, dlq_url, message).await?;
            progress(&peeked);
            done.moved.push(peeked.message_id);
        }
    }
}

async fn send_back(aws: &AwsClients, target_url: &str, message: &Peeked) -> Result<(), QueueError> {
    let mut send = aws
        .sqs
        .send_message()
        .queue_url(target_url)
        .message_body(&message.body);
    if let Some(group) = &message.group_id {
        let dedup = format!("redrive-{}", message.message_id);
        send = send.message_group_id(group).message_deduplication_id(dedup);
    }
    send.send()
        .await
        .map_err(|e| QueueError::aws("SendMessage", target_url, &aws.endpoint, e))?;
    Ok(())
}

async fn delete(aws: &AwsClients, dlq_url: &str, message: &Message) -> Result<(), QueueError> {
    let Some(handle) = message.receipt_handle() else {
        return Ok(());
    };
    aws.sqs
        .delete_message()
        .queue_url(dlq_url)
        .receipt_handle(handle)
        .send()
        .await
        .map_err(|e| QueueError::aws("DeleteMessage", dlq_url, &aws.endpoint, e))?;
    Ok(())
}

/// Makes the peeked messages visible again at once.
async fn show_again(aws: &AwsClients, queue_url: &str, handles: &[&str]) -> Result<(), QueueError> {
    for chunk in handles.chunks(10) {
        let entries = chunk.iter().enumerate().filter_map(|(i, handle)| {
            let entry = VisibilityEntry::builder().id(i.to_string());
            entry
                .receipt_handle(*handle)
                .visibility_timeout(0)
                .build()
                .ok()
        });
        aws.sqs
            .change_message_visibility_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .map_err(|e| {
                QueueError::aws("ChangeMessageVisibilityBatch", queue_url, &aws.endpoint, e)
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(reason: &str) -> Why {
        Why {
            reason: reason.to_owned(),
            source_queue: "fulfil-order-commands.fifo".to_owned(),
            receive_count: 5,
            at: DateTime::from_timestamp(1_700_000_000, 0).expect("a time"),
        }
    }

    fn as_map(why: &Why) -> HashMap<String, String> {
        let pairs = why.to_attributes().into_iter();
        pairs.map(|(k, v)| (k.to_owned(), v)).collect()
    }

    #[test]
    fn why_a_message_was_dead_lettered_survives_its_attributes() {
        let original = why("batch failed: failpoint worker::poison on c-1");
        assert_eq!(Why::from_attributes(&as_map(&original)), Some(original));
    }

    #[test]
    fn a_message_without_our_attributes_has_no_why() {
        assert_eq!(Why::from_attributes(&HashMap::new()), None);
        let mut partial = as_map(&why("x"));
        partial.remove(RECEIVE_COUNT);
        assert_eq!(Why::from_attributes(&partial), None);
    }

    #[test]
    fn a_long_reason_is_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_REASON);
        let attributes = as_map(&why(&long));
        let reason = &attributes[REASON];
        assert!(
            reason.len() <= MAX_REASON + '…'.len_utf8(),
            "{}",
            reason.len()
        );
        assert!(reason.ends_with('…'));
    }
}
