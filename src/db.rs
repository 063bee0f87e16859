//! PostgreSQL plumbing shared by the write side and the read side: pools, migrations and
//! the one reading of database failures ([`fault`]).

pub mod fault;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{migrate::Migrator, Connection as _, PgConnection, PgPool};

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

/// Bounded waits for every session of a pool: a worker partitioned mid-transaction must
/// not keep a product's row lock while the next lease holder blocks on it. Each should stay
/// below the lock lease, so the database gives up before the lease does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// `lock_timeout`: longest wait for a row lock.
    pub lock_timeout: Duration,
    /// `statement_timeout`: longest statement.
    pub statement_timeout: Duration,
    /// `idle_in_transaction_session_timeout`: a transaction whose client went quiet is
    /// ended by the server, releasing its locks.
    pub idle_in_transaction: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            lock_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(3),
            idle_in_transaction: Duration::from_secs(4),
        }
    }
}

impl SessionLimits {
    /// Session settings sent at connect time, with server-side TCP keepalives so that a
    /// vanished client is noticed within half a minute even outside a transaction.
    fn options(&self) -> [(&'static str, String); 6] {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        [
            ("lock_timeout", ms(self.lock_timeout)),
            ("statement_timeout", ms(self.statement_timeout)),
            (
                "idle_in_transaction_session_timeout",
                ms(self.idle_in_transaction),
            ),
            ("tcp_keepalives_idle", "10".into()),
            ("tcp_keepalives_interval", "5".into()),
            ("tcp_keepalives_count", "3".into()),
        ]
    }
}

/// Every session plans each execution with its actual parameters. Statements are prepared
/// once per connection; left to itself, PostgreSQL switches a prepared statement to a
/// generic plan after five runs and keeps it for the connection's life. A generic plan
/// made while a table was nearly empty (a fresh deployment, the first seconds of a sale)
/// is a sequential scan, and the inbox and order look-ups then grow with the table until
/// the next ANALYZE (measured: 0.2 ms → 4.4 ms per unit within 20 s of a bench run).
/// Planning these short statements costs less than one such scan.
const PLAN_EACH_EXECUTION: (&str, &str) = ("plan_cache_mode", "force_custom_plan");

/// Random reads priced as what they are for this workload: the hot tables' indexes and
/// recent rows are in memory (or on SSD storage, as on RDS), not on the spinning disk
/// PostgreSQL's default of 4 assumes. With the default, a unit's look-up of 150 order ids
/// in a table of 20,000 orders is planned as a sequential scan (4–5 ms, growing with the
/// table) instead of 150 index probes (0.2 ms); measured with `EXPLAIN ANALYZE` on a bench
/// database.
const CACHED_RANDOM_READS: (&str, &str) = ("random_page_cost", "1.1");

/// Opens a pool, failing within a few seconds when the server is not there.
pub async fn connect(
    database: Database,
    url: &SecretUrl,
    max_connections: u32,
) -> Result<PgPool, DbError> {
    connect_limited(database, url, max_connections, None).await
}

/// [`connect`], with every session's waits bounded by `limits`.
pub async fn connect_limited(
    database: Database,
    url: &SecretUrl,
    max_connections: u32,
    limits: Option<SessionLimits>,
) -> Result<PgPool, DbError> {
    let failed = |source| DbError::Connect {
        database,
        url: url.redacted(),
        source,
    };
    let mut options: PgConnectOptions = url.expose().parse().map_err(failed)?;
    options = options.options([PLAN_EACH_EXECUTION, CACHED_RANDOM_READS]);
    if let Some(limits) = limits {
        options = options.options(limits.options());
    }
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| Box::pin(ping_if_idle(conn, meta.idle_for)))
        .connect_with(options)
        .await
        .map_err(failed)
}

/// A connection idle this long is pinged before it is handed out; one used more recently is
/// handed out as it is.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Pings a connection that has been idle for [`PING_AFTER_IDLE`] or longer (an error closes
/// it and the pool hands out another). sqlx's default pings on every acquire: one more round
/// trip before each unit, on the hot product's serial path (issue 10's profile: 0.2–0.3 ms
/// under load, a unit of 80 orders taking 5 ms). A connection that broke less than a second
/// after its last use fails its first statement instead, which every caller already handles
/// as an outage of the database.
async fn ping_if_idle(conn: &mut PgConnection, idle_for: Duration) -> Result<bool, sqlx::Error> {
    if idle_for >= PING_AFTER_IDLE {
        conn.ping().await?;
    }
    Ok(true)
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
