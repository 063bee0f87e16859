//! Replaying the inbox through the pure domain core, in decision order, must reproduce the
//! write database: the same outcome for every command, the same stock, the same orders.
//! If it does not, some effect happened outside the core's rules (or twice).

use std::collections::BTreeMap;

use sqlx::PgPool;

use super::CheckReport;
use fulfil::contract::Envelope;
use fulfil::domain::{self, Product, State};
use fulfil::store::StoreError;

pub async fn check(pool: &PgPool, report: &mut CheckReport) -> Result<(), StoreError> {
    let rows: Vec<(String, serde_json::Value, String)> =
        sqlx::query_as("SELECT command_id, command, outcome FROM inbox ORDER BY seq")
            .fetch_all(pool)
            .await?;
    let mut state = State::default();
    for (command_id, command, recorded) in rows {
        replay_one(&mut state, &command_id, &command, &recorded, report);
    }
    compare_products(pool, &state, report).await?;
    compare_orders(pool, &state, report).await
}

fn replay_one(
    state: &mut State,
    id: &str,
    command: &serde_json::Value,
    recorded: &str,
    report: &mut CheckReport,
) {
    let envelope = match Envelope::parse(&command.to_string()) {
        Ok(e) => e,
        Err(e) => {
            return report.violation(
                "inbox replay",
                format!("command {id}: stored command does not parse: {e}"),
            )
        }
    };
    match domain::decide(state, &envelope) {
        Ok(outcome) if outcome.code() == recorded => {}
        Ok(outcome) => report.violation(
            "inbox replay",
            format!(
                "command {id}: recorded {recorded}, replay decides {}",
                outcome.code()
            ),
        ),
        Err(e) => report.violation("inbox replay", format!("command {id}: {e}")),
    }
}

async fn compare_products(
    pool: &PgPool,
    state: &State,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT product_id FROM products")
        .fetch_all(pool)
        .await?;
    let stored = fulfil::store::products::load(pool, &ids).await?;
    let stored: BTreeMap<&String, &Product> =
        stored.iter().map(|(id, s)| (id, &s.product)).collect();
    let replayed: BTreeMap<&String, &Product> = state.products.iter().collect();
    for id in stored
        .keys()
        .chain(replayed.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (db, replay) = (stored.get(id), replayed.get(id));
        if db.map(|p| (p.available, p.restocked, p.confirmed, p.cancelled))
            != replay.map(|p| (p.available, p.restocked, p.confirmed, p.cancelled))
        {
            report.violation(
                "inbox replay",
                format!("product {id}: database {db:?}, replay {replay:?}"),
            );
        }
    }
    Ok(())
}

async fn compare_orders(
    pool: &PgPool,
    state: &State,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT order_id, status, reason FROM orders")
            .fetch_all(pool)
            .await?;
    if rows.len() != state.orders.len() {
        report.violation(
            "inbox replay",
            format!(
                "{} orders in the database, {} in the replay",
                rows.len(),
                state.orders.len()
            ),
        );
    }
    for (order_id, status, reason) in rows {
        let replayed = state
            .orders
            .get(&order_id)
            .map(|o| (o.status.as_str().to_owned(), o.reason.clone()));
        if replayed.as_ref() != Some(&(status.clone(), reason.clone())) {
            report.violation(
                "inbox replay",
                format!("order {order_id}: database ({status}, {reason:?}), replay {replayed:?}"),
            );
        }
    }
    Ok(())
}
