//! The queue operations the ceilings are made of, and the looks at queue depths the e2e
//! scenario takes: SQS calls as plain as the SDK allows, each failure naming its call and
//! queue. The ceilings use fulfil's own topology (`topology::ensure`: FIFO topics, raw
//! delivery, DLQs) under a prefix of their own, so they pay for the same queue shape the
//! pipeline does.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, QueueAttributeName as Attr};

use super::BenchError;
use fulfil::config::Topology;
use fulfil::queue::publisher::{CommandPublisher, Outgoing};
use fulfil::queue::topology::{self, Provisioned};
use fulfil::queue::{AwsClients, QueueError};

/// Both pipes (commands and events) under `prefix`, FIFO like production.
pub(super) async fn provision(aws: &AwsClients, prefix: &str) -> Result<Provisioned, BenchError> {
    let shape = Topology::validate(prefix, true, 5, 30)?;
    let (provisioned, _) = topology::ensure(aws, &shape).await?;
    Ok(provisioned)
}

/// Deletes what [`provision`] made; failures are ignored (the prefix is unique).
pub(super) async fn remove(aws: &AwsClients, p: &Provisioned) {
    for queue in [
        &p.commands_queue,
        &p.commands_dlq,
        &p.projector_queue,
        &p.projector_dlq,
    ] {
        let _ = aws.sqs.delete_queue().queue_url(&queue.url).send().await;
    }
    for topic in [&p.commands_topic_arn, &p.events_topic_arn] {
        let _ = aws.sns.delete_topic().topic_arn(topic).send().await;
    }
}

/// Publishes every message (eight calls in flight); an entry SNS refused is an error.
pub(super) async fn publish_all(
    publisher: &CommandPublisher,
    messages: &[Outgoing],
) -> Result<(), BenchError> {
    let report = publisher.publish(messages, |_| {}).await?;
    match report.failed.first() {
        None => Ok(()),
        Some((index, why)) => Err(BenchError::Worker(format!(
            "message {index} not published: {why}"
        ))),
    }
}

/// One receive of up to ten messages, waiting at most a second.
pub(super) async fn receive(aws: &AwsClients, url: &str) -> Result<Vec<Message>, BenchError> {
    let out = aws
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .map_err(|e| QueueError::aws("ReceiveMessage", url, &aws.endpoint, e))?;
    Ok(out.messages.unwrap_or_default())
}

/// One `DeleteMessageBatch` of `messages`; returns how many SQS deleted.
pub(super) async fn delete(
    aws: &AwsClients,
    url: &str,
    messages: &[Message],
) -> Result<usize, BenchError> {
    let entries: Vec<DeleteMessageBatchRequestEntry> = messages
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
        return Ok(0);
    }
    let out = aws
        .sqs
        .delete_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(|e| QueueError::aws("DeleteMessageBatch", url, &aws.endpoint, e))?;
    Ok(out.successful().len())
}

/// Messages in `url`, visible and in flight (both approximate).
pub(super) async fn depth(aws: &AwsClients, url: &str) -> Result<i64, BenchError> {
    let (visible, in_flight) = fulfil_testkit::check::drain::depth(aws, url).await?;
    Ok(visible + in_flight)
}

/// Waits until `url` shows at least `count` visible messages (SNS delivers asynchronously).
pub(super) async fn wait_visible(
    aws: &AwsClients,
    url: &str,
    count: usize,
) -> Result<(), BenchError> {
    let budget = Duration::from_secs(120);
    let until = Instant::now() + budget;
    loop {
        let out = aws
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(Attr::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| QueueError::aws("GetQueueAttributes", url, &aws.endpoint, e))?;
        let visible: usize = out
            .attributes()
            .and_then(|a| a.get(&Attr::ApproximateNumberOfMessages))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if visible >= count {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(BenchError::Timeout {
                what: format!("{count} messages visible in {url} (saw {visible})"),
                seconds: budget.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
