//! One long-running loop per role. Each builds its adapters from validated settings, serves
//! the operations endpoints, and runs until the shutdown token (SIGTERM/SIGINT) is cancelled.

pub mod all;
pub mod api;
pub mod projector;
pub mod prune;
pub mod relay;
pub mod worker;

use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::config::SecretUrl;

/// Failures that stop a role from starting or running, each naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("a role panicked: {0}")]
    Panicked(String),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error("cannot connect to Redis at {url}: {source}")]
    Redis {
        url: String,
        source: redis::RedisError,
    },
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    #[error(transparent)]
    Ops(#[from] crate::ops::BindError),
    #[error(transparent)]
    Api(#[from] crate::api::ServeError),
}

/// A Redis connection that reconnects by itself after an outage, and fails at start if
/// Redis is not there.
pub async fn connect_redis(url: &SecretUrl) -> Result<ConnectionManager, RunError> {
    let err = |source| RunError::Redis {
        url: url.redacted(),
        source,
    };
    let client = redis::Client::open(url.expose()).map_err(err)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2);
    client
        .get_connection_manager_with_config(config)
        .await
        .map_err(err)
}
