//! Looking into a dead-letter queue without emptying it: for the invariant checker and for
//! operators. Messages are received with a visibility timeout long enough to see each once,
//! and are not deleted, so they reappear for a later redrive.

use std::time::Duration;

use super::{AwsClients, QueueError};

/// Every body in the queue at the time of the call (each once), oldest receive first.
pub async fn peek_bodies(
    aws: &AwsClients,
    queue_url: &str,
    hide_for: Duration,
) -> Result<Vec<String>, QueueError> {
    let mut bodies = Vec::new();
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
            return Ok(bodies);
        }
        bodies.extend(
            out.messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_owned)),
        );
    }
}
