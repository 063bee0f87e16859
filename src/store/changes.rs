//! A unit's changes in one statement: its known products are updated and its inbox rows,
//! orders and events inserted by one statement (data-modifying CTEs), one round trip where
//! there were four. Issue 10's profile: under load a round trip costs about 0.2 ms, as much
//! as the server's work for a whole statement of a unit of 80 orders.
//!
//! The product update is the gate: the inserts happen only if every product was still at
//! the version the unit read (see [`products::UPDATE`]). A unit decided on stale stock then
//! inserts nothing, so it fails as `Stale` (the cache entry is dropped and the stock read
//! again), never on a key its rows would share with the newer state's (the product's next
//! event version), which would be retried on the same stale read.
//!
//! Each part's text and parameters stay in its own module ([`products::UPDATE`],
//! [`inbox::INSERT`], [`orders::UPSERT`], [`outbox::INSERT`]); here they are only numbered
//! and put together. Any part failing fails the statement, as it failed the transaction
//! before.

use std::sync::LazyLock;

use sqlx::PgConnection;

use super::inbox::{self, InboxRow};
use super::orders::{self, OrderWrite};
use super::outbox::{self, TraceParents};
use super::products::{self, ProductWrite};
use super::{numbered_from, StoreError, GUARD};
use crate::contract::event::ChangeEvent;

/// What one unit writes.
pub struct Changes<'a> {
    pub inbox: &'a [InboxRow],
    pub orders: &'a [OrderWrite],
    pub events: &'a [ChangeEvent],
    pub traces: &'a TraceParents<'a>,
    pub products: &'a [ProductWrite],
}

/// Parameters of each part, in the statement's order.
const PRODUCT_PARAMS: usize = 9;
const INBOX_PARAMS: usize = 7;
const ORDER_PARAMS: usize = 8;

static STATEMENT: LazyLock<String> = LazyLock::new(|| {
    let inbox_from = 1 + PRODUCT_PARAMS;
    let orders_from = inbox_from + INBOX_PARAMS;
    let events_from = orders_from + ORDER_PARAMS;
    let guarded = |sql: &str, first| {
        numbered_from(sql, first).replace(GUARD, "WHERE (SELECT every_product FROM gate)")
    };
    format!(
        "WITH updated AS ({}),
         gate AS (SELECT count(*) = cardinality($1::text[]) AS every_product FROM updated),
         inbox_rows AS ({}), order_rows AS ({}), event_rows AS ({})
         SELECT product_id FROM updated",
        products::UPDATE,
        guarded(inbox::INSERT, inbox_from),
        guarded(orders::UPSERT, orders_from),
        guarded(outbox::INSERT, events_from),
    )
});

/// Writes everything in `changes`, or fails: `Stale` naming a product that moved on since it
/// was read (nothing of the unit then commits: the caller drops the transaction). New
/// products, rare, are inserted one by one after the statement.
pub async fn write(conn: &mut PgConnection, changes: &Changes<'_>) -> Result<(), StoreError> {
    let (updates, creates) = products::split(changes.products);
    let query = products::bind(sqlx::query(STATEMENT.as_str()), &updates);
    let query = inbox::bind(query, changes.inbox);
    let query = orders::bind(query, changes.orders);
    let rows = outbox::bind(query, changes.events, changes.traces)
        .fetch_all(&mut *conn)
        .await?;
    products::check_updated(&updates, &products::updated_ids(&rows)?)?;
    products::create(conn, &creates).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_has_its_own_parameters_in_order() {
        let sql = STATEMENT.as_str();
        let highest = (1..=40).rev().find(|n| sql.contains(&format!("${n}::")));
        assert_eq!(
            highest,
            Some(PRODUCT_PARAMS + INBOX_PARAMS + ORDER_PARAMS + 8)
        );
        for (part, first) in [
            ("UPDATE products", 1),
            ("INSERT INTO inbox", 1 + PRODUCT_PARAMS),
            ("INSERT INTO orders", 1 + PRODUCT_PARAMS + INBOX_PARAMS),
            (
                "INSERT INTO outbox",
                1 + PRODUCT_PARAMS + INBOX_PARAMS + ORDER_PARAMS,
            ),
        ] {
            let at = sql.find(part).expect(part);
            let next = sql[at..].find('$').map(|i| &sql[at + i..]).expect(part);
            assert!(
                next.starts_with(&format!("${first}::")),
                "{part}: {next:.12}"
            );
        }
    }

    #[test]
    fn every_insert_waits_for_every_product_update() {
        let sql = STATEMENT.as_str();
        assert!(!sql.contains(GUARD), "{sql}");
        assert_eq!(
            sql.matches("WHERE (SELECT every_product FROM gate)")
                .count(),
            3
        );
        let orders = &sql[sql.find("INSERT INTO orders").expect("orders")..];
        let (before_conflict, _) = orders.split_once("ON CONFLICT").expect("upsert");
        assert!(before_conflict.contains("every_product"), "{orders}");
    }
}
