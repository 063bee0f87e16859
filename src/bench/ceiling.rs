//! LocalStack's own ceiling: a plain consumer loop (ReceiveMessage of 10, DeleteMessageBatch)
//! with as many concurrent polls as the workers have, on a FIFO queue of its own pre-filled
//! with the same messages. No parsing, no database: what the product's pipeline is compared
//! with, because on one machine LocalStack, not the worker, may be the limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, QueueAttributeName as Attr, SendMessageBatchRequestEntry,
};
use futures::{stream, TryStreamExt};
use tokio::task::JoinSet;

use super::BenchError;
use crate::queue::publisher::Outgoing;
use crate::queue::{AwsClients, QueueError};

/// Messages per second the bare loop received and deleted.
pub async fn measure(
    aws: &AwsClients,
    name: &str,
    messages: &[Outgoing],
    pollers: usize,
) -> Result<f64, BenchError> {
    let url = create_queue(aws, name).await?;
    let measured = fill_and_drain(aws, &url, messages, pollers).await;
    let _ = aws.sqs.delete_queue().queue_url(&url).send().await;
    measured
}

async fn fill_and_drain(
    aws: &AwsClients,
    url: &str,
    messages: &[Outgoing],
    pollers: usize,
) -> Result<f64, BenchError> {
    fill(aws, url, messages).await?;
    super::e2e::wait_visible(aws, url, messages.len()).await?;
    let deleted = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..pollers {
        set.spawn(drain(
            aws.clone(),
            url.to_owned(),
            messages.len(),
            Arc::clone(&deleted),
        ));
    }
    while let Some(joined) = set.join_next().await {
        joined.map_err(|e| BenchError::Worker(format!("a ceiling poller died: {e}")))??;
    }
    Ok(messages.len() as f64 / started.elapsed().as_secs_f64())
}

async fn create_queue(aws: &AwsClients, name: &str) -> Result<String, BenchError> {
    let out = aws
        .sqs
        .create_queue()
        .queue_name(name)
        .attributes(Attr::FifoQueue, "true")
        .attributes(Attr::ContentBasedDeduplication, "false")
        .attributes(Attr::VisibilityTimeout, "30")
        .send()
        .await
        .map_err(|e| QueueError::aws("CreateQueue", name, &aws.endpoint, e))?;
    Ok(out.queue_url().unwrap_or_default().to_owned())
}

/// SendMessageBatch with the messages' own group and deduplication ids, 8 calls at once.
async fn fill(aws: &AwsClients, url: &str, messages: &[Outgoing]) -> Result<(), BenchError> {
    stream::iter(messages.chunks(10).map(Ok))
        .try_for_each_concurrent(8, |chunk| async move {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(&m.body)
                        .message_group_id(&m.group_id)
                        .message_deduplication_id(&m.dedup_id)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BenchError::Worker(format!("ceiling message: {e}")))?;
            aws.sqs
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::aws("SendMessageBatch", url, &aws.endpoint, e))?;
            Ok::<(), BenchError>(())
        })
        .await
}

/// One poller: receive, delete, until every message of the run is deleted; returns when
/// its own last delete finished.
async fn drain(
    aws: AwsClients,
    url: String,
    total: usize,
    deleted: Arc<AtomicUsize>,
) -> Result<Instant, BenchError> {
    let budget = Duration::from_secs(120 + total as u64 / 20);
    let deadline = Instant::now() + budget;
    let mut last_delete = Instant::now();
    while deleted.load(Ordering::Relaxed) < total {
        if Instant::now() >= deadline {
            return Err(BenchError::Timeout {
                what: format!("the bare consumer draining {total} messages"),
                seconds: budget.as_secs(),
            });
        }
        let out = aws
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| QueueError::aws("ReceiveMessage", &url, &aws.endpoint, e))?;
        let entries: Vec<DeleteMessageBatchRequestEntry> = out
            .messages()
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        let out = aws
            .sqs
            .delete_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| QueueError::aws("DeleteMessageBatch", &url, &aws.endpoint, e))?;
        deleted.fetch_add(out.successful().len(), Ordering::Relaxed);
        last_delete = Instant::now();
    }
    Ok(last_delete)
}
