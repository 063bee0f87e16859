//! Looking into a dead-letter queue without emptying it: for the invariant checker and for
//! operators. Messages are received with a visibility timeout long enough to see each once,
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

use std::time::Duration;

use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry as VisibilityEntry;

use super::{AwsClients, QueueError};

/// One message seen in a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peeked {
    /// The id the DLQ gave it (a message the worker moved there itself has a new one).
    pub message_id: String,
    pub body: String,
}

/// Every message in the queue at the time of the call (each once), oldest receive first.
pub async fn peek(
    aws: &AwsClients,
    queue_url: &str,
    hide_for: Duration,
) -> Result<Vec<Peeked>, QueueError> {
    let mut seen: Vec<(Peeked, String)> = Vec::new();
    loop {
        let out = aws
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(hide_for.as_secs().max(1) as i32)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| QueueError::aws("ReceiveMessage", queue_url, &aws.endpoint, e))?;
        if out.messages().is_empty() {
            break;
        }
        seen.extend(out.messages().iter().filter_map(|m| {
            let peeked = Peeked {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                body: m.body()?.to_owned(),
            };
            Some((peeked, m.receipt_handle()?.to_owned()))
        }));
    }
    let handles: Vec<&str> = seen.iter().map(|(_, h)| h.as_str()).collect();
    show_again(aws, queue_url, &handles).await?;
    Ok(seen.into_iter().map(|(m, _)| m).collect())
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
