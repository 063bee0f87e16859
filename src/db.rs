//! PostgreSQL plumbing shared by the write side and the read side: pools and migrations.

use std::time::Duration;

use sqlx::{migrate::Migrator, postgres::PgPoolOptions, PgPool};

use crate::config::SecretUrl;

pub static WRITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/write");
pub static READ_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/read");

/// Which database a failure concerns, so messages say "write database" or "read database".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    Write,
    Read,
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Database::Write => "write database",
            Database::Read => "read database",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to the {database} at {url}: {source}")]
    Connect {
        database: Database,
        url: String,
        source: sqlx::Error,
    },
    #[error("migrating the {database} failed: {source}")]
    Migrate {
        database: Database,
        source: sqlx::migrate::MigrateError,
    },
    #[error("{database}: {source}")]
    Query {
        database: Database,
        source: sqlx::Error,
    },
}

/// Opens a pool, failing within a few seconds when the server is not there.
pub async fn connect(
    database: Database,
    url: &SecretUrl,
    max_connections: u32,
) -> Result<PgPool, DbError> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url.expose())
        .await
        .map_err(|source| DbError::Connect {
            database,
            url: url.redacted(),
            source,
        })
}

/// Applies pending migrations; returns how many were applied (0: the schema was current).
pub async fn migrate(database: Database, pool: &PgPool) -> Result<usize, DbError> {
    let migrator = match database {
        Database::Write => &WRITE_MIGRATIONS,
        Database::Read => &READ_MIGRATIONS,
    };
    let before = applied_migrations(database, pool).await?;
    migrator
        .run(pool)
        .await
        .map_err(|source| DbError::Migrate { database, source })?;
    let after = applied_migrations(database, pool).await?;
    Ok(after.saturating_sub(before))
}

async fn applied_migrations(database: Database, pool: &PgPool) -> Result<usize, DbError> {
    let query_err = |source| DbError::Query { database, source };
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(query_err)?;
    if !exists {
        return Ok(0);
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map_err(query_err)?;
    Ok(usize::try_from(count).unwrap_or(0))
}
