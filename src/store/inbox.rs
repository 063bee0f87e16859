//! The inbox: one row per decided command, kept forever. Its primary key, inside the batch's
//! transaction, is what finally makes a redelivered command a no-op.

use std::collections::HashMap;

use sqlx::{PgConnection, PgExecutor};

use super::StoreError;

/// One decided command.
#[derive(Debug, Clone)]
pub struct InboxRow {
    pub command_id: String,
    pub fingerprint: String,
    pub command_type: String,
    pub outcome: String,
    pub reason: Option<String>,
    /// The command as contract JSON text (stored as `json`: kept as written, never searched
    /// on the hot path).
    pub command: String,
    pub message_id: String,
}

/// command_id → fingerprint for those of `ids` already decided.
pub async fn fingerprints<'e>(
    db: impl PgExecutor<'e>,
    ids: &[String],
) -> Result<HashMap<String, String>, StoreError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT command_id, fingerprint FROM inbox WHERE command_id = ANY($1)")
            .bind(ids)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Inserts every row; a row that exists already fails the whole transaction (a conflict).
pub async fn insert(conn: &mut PgConnection, rows: &[InboxRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&InboxRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let reasons: Vec<Option<String>> = rows.iter().map(|r| r.reason.clone()).collect();
    let commands: Vec<&str> = rows.iter().map(|r| r.command.as_str()).collect();
    sqlx::query(
        "INSERT INTO inbox (command_id, fingerprint, command_type, outcome, reason, command, message_id)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]::json[], $7::text[])",
    )
    .bind(col(|r| r.command_id.clone()))
    .bind(col(|r| r.fingerprint.clone()))
    .bind(col(|r| r.command_type.clone()))
    .bind(col(|r| r.outcome.clone()))
    .bind(reasons)
    .bind(commands)
    .bind(col(|r| r.message_id.clone()))
    .execute(conn)
    .await?;
    Ok(())
}
