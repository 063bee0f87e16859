//! The write database's outbox read as the event log: every payload in id order, folded as
//! it streams in (so the log is never held as JSON all at once), and the events of chosen
//! aggregates for `rebuild`'s catch-up. Reads the `outbox` table only.

use futures::TryStreamExt;
use sqlx::PgPool;

use super::model::ReadModel;
use super::replay::{Replay, Replayed};
use crate::contract::event::{AggregateType, ChangeEvent};

/// An outbox row whose payload is not a change event this code can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub outbox_id: i64,
    pub error: String,
}

/// The log folded into a model, with what could not be used.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    pub replayed: Replayed,
    pub unreadable: Vec<Unreadable>,
}

/// Folds the whole outbox, in id order, into a fresh model.
pub async fn read(write: &PgPool) -> Result<EventLog, sqlx::Error> {
    let mut rows =
        sqlx::query_as::<_, (i64, serde_json::Value)>("SELECT id, payload FROM outbox ORDER BY id")
            .fetch(write);
    let mut fold = Replay::default();
    let mut unreadable = Vec::new();
    while let Some((outbox_id, payload)) = rows.try_next().await? {
        match serde_json::from_value::<ChangeEvent>(payload) {
            Ok(event) => fold.push(&event),
            Err(e) => unreadable.push(Unreadable {
                outbox_id,
                error: e.to_string(),
            }),
        }
    }
    Ok(EventLog {
        replayed: fold.finish(),
        unreadable,
    })
}

/// Applies to `model` the logged events of `aggregates` newer than its views; returns how
/// many that applied.
pub async fn catch_up(
    write: &PgPool,
    model: &mut ReadModel,
    aggregates: &[(AggregateType, String)],
) -> Result<u64, sqlx::Error> {
    if aggregates.is_empty() {
        return Ok(0);
    }
    let types: Vec<&str> = aggregates.iter().map(|(t, _)| t.as_str()).collect();
    let ids: Vec<&str> = aggregates.iter().map(|(_, id)| id.as_str()).collect();
    let payloads: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload FROM outbox
         WHERE (aggregate_type, aggregate_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
         ORDER BY aggregate_type, aggregate_id, aggregate_version",
    )
    .bind(types)
    .bind(ids)
    .fetch_all(write)
    .await?;
    let before = model.events_applied;
    for payload in payloads {
        if let Ok(event) = serde_json::from_value::<ChangeEvent>(payload) {
            model.apply(&event);
        }
    }
    Ok(model.events_applied - before)
}
