//! The lock's error boundary: each variant carries what the worker needs to log and decide.

use std::time::Duration;

/// Why a lock operation did not complete.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another worker kept one of the products locked for the whole acquire timeout.
    #[error(
        "lock on product {product_id:?} not acquired within {} ms (held by another worker)",
        waited.as_millis()
    )]
    Timeout {
        product_id: String,
        waited: Duration,
    },
    /// Redis failed or did not answer; `operation` says which step, for the logs.
    #[error("redis {operation} failed")]
    Redis {
        operation: &'static str,
        source: redis::RedisError,
    },
    /// Redis refused the step's write for want of memory: an outage of Redis for the
    /// worker's purposes, though Redis still answers reads and PING.
    #[error("redis {operation} refused: {}", crate::redis_fault::OUT_OF_MEMORY)]
    OutOfMemory {
        operation: &'static str,
        source: redis::RedisError,
    },
}

impl LockError {
    /// Neither case says anything about the message itself: a contended product frees up and
    /// Redis comes back, so the message is left for redelivery rather than stored as invalid.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Redis { .. } | Self::OutOfMemory { .. } => true,
        }
    }

    pub(super) fn redis(operation: &'static str) -> impl FnOnce(redis::RedisError) -> Self {
        move |source| match crate::redis_fault::is_out_of_memory(&source) {
            true => Self::OutOfMemory { operation, source },
            false => Self::Redis { operation, source },
        }
    }
}
