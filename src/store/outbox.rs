//! The outbox: change events written in the same transaction as the change. It is also the
//! event log that `verify` and `rebuild` replay, so rows are marked published, never deleted.

use sqlx::PgConnection;

use super::{PgQuery, StoreError};
use crate::contract::event::ChangeEvent;

/// The `traceparent` of each traced command, by command id: an event is written with the
/// context of the command that caused it (see [`crate::trace`]).
pub type TraceParents<'a> = std::collections::HashMap<&'a str, &'a str>;

/// Appends `events` on their own (the worker writes them within its unit's one statement,
/// see [`super::changes`]).
pub async fn append(
    conn: &mut PgConnection,
    events: &[ChangeEvent],
    traces: &TraceParents<'_>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    bind(sqlx::query(INSERT), events, traces)
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts events (`bind` gives the parameters).
pub(super) const INSERT: &str =
    "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, aggregate_version, event_type, payload, occurred_at, traceparent)
     SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[]::json[], $7::timestamptz[], $8::text[])
     /*guard*/";

/// Binds [`INSERT`]'s parameters for `events`, each with its command's trace context.
pub(super) fn bind<'q>(
    query: PgQuery<'q>,
    events: &'q [ChangeEvent],
    traces: &TraceParents<'_>,
) -> PgQuery<'q> {
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.aggregate_type.as_str()).collect();
    let aggregate_ids: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
    let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
    let event_types: Vec<&str> = events.iter().map(|e| e.data.event_type()).collect();
    let payloads: Vec<String> = events.iter().map(ChangeEvent::to_json).collect();
    let occurred: Vec<chrono::DateTime<chrono::Utc>> =
        events.iter().map(|e| e.occurred_at).collect();
    let traces: Vec<Option<String>> = events
        .iter()
        .map(|e| traces.get(e.command_id.as_str()).map(|t| (*t).to_owned()))
        .collect();
    query
        .bind(ids)
        .bind(types)
        .bind(aggregate_ids)
        .bind(versions)
        .bind(event_types)
        .bind(payloads)
        .bind(occurred)
        .bind(traces)
}
