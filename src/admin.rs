//! Operator commands on what the pipeline set aside: the invalid commands the worker kept
//! (list, and replay one as it was or corrected onto the commands queue), and the two
//! dead-letter queues (list, show one, redrive to the queue they came from).

use crate::config::{AwsSettings, SecretUrl, Topology};
use crate::contract::Envelope;
use crate::db::{self, Database, DbError};
use crate::queue::dlq::{self, Peeked, Redriven};
use crate::queue::move_task::{self, Started};
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
    #[error("no message {message_id} in {queue} ({count} message(s) there)")]
    NotInDlq {
        message_id: String,
        queue: String,
        count: usize,
    },
}

/// One of the two dead-letter queues, and the queue its messages came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeadLetterQueue {
    /// The commands DLQ: order commands the worker could not apply.
    Commands,
    /// The projector DLQ: change events the projector could not apply.
    Projector,
}

impl DeadLetterQueue {
    fn names(self, topology: &Topology) -> (String, String) {
        match self {
            Self::Commands => (topology.commands_dlq(), topology.commands_queue()),
            Self::Projector => (topology.projector_dlq(), topology.projector_queue()),
        }
    }
}

/// A dead-letter queue and its source, found by name.
pub struct DlqAt {
    clients: AwsClients,
    pub dlq_name: String,
    dlq_url: String,
    source_url: String,
}

impl DlqAt {
    pub async fn find(
        aws: &AwsSettings,
        topology: &Topology,
        which: DeadLetterQueue,
    ) -> Result<DlqAt, AdminError> {
        let clients = AwsClients::connect(aws).await;
        let (dlq_name, source_name) = which.names(topology);
        let dlq_url = topology::queue_url(&clients, &dlq_name).await?;
        let source_url = topology::queue_url(&clients, &source_name).await?;
        Ok(DlqAt {
            clients,
            dlq_name,
            dlq_url,
            source_url,
        })
    }

    /// Every message there now, each once, left in place.
    pub async fn list(&self) -> Result<Vec<Peeked>, AdminError> {
        Ok(dlq::peek(&self.clients, &self.dlq_url, DLQ_LOOK).await?)
    }

    /// The message with this id, left in place.
    pub async fn show(&self, message_id: &str) -> Result<Peeked, AdminError> {
        let all = self.list().await?;
        let count = all.len();
        all.into_iter()
            .find(|m| m.message_id == message_id)
            .ok_or_else(|| AdminError::NotInDlq {
                message_id: message_id.to_owned(),
                queue: self.dlq_name.clone(),
                count,
            })
    }

    /// Sends the messages named in `only` (all when empty) back to their source queue. A
    /// name not found there is an error, after the others were moved.
    pub async fn redrive(
        &self,
        only: &[String],
        progress: impl Fn(&Peeked),
    ) -> Result<Redriven, AdminError> {
        let (dlq, source) = (&self.dlq_url, &self.source_url);
        let done = dlq::redrive(&self.clients, dlq, source, only, progress).await?;
        match only.iter().find(|id| !done.moved.contains(id)) {
            Some(missing) => Err(AdminError::NotInDlq {
                message_id: missing.clone(),
                queue: self.dlq_name.clone(),
                count: done.left,
            }),
            None => Ok(done),
        }
    }
}

/// How a whole-queue redrive by SQS went.
#[derive(Debug)]
pub enum MovedBySqs {
    /// SQS's move task moved this many messages.
    Moved(i64),
    /// SQS would not start a move task, saying why.
    Refused(String),
}

impl DlqAt {
    /// Every message back to its source queue by SQS's own move task, waiting for it to
    /// end; `progress` hears (moved, to move) meanwhile.
    pub async fn redrive_all_by_sqs(
        &self,
        progress: impl Fn(i64, Option<i64>),
    ) -> Result<MovedBySqs, AdminError> {
        let dlq_arn = topology::queue_arn(&self.clients, &self.dlq_url).await?;
        let target_arn = topology::queue_arn(&self.clients, &self.source_url).await?;
        match move_task::start(&self.clients, &dlq_arn, &target_arn).await {
            Started::Refused(why) => Ok(MovedBySqs::Refused(why)),
            Started::Moving => {
                let moved = move_task::wait(&self.clients, &dlq_arn, progress).await?;
                Ok(MovedBySqs::Moved(moved))
            }
        }
    }
}

/// How long a look hides what it saw: long enough to see every message once.
const DLQ_LOOK: std::time::Duration = std::time::Duration::from_secs(30);

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
