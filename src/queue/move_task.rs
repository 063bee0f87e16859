//! SQS's own redrive (`StartMessageMoveTask`): a whole dead-letter queue moved back by SQS,
//! at its pace and with its bookkeeping. `fulfil dlq redrive` without message ids uses it
//! where the endpoint offers it, and moves the messages itself (see [`super::dlq`]) where
//! SQS refuses to start a task: an endpoint without the API, credentials without
//! `sqs:StartMessageMoveTask`, a DLQ type the API does not take. The destination is always
//! named: SQS knows a source queue only for messages its redrive policy moved, not for those
//! the worker dead-lettered itself.

use std::time::Duration;

use super::{AwsClients, QueueError};

/// How often a running task is asked how far it got.
const POLL: Duration = Duration::from_millis(500);

/// What `StartMessageMoveTask` answered.
#[derive(Debug)]
pub enum Started {
    /// A task is moving the messages.
    Moving,
    /// SQS would not start one (why, as it said it): move them some other way.
    Refused(String),
}

/// Starts moving every message of `dlq_arn` to `target_arn`.
pub async fn start(aws: &AwsClients, dlq_arn: &str, target_arn: &str) -> Started {
    let call = aws.sqs.start_message_move_task();
    let started = call
        .source_arn(dlq_arn)
        .destination_arn(target_arn)
        .send()
        .await;
    match started {
        Ok(_) => Started::Moving,
        Err(e) => Started::Refused(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()),
    }
}

/// Waits for the newest task on `dlq_arn` to end; `progress` hears (moved, to move) while it
/// runs. Returns how many messages it moved; a task that failed or was cancelled is an error
/// naming why.
pub async fn wait(
    aws: &AwsClients,
    dlq_arn: &str,
    progress: impl Fn(i64, Option<i64>),
) -> Result<i64, QueueError> {
    loop {
        let tasks = aws
            .sqs
            .list_message_move_tasks()
            .source_arn(dlq_arn)
            .max_results(1)
            .send()
            .await
            .map_err(|e| QueueError::aws("ListMessageMoveTasks", dlq_arn, &aws.endpoint, e))?;
        let Some(task) = tasks.results().first() else {
            return Err(gone(dlq_arn, "no move task is listed for it"));
        };
        let moved = task.approximate_number_of_messages_moved();
        match task.status().unwrap_or_default() {
            "COMPLETED" => return Ok(moved),
            "RUNNING" | "CANCELLING" => {
                progress(moved, task.approximate_number_of_messages_to_move())
            }
            other => {
                let why = task.failure_reason().unwrap_or("no reason given");
                return Err(gone(
                    dlq_arn,
                    &format!("move task {other} after {moved} message(s): {why}"),
                ));
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

fn gone(dlq_arn: &str, problem: &str) -> QueueError {
    QueueError::Topology {
        resource: dlq_arn.to_owned(),
        problem: problem.to_owned(),
    }
}
