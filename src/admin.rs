//! Operator commands on what the worker kept: list the invalid commands, and replay one
//! (as it was, or corrected) onto the commands queue.

use crate::config::{AwsSettings, SecretUrl, Topology};
use crate::contract::Envelope;
use crate::db::{self, Database, DbError};
use crate::queue::{topology, AwsClients, QueueError};
use crate::store::invalid::{self, InvalidCommand};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("no invalid command with id {0}")]
    NotFound(i64),
}

pub async fn list_invalid(url: &SecretUrl, limit: i64) -> Result<Vec<InvalidCommand>, AdminError> {
    let pool = db::connect(Database::Write, url, 1).await?;
    Ok(invalid::list(&pool, limit).await?)
}

/// What a replay sent.
#[derive(Debug)]
pub struct Replayed {
    pub message_id: String,
    pub body: String,
}

/// Sends the kept body (or `corrected`) to the commands queue and marks the row replayed.
/// A body that is still invalid is simply kept again, under its new message id.
pub async fn replay_invalid(
    url: &SecretUrl,
    aws: &AwsSettings,
    topology: &Topology,
    id: i64,
    corrected: Option<String>,
) -> Result<Replayed, AdminError> {
    let pool = db::connect(Database::Write, url, 1).await?;
    let kept = invalid::get(&pool, id)
        .await?
        .ok_or(AdminError::NotFound(id))?;
    let body = corrected.unwrap_or(kept.body);
    let clients = AwsClients::connect(aws).await;
    let queue = topology::queue_url(&clients, &topology.commands_queue()).await?;
    let mut send = clients
        .sqs
        .send_message()
        .queue_url(&queue)
        .message_body(&body);
    if topology.fifo {
        let (group, dedup) = match Envelope::parse(&body) {
            Ok(e) => (e.command.message_group_id().to_owned(), e.command_id),
            Err(_) => (
                format!("replay-{id}"),
                format!("replay-{id}-{}", chrono::Utc::now().timestamp_millis()),
            ),
        };
        send = send.message_group_id(group).message_deduplication_id(dedup);
    }
    let out = send
        .send()
        .await
        .map_err(|e| QueueError::aws("SendMessage", &queue, &clients.endpoint, e))?;
    invalid::mark_replayed(&pool, id).await?;
    Ok(Replayed {
        message_id: out.message_id().unwrap_or_default().to_owned(),
        body,
    })
}
