//! (ii) The bare pipeline: one process doing exactly the queue operations fulfil's pipeline
//! does per command, and nothing else. Publish the command through SNS; receive it from the
//! commands queue and delete it; publish one event per command through SNS (as the relay
//! does, `PublishBatch` with the `event_type` attribute, one FIFO group per aggregate); receive
//! it from the projector queue and delete it. No database, no Redis, no parsing: the most
//! this LocalStack allows, and so the fair ceiling for the whole pipeline. It polls as
//! often as the pipeline does (the workers' polls on commands, the projector's on events),
//! and everything runs at once, publishing included, as in the pipeline.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_sdk_sqs::types::Message;
use tokio::task::JoinSet;

use super::{queues, BenchError};
use fulfil::queue::publisher::{CommandPublisher, Outgoing};
use fulfil::queue::topology::Provisioned;
use fulfil::queue::{AwsClients, QueueError};

/// Pollers on each queue.
#[derive(Debug, Clone, Copy)]
pub(super) struct Polls {
    pub commands: usize,
    pub events: usize,
}

/// Commands per second, from the first publish until the last event was deleted.
pub(super) async fn measure(
    aws: &AwsClients,
    prefix: &str,
    messages: &[Outgoing],
    polls: Polls,
) -> Result<f64, BenchError> {
    let pipes = Arc::new(queues::provision(aws, prefix).await?);
    let measured = run(aws, &pipes, messages, polls).await;
    queues::remove(aws, &pipes).await;
    measured
}

/// What the pollers share: the pipes, the goal and how far they got.
struct Run {
    aws: AwsClients,
    pipes: Arc<Provisioned>,
    total: usize,
    forwarded: AtomicUsize,
    consumed: AtomicUsize,
    deadline: Instant,
}

async fn run(
    aws: &AwsClients,
    pipes: &Arc<Provisioned>,
    messages: &[Outgoing],
    polls: Polls,
) -> Result<f64, BenchError> {
    let budget = Duration::from_secs(120 + messages.len() as u64 / 10);
    let shared = Arc::new(Run {
        aws: aws.clone(),
        pipes: Arc::clone(pipes),
        total: messages.len(),
        forwarded: AtomicUsize::new(0),
        consumed: AtomicUsize::new(0),
        deadline: Instant::now() + budget,
    });
    let started = Instant::now();
    let mut pollers = JoinSet::new();
    for _ in 0..polls.commands {
        pollers.spawn(forward_commands(Arc::clone(&shared)));
    }
    for _ in 0..polls.events {
        pollers.spawn(consume_events(Arc::clone(&shared)));
    }
    let publisher = CommandPublisher::new(aws.clone(), pipes.commands_topic_arn.clone(), true);
    queues::publish_all(&publisher, messages).await?;
    while let Some(joined) = pollers.join_next().await {
        joined.map_err(|e| BenchError::Worker(format!("a bare-pipeline poller died: {e}")))??;
    }
    Ok(messages.len() as f64 / started.elapsed().as_secs_f64())
}

impl Run {
    fn on_time(&self, what: &str) -> Result<(), BenchError> {
        match Instant::now() < self.deadline {
            true => Ok(()),
            false => Err(BenchError::Timeout {
                what: format!("the bare pipeline {what} {} commands", self.total),
                seconds: 120 + self.total as u64 / 10,
            }),
        }
    }
}

/// The workers' and the relay's queue work: receive commands, publish their events, delete.
async fn forward_commands(run: Arc<Run>) -> Result<(), BenchError> {
    let url = &run.pipes.commands_queue.url;
    while run.forwarded.load(Ordering::Relaxed) < run.total {
        run.on_time("forwarding")?;
        let received = queues::receive(&run.aws, url).await?;
        if received.is_empty() {
            continue;
        }
        publish_events(&run.aws, &run.pipes.events_topic_arn, &received).await?;
        let deleted = queues::delete(&run.aws, url, &received).await?;
        run.forwarded.fetch_add(deleted, Ordering::Relaxed);
    }
    Ok(())
}

/// The projector's queue work: receive events, delete them.
async fn consume_events(run: Arc<Run>) -> Result<(), BenchError> {
    let url = &run.pipes.projector_queue.url;
    while run.consumed.load(Ordering::Relaxed) < run.total {
        run.on_time("consuming the events of")?;
        let received = queues::receive(&run.aws, url).await?;
        let deleted = queues::delete(&run.aws, url, &received).await?;
        run.consumed.fetch_add(deleted, Ordering::Relaxed);
    }
    Ok(())
}

/// One event per received command, about the size of a real one, in one `PublishBatch`.
async fn publish_events(
    aws: &AwsClients,
    topic_arn: &str,
    commands: &[Message],
) -> Result<(), BenchError> {
    let entries = commands
        .iter()
        .enumerate()
        .map(|(i, m)| event_entry(i, m))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BenchError::Worker(format!("bare pipeline event: {e}")))?;
    let out = aws
        .sns
        .publish_batch()
        .topic_arn(topic_arn)
        .set_publish_batch_request_entries(Some(entries))
        .send()
        .await
        .map_err(|e| QueueError::aws("PublishBatch", topic_arn, &aws.endpoint, e))?;
    match out.failed().first() {
        None => Ok(()),
        Some(f) => Err(BenchError::Worker(format!(
            "SNS refused a bare-pipeline event: {}",
            f.message().unwrap_or(f.code())
        ))),
    }
}

fn event_entry(
    index: usize,
    command: &Message,
) -> Result<PublishBatchRequestEntry, aws_sdk_sns::error::BuildError> {
    let id = command.message_id().unwrap_or_default();
    let body = format!(
        r#"{{"event_type":"OrderConfirmed","aggregate_type":"order","aggregate_id":"{id}","version":1,"data":{}}}"#,
        command.body().unwrap_or("{}")
    );
    PublishBatchRequestEntry::builder()
        .id(format!("e{index}"))
        .message(body)
        .message_attributes(
            "event_type",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("OrderConfirmed")
                .build()?,
        )
        .message_group_id(format!("order:{id}"))
        .message_deduplication_id(id)
        .build()
}
