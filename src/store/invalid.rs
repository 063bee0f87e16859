//! Messages kept for an operator: invalid bodies (byte for byte, with the error) and
//! conflicting duplicates (a known command_id with another body).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct InvalidCommand {
    pub id: i64,
    pub message_id: String,
    pub body: String,
    pub error_code: String,
    pub field: Option<String>,
    pub error: String,
    pub received_at: DateTime<Utc>,
    pub replayed_at: Option<DateTime<Utc>>,
}

/// Keeps an invalid message; the same SQS message kept twice (a redelivery) stays one row.
pub async fn keep_invalid<'e>(
    db: impl PgExecutor<'e>,
    message_id: &str,
    body: &str,
    error_code: &str,
    field: &str,
    error: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO invalid_commands (message_id, body, error_code, field, error)
         VALUES ($1, $2, $3, NULLIF($4, ''), $5) ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(message_id)
    .bind(body)
    .bind(error_code)
    .bind(field)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

/// Keeps a command whose id is known with another body (`CONFLICTING_DUPLICATE`).
pub async fn keep_conflict<'e>(
    db: impl PgExecutor<'e>,
    message_id: &str,
    command_id: &str,
    fingerprint: &str,
    body: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO conflicting_commands (message_id, command_id, fingerprint, body)
         VALUES ($1, $2, $3, $4) ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(message_id)
    .bind(command_id)
    .bind(fingerprint)
    .bind(body)
    .execute(db)
    .await?;
    Ok(())
}

const COLUMNS: &str = "id, message_id, body, error_code, field, error, received_at, replayed_at";

/// The most recent invalid commands, newest first.
pub async fn list<'e>(
    db: impl PgExecutor<'e>,
    limit: i64,
) -> Result<Vec<InvalidCommand>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM invalid_commands ORDER BY id DESC LIMIT $1");
    Ok(sqlx::query_as(&sql).bind(limit).fetch_all(db).await?)
}

pub async fn get<'e>(
    db: impl PgExecutor<'e>,
    id: i64,
) -> Result<Option<InvalidCommand>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM invalid_commands WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(db).await?)
}

pub async fn mark_replayed<'e>(db: impl PgExecutor<'e>, id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE invalid_commands SET replayed_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
