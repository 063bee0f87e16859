//! (i) LocalStack's bare publish ceiling: the orders published through SNS (`PublishBatch`
//! of ten, eight calls in flight, as `fulfil publish` does) to a FIFO topic, timed until the
//! subscribed FIFO queue shows every one of them. No consumer, no database: the fastest
//! commands can enter the pipeline on this machine. The bare pipeline, (ii), is in
//! [`super::bare_pipeline`].

use std::time::Instant;

use super::{queues, BenchError};
use fulfil::queue::publisher::{CommandPublisher, Outgoing};
use fulfil::queue::AwsClients;

/// Messages per second from the first `PublishBatch` until all are visible in the queue.
pub(super) async fn sns_to_sqs(
    aws: &AwsClients,
    prefix: &str,
    messages: &[Outgoing],
) -> Result<f64, BenchError> {
    let pipes = queues::provision(aws, prefix).await?;
    let publisher = CommandPublisher::new(aws.clone(), pipes.commands_topic_arn.clone(), true);
    let measured = async {
        let started = Instant::now();
        queues::publish_all(&publisher, messages).await?;
        queues::wait_visible(aws, &pipes.commands_queue.url, messages.len()).await?;
        Ok(messages.len() as f64 / started.elapsed().as_secs_f64())
    }
    .await;
    queues::remove(aws, &pipes).await;
    measured
}
