//! Where a benchmark runs: the services from the usual settings, and a write database (created
//! and migrated here, on the server of FULFIL_WRITE_DATABASE_URL) and Redis key prefix of its
//! own, so a bench never touches the data of a running stack and leaves nothing behind.

use std::time::Duration;

use redis::aio::ConnectionManager;
use sqlx::{Connection, PgConnection, PgPool};

use super::{paths, BenchError};
use fulfil::config::{self, AwsSettings, SecretUrl};
use fulfil::db::{self, Database};

/// Connections of the bench's pool: one per receiver of the largest cell (64) and room to
/// spare, so no path's concurrency is capped by the pool instead of by its own locking.
const POOL_SIZE: u32 = 72;

/// The services a bench connects to (the same settings every role reads).
#[derive(Debug, Clone)]
pub struct Services {
    pub write_database_url: SecretUrl,
    pub read_database_url: SecretUrl,
    pub redis_url: SecretUrl,
    pub aws: AwsSettings,
}

/// A fresh, migrated write database with the baselines' tables, and a unique key prefix.
pub struct BenchEnv {
    pub services: Services,
    pub database_name: String,
    pub pool: PgPool,
    pub redis: ConnectionManager,
    pub key_prefix: String,
}

impl BenchEnv {
    pub async fn create(services: Services) -> Result<Self, BenchError> {
        let tag = short_id();
        let database_name = format!("bench_{tag}");
        let url = create_database(&services.write_database_url, &database_name).await?;
        let pool = db::connect(Database::Write, &url, POOL_SIZE).await?;
        db::migrate(Database::Write, &pool).await?;
        paths::create_tables(&pool).await?;
        let redis = connect_redis(&services.redis_url).await?;
        Ok(Self {
            services,
            database_name,
            pool,
            redis,
            key_prefix: format!("bench-{tag}:"),
        })
    }

    /// Drops the database and the Redis keys; failures are only reported.
    pub async fn remove(self) {
        self.pool.close().await;
        let server = &self.services.write_database_url;
        if let Err(e) = drop_database(server, &self.database_name).await {
            tracing::warn!(error = %e, database = %self.database_name, "bench database left behind");
        }
        if let Err(e) = delete_keys(&self.redis, &self.key_prefix).await {
            tracing::warn!(error = %e, prefix = %self.key_prefix, "bench Redis keys left behind");
        }
    }
}

/// Ten hex digits: unique enough for names, short enough for queue prefixes.
pub(super) fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// `server` with its database replaced by `name`.
pub(super) fn with_database(server: &SecretUrl, name: &str) -> Result<SecretUrl, BenchError> {
    let mut url = url::Url::parse(server.expose()).map_err(|e| config::ConfigError {
        setting: "FULFIL_WRITE_DATABASE_URL",
        value: server.redacted(),
        reason: e.to_string(),
    })?;
    url.set_path(&format!("/{name}"));
    Ok(config::validate_postgres_url(
        "bench database",
        url.as_str(),
    )?)
}

async fn admin(server: &SecretUrl) -> Result<PgConnection, BenchError> {
    let url = with_database(server, "postgres")?;
    let connect = PgConnection::connect(url.expose());
    tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| BenchError::Timeout {
            what: format!("connecting to {}", url.redacted()),
            seconds: 5,
        })?
        .map_err(BenchError::db(format!("connect to {}", url.redacted())))
}

/// Creates an empty database `name` on the server of `server`; returns its URL.
pub(super) async fn create_database(
    server: &SecretUrl,
    name: &str,
) -> Result<SecretUrl, BenchError> {
    let mut conn = admin(server).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .map_err(BenchError::db(format!("CREATE DATABASE {name}")))?;
    let _ = conn.close().await;
    with_database(server, name)
}

pub(super) async fn drop_database(server: &SecretUrl, name: &str) -> Result<(), BenchError> {
    let mut conn = admin(server).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .map_err(BenchError::db(format!("DROP DATABASE {name}")))?;
    let _ = conn.close().await;
    Ok(())
}

pub(super) async fn connect_redis(url: &SecretUrl) -> Result<ConnectionManager, BenchError> {
    let what = format!("connect to {}", url.redacted());
    let client = redis::Client::open(url.expose()).map_err(BenchError::redis(what.clone()))?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1);
    client
        .get_connection_manager_with_config(config)
        .await
        .map_err(BenchError::redis(what))
}

/// Deletes every key under `prefix` (SCAN, never KEYS: the Redis may be shared).
pub(super) async fn delete_keys(redis: &ConnectionManager, prefix: &str) -> Result<(), BenchError> {
    let mut conn = redis.clone();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .map_err(BenchError::redis("SCAN"))?;
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .map_err(BenchError::redis("DEL"))?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}
