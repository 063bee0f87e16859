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
    #[error(
        "cannot read the CA file {path:?} that ca_file in the Redis URL {url} names: {source}"
    )]
    RedisCaFile {
        url: String,
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    #[error(transparent)]
    Ops(#[from] crate::ops::BindError),
    #[error(transparent)]
    Api(#[from] crate::api::ServeError),
}

/// A Redis connection that reconnects by itself after an outage, and fails at start if
/// Redis is not there. `rediss://` is TLS, the server's certificate checked against the
/// public roots, or against the PEM file the URL's `ca_file` parameter names (a private CA).
pub async fn connect_redis(url: &SecretUrl) -> Result<ConnectionManager, RunError> {
    let err = |source| RunError::Redis {
        url: url.redacted(),
        source,
    };
    let client = redis_client(url).map_err(|e| match e {
        ClientError::Redis(source) => err(source),
        ClientError::CaFile { path, source } => RunError::RedisCaFile {
            url: url.redacted(),
            path,
            source,
        },
    })?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2);
    client
        .get_connection_manager_with_config(config)
        .await
        .map_err(err)
}

enum ClientError {
    Redis(redis::RedisError),
    CaFile {
        path: String,
        source: std::io::Error,
    },
}

/// The client for `url`, with the CA its `ca_file` parameter names (the parameter itself is
/// ours: it is taken out before the URL reaches the driver).
fn redis_client(url: &SecretUrl) -> Result<redis::Client, ClientError> {
    let (url, ca_file) = split_ca_file(url.expose());
    let Some(path) = ca_file else {
        return redis::Client::open(url.as_str()).map_err(ClientError::Redis);
    };
    let pem = std::fs::read(&path).map_err(|source| ClientError::CaFile {
        path: path.clone(),
        source,
    })?;
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    redis::Client::build_with_tls(url.as_str(), certificates).map_err(ClientError::Redis)
}

/// `url` without its `ca_file` query parameter, and that parameter's value.
fn split_ca_file(url: &str) -> (String, Option<String>) {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return (url.to_owned(), None);
    };
    let (ca, rest): (Vec<_>, Vec<_>) = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .partition(|(k, _)| k == "ca_file");
    if ca.is_empty() {
        return (url.to_owned(), None);
    }
    parsed.set_query(None);
    if !rest.is_empty() {
        parsed.query_pairs_mut().extend_pairs(rest);
    }
    (parsed.to_string(), ca.into_iter().next().map(|(_, v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_file_parameter_is_taken_out_of_the_redis_url() {
        let (url, ca) =
            split_ca_file("rediss://:pw@h:6380/0?ca_file=%2Ftmp%2Fca.pem&protocol=resp3");
        assert_eq!(url, "rediss://:pw@h:6380/0?protocol=resp3");
        assert_eq!(ca.as_deref(), Some("/tmp/ca.pem"));
        let (url, ca) = split_ca_file("rediss://h:6380?ca_file=/tmp/ca.pem");
        assert_eq!(
            (url.as_str(), ca.as_deref()),
            ("rediss://h:6380", Some("/tmp/ca.pem"))
        );
    }

    #[test]
    fn a_url_without_it_is_left_as_it_is() {
        let (url, ca) = split_ca_file("redis://h:6379/2");
        assert_eq!((url.as_str(), ca), ("redis://h:6379/2", None));
    }
}
