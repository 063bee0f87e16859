//! The outbox: change events written in the same transaction as the change. It is also the
//! event log that `verify` and `rebuild` replay, so rows are marked published, never deleted.

use super::PgQuery;
use crate::contract::event::ChangeEvent;

/// The `traceparent` of each traced command, by command id: an event is written with the
/// context of the command that caused it (see [`crate::trace`]).
pub type TraceParents<'a> = std::collections::HashMap<&'a str, &'a str>;

/// Inserts events (`bind` gives the parameters). Written into the unit's one statement by
/// [`super::changes`].
pub(super) const INSERT: &str =
    "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, aggregate_version, event_type, payload, occurred_at, traceparent)
     SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[]::json[], $7::timestamptz[], $8::text[])
     /*guard*/";

/// Binds [`INSERT`]'s parameters for `events`, each with its command's trace context.
pub(super) fn bind<'q>(
    query: PgQuery<'q>,
    events: &'q [ChangeEvent],
    traces: &TraceParents<'q>,
) -> PgQuery<'q> {
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.aggregate_type.as_str()).collect();
    let aggregate_ids: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
    let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
    let event_types: Vec<&str> = events.iter().map(|e| e.data.event_type()).collect();
    let payloads: Vec<String> = events.iter().map(ChangeEvent::to_json).collect();
    let occurred: Vec<chrono::DateTime<chrono::Utc>> =
        events.iter().map(|e| e.occurred_at).collect();
    let traces: Vec<Option<&str>> = events
        .iter()
        .map(|e| traces.get(e.command_id.as_str()).copied())
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
