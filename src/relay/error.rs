//! What can stop a relay step, classified so the loop knows an outage from a bug.

use crate::queue::QueueError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading, locking or marking outbox rows failed; nothing of this step was marked
    /// published, so every row in it is relayed again (at worst as a duplicate).
    #[error("relay: {0}")]
    Database(#[from] StoreError),
    /// A failpoint failed the step (fault tests only); nothing of it was marked.
    #[error("relay: {0}")]
    Injected(#[from] crate::failpoint::Injected),
    /// A step's task panicked (a bug); its transaction rolled back, nothing was marked.
    #[error("relay: a step panicked: {0}")]
    Panicked(String),
    /// A `PublishBatch` call to the events topic failed as a whole (not one entry in it).
    #[error("relay: {source}")]
    Publish {
        topic_arn: String,
        #[source]
        source: QueueError,
    },
}

impl RelayError {
    /// A dependency that is down (database unreachable, SNS not answering): wait for it.
    /// Anything else (a refused request, a bad query) also waits, but is worth a louder log.
    pub fn is_outage(&self) -> bool {
        match self {
            RelayError::Database(e) => e.is_outage(),
            RelayError::Publish { source, .. } => source.is_retryable(),
            RelayError::Injected(_) | RelayError::Panicked(_) => false,
        }
    }

    /// Which dependency failed, for logs and the outage message.
    pub fn dependency(&self) -> &'static str {
        match self {
            RelayError::Database(_) => "write database",
            RelayError::Publish { .. } => "SNS",
            RelayError::Injected(_) => "failpoint",
            RelayError::Panicked(_) => "relay",
        }
    }
}

impl From<sqlx::Error> for RelayError {
    fn from(err: sqlx::Error) -> Self {
        RelayError::Database(StoreError::from(err))
    }
}
