//! What can stop a benchmark: each variant names the step and carries what failed. A run
//! whose outcome is wrong is not an error: it is reported as FAILED in the report.

use fulfil::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("bench database: {what}: {source}")]
    Db {
        what: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Connect(#[from] fulfil::db::DbError),
    #[error("bench Redis: {what}: {source}")]
    Redis {
        what: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("our path: {0}")]
    Worker(String),
    #[error(transparent)]
    Setup(#[from] fulfil::setup::SetupError),
    #[error(transparent)]
    Queue(#[from] fulfil::queue::QueueError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} did not happen within {seconds} s")]
    Timeout { what: String, seconds: u64 },
}

impl BenchError {
    pub(crate) fn db(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let what = what.into();
        move |source| Self::Db { what, source }
    }

    pub(crate) fn redis(what: impl Into<String>) -> impl FnOnce(redis::RedisError) -> Self {
        let what = what.into();
        move |source| Self::Redis { what, source }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
