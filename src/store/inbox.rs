//! The inbox: one row per decided command, kept forever. Its primary key, inside the batch's
//! transaction, is what finally makes a redelivered command a no-op.

use std::collections::HashMap;

use sqlx::PgExecutor;

use super::{PgQuery, StoreError};

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

/// Inserts a unit's decided commands (`bind` gives the parameters); a row that exists
/// already fails the whole transaction (a conflict). Written into the unit's one statement
/// by [`super::changes`].
pub(super) const INSERT: &str =
    "INSERT INTO inbox (command_id, fingerprint, command_type, outcome, reason, command, message_id)
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]::json[], $7::text[])
     /*guard*/";

/// Binds [`INSERT`]'s parameters for `rows`.
pub(super) fn bind<'q>(query: PgQuery<'q>, rows: &'q [InboxRow]) -> PgQuery<'q> {
    let text = |f: fn(&InboxRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let reasons: Vec<Option<&str>> = rows.iter().map(|r| r.reason.as_deref()).collect();
    query
        .bind(text(|r| r.command_id.as_str()))
        .bind(text(|r| r.fingerprint.as_str()))
        .bind(text(|r| r.command_type.as_str()))
        .bind(text(|r| r.outcome.as_str()))
        .bind(reasons)
        .bind(text(|r| r.command.as_str()))
        .bind(text(|r| r.message_id.as_str()))
}
