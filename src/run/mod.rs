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
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;

use crate::config::{RedisUrls, SecretUrl};
use crate::redis_conn::RedisConnection;

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
/// Redis is not there: one node for one URL, a Redis Cluster for several (the seed nodes).
/// `rediss://` is TLS, the server's certificate checked against the public roots, or against
/// the PEM file the URL's `ca_file` parameter names (a private CA).
pub async fn connect_redis(urls: &RedisUrls) -> Result<RedisConnection, RunError> {
    let connected = match urls.urls() {
        [url] => connect_single(url).await.map(RedisConnection::from),
        seeds => connect_cluster(seeds).await.map(RedisConnection::from),
    };
    connected.map_err(|e| e.naming(urls))
}

async fn connect_single(url: &SecretUrl) -> Result<ConnectionManager, ClientError> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT))
        .set_number_of_retries(2);
    let client = redis_client(url)?;
    Ok(client.get_connection_manager_with_config(config).await?)
}

/// The cluster client learns every node from whichever seed answers; a `ca_file` on any
/// seed applies to all (a cluster's nodes share their CA).
async fn connect_cluster(seeds: &[SecretUrl]) -> Result<ClusterConnection, ClientError> {
    let split: Vec<(String, Option<String>)> = seeds
        .iter()
        .map(|url| split_ca_file(url.expose()))
        .collect();
    let ca_file = split.iter().find_map(|(_, ca)| ca.clone());
    let nodes: Vec<String> = split.into_iter().map(|(url, _)| url).collect();
    let mut builder = ClusterClientBuilder::new(nodes)
        .connection_timeout(TIMEOUT)
        .response_timeout(TIMEOUT)
        .retries(2);
    if let Some(path) = ca_file {
        builder = builder.certs(certificates(read_ca(path)?));
    }
    Ok(builder.build()?.get_async_connection().await?)
}

const TIMEOUT: Duration = Duration::from_secs(2);

enum ClientError {
    Redis(redis::RedisError),
    CaFile {
        path: String,
        source: std::io::Error,
    },
}

impl From<redis::RedisError> for ClientError {
    fn from(e: redis::RedisError) -> Self {
        Self::Redis(e)
    }
}

impl ClientError {
    fn naming(self, urls: &RedisUrls) -> RunError {
        let url = urls.redacted();
        match self {
            Self::Redis(source) => RunError::Redis { url, source },
            Self::CaFile { path, source } => RunError::RedisCaFile { url, path, source },
        }
    }
}

/// The client for `url`, with the CA its `ca_file` parameter names (the parameter itself is
/// ours: it is taken out before the URL reaches the driver).
fn redis_client(url: &SecretUrl) -> Result<redis::Client, ClientError> {
    let (url, ca_file) = split_ca_file(url.expose());
    let Some(path) = ca_file else {
        return Ok(redis::Client::open(url.as_str())?);
    };
    let certificates = certificates(read_ca(path)?);
    Ok(redis::Client::build_with_tls(url.as_str(), certificates)?)
}

fn read_ca(path: String) -> Result<Vec<u8>, ClientError> {
    std::fs::read(&path).map_err(|source| ClientError::CaFile { path, source })
}

fn certificates(pem: Vec<u8>) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }
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
