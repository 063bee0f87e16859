//! `fulfil rebuild`: the read model rebuilt from the write database's event log into fresh
//! tables, then swapped in (see `swap`), so the query API keeps answering from the old
//! tables until the swap commits. Works on a read schema that was truncated or dropped:
//! the read migrations run first. One rebuild at a time per read database (an advisory
//! lock). Reads the outbox; writes only the read database.

use sqlx::{Connection, PgConnection, PgPool};

use super::log::{self, Unreadable};
use super::swap;
use super::verify::plural;
use crate::config::SecretUrl;
use crate::db::{self, Database, DbError};

/// Held for the whole rebuild; two rebuilds would fight over the `*_rebuild` tables.
pub const REBUILD_LOCK: i64 = 0x6675_6c66_696c_7262;

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("another rebuild is running on the read database")]
    Busy,
}

/// What the rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// Read migrations applied first (all of them after the schema was dropped).
    pub migrations_applied: usize,
    pub events_read: u64,
    /// Events in the rebuilt model, caught-up ones included.
    pub events_applied: u64,
    pub orders: usize,
    pub products: usize,
    /// Events the projector applied to the live tables during the rebuild, taken from the
    /// log into the new tables in the swap.
    pub caught_up: u64,
    pub unreadable: Vec<Unreadable>,
}

impl RebuildReport {
    /// What to tell the operator, one line each.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.migrations_applied > 0 {
            let n = self.migrations_applied as u64;
            lines.push(format!("read schema: {} applied", plural(n, "migration")));
        }
        lines.push(format!(
            "replayed {} from the write database's outbox",
            plural(self.events_read, "event")
        ));
        for u in &self.unreadable {
            lines.push(format!(
                "warning: outbox row {} skipped: {}",
                u.outbox_id, u.error
            ));
        }
        if self.caught_up > 0 {
            lines.push(format!(
                "caught up {} the projector applied meanwhile",
                plural(self.caught_up, "event")
            ));
        }
        lines.push(format!(
            "rebuilt {} and {} from {}; swapped in read_orders and read_products",
            plural(self.orders as u64, "order"),
            plural(self.products as u64, "product"),
            plural(self.events_applied, "event"),
        ));
        lines
    }
}

/// Connects to both databases and rebuilds.
pub async fn rebuild_databases(
    write_url: &SecretUrl,
    read_url: &SecretUrl,
) -> Result<RebuildReport, RebuildError> {
    let write = db::connect(Database::Write, write_url, 2).await?;
    let read = db::connect(Database::Read, read_url, 2).await?;
    let report = rebuild(&write, &read).await;
    write.close().await;
    read.close().await;
    report
}

pub async fn rebuild(write: &PgPool, read: &PgPool) -> Result<RebuildReport, RebuildError> {
    let migrations_applied = db::migrate(Database::Read, read).await?;
    // A connection of its own, closed at the end: its session holds the advisory lock, and
    // closing it releases the lock on every path, errors included.
    let mut conn = read.acquire().await.map_err(read_err)?.detach();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(REBUILD_LOCK)
        .fetch_one(&mut conn)
        .await
        .map_err(read_err)?;
    let report = match locked {
        true => rebuild_locked(write, &mut conn, migrations_applied).await,
        false => Err(RebuildError::Busy),
    };
    if locked {
        // Released here, not by the session's end: the server ends a closed session after
        // the client has gone on, and a rebuild right after this one would find it held.
        let unlock = sqlx::query("SELECT pg_advisory_unlock($1)").bind(REBUILD_LOCK);
        let _ = unlock.execute(&mut conn).await;
    }
    let _ = conn.close().await;
    report
}

async fn rebuild_locked(
    write: &PgPool,
    conn: &mut PgConnection,
    migrations_applied: usize,
) -> Result<RebuildReport, RebuildError> {
    let log = log::read(write).await.map_err(|source| DbError::Query {
        database: Database::Write,
        source,
    })?;
    let mut model = log.replayed.model;
    swap::prepare(conn, &model).await.map_err(read_err)?;
    let caught_up = swap::swap(write, conn, &mut model).await?;
    Ok(RebuildReport {
        migrations_applied,
        events_read: log.replayed.events_read + log.unreadable.len() as u64,
        events_applied: model.events_applied,
        orders: model.orders.len(),
        products: model.products.len(),
        caught_up,
        unreadable: log.unreadable,
    })
}

fn read_err(source: sqlx::Error) -> DbError {
    DbError::Query {
        database: Database::Read,
        source,
    }
}
