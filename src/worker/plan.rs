//! What one batch writes, worked out without I/O from the state the batch loaded, the
//! outcomes the domain decided and the state it left: inbox rows, orders, pending cancels,
//! product writes (one per product, however many commands touched it: lock coalescing) and
//! the change events that go with them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::contract::event::{AggregateType, ChangeEvent, EventData, OrderSnapshot, StockSnapshot};
use crate::contract::{Command, Envelope};
use crate::domain::{Order, OrderStatus, Outcome, PendingCancel, Product, State};
use crate::store::inbox::InboxRow;
use crate::store::orders::{OrderWrite, StoredOrder};
use crate::store::products::ProductWrite;

/// One command of the batch with what the domain made of it.
pub struct Decided<'a> {
    pub envelope: &'a Envelope,
    pub fingerprint: &'a str,
    /// The command as the inbox stores it ([`Envelope::to_json`]).
    pub inbox_json: &'a str,
    pub message_id: &'a str,
    pub outcome: Outcome,
    /// Products whose state this command changed.
    pub changed_products: Vec<String>,
}

/// The state a batch started from, as loaded.
pub struct Before<'a> {
    /// product → (stock, version it was read at); absent = unknown product.
    pub products: &'a BTreeMap<String, (Product, i64)>,
    pub orders: &'a BTreeMap<String, StoredOrder>,
    pub pending: &'a BTreeMap<String, PendingCancel>,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub inbox: Vec<InboxRow>,
    pub orders: Vec<OrderWrite>,
    pub remember_cancels: Vec<(String, PendingCancel)>,
    pub forget_cancels: Vec<String>,
    pub products: Vec<ProductWrite>,
    pub events: Vec<ChangeEvent>,
}

pub fn build(
    before: &Before,
    decided: &[Decided],
    after: &State,
    fences: &BTreeMap<String, i64>,
    now: DateTime<Utc>,
) -> Plan {
    let mut plan = Plan {
        inbox: decided
            .iter()
            .filter(|d| d.outcome.is_recorded())
            .map(inbox_row)
            .collect(),
        ..Plan::default()
    };
    order_changes(&mut plan, before, decided, after, now);
    pending_changes(&mut plan, before, after);
    product_changes(&mut plan, before, decided, after, fences, now);
    plan
}

fn inbox_row(d: &Decided) -> InboxRow {
    InboxRow {
        command_id: d.envelope.command_id.clone(),
        fingerprint: d.fingerprint.to_owned(),
        command_type: d.envelope.command.type_name().to_owned(),
        outcome: d.outcome.code().to_owned(),
        reason: d.outcome.reason().map(str::to_owned),
        command: d.inbox_json.to_owned(),
        message_id: d.message_id.to_owned(),
    }
}

/// Events per order in outcome order (an order placed and cancelled in one batch gets both),
/// and one write per order with its final state.
fn order_changes(
    plan: &mut Plan,
    before: &Before,
    decided: &[Decided],
    after: &State,
    now: DateTime<Utc>,
) {
    let mut versions: BTreeMap<String, (i64, DateTime<Utc>, String)> = BTreeMap::new();
    for d in decided {
        let Some((order_id, data)) = order_event(d, after, now, before) else {
            continue;
        };
        let entry = versions.entry(order_id.clone()).or_insert_with(|| {
            let stored = before.orders.get(&order_id);
            (
                stored.map_or(0, |s| s.version),
                stored.map_or(now, |s| s.placed_at),
                String::new(),
            )
        });
        entry.0 += 1;
        entry.2 = d.envelope.command_id.clone();
        plan.events.push(ChangeEvent::new(
            AggregateType::Order,
            &order_id,
            entry.0,
            &d.envelope.command_id,
            now,
            data,
        ));
    }
    for (order_id, (version, placed_at, command_id)) in versions {
        let Some(order) = after.orders.get(&order_id) else {
            continue;
        };
        plan.orders.push(OrderWrite {
            order_id,
            order: order.clone(),
            version,
            command_id,
            placed_at,
        });
    }
}

/// The event an outcome causes on its order, with the order as it stood right then.
fn order_event(
    d: &Decided,
    after: &State,
    now: DateTime<Utc>,
    before: &Before,
) -> Option<(String, EventData)> {
    let (order_id, status, reason) = match &d.outcome {
        Outcome::Confirmed { order_id } => (order_id, OrderStatus::Confirmed, None),
        Outcome::Rejected {
            order_id, reason, ..
        } => (
            order_id,
            OrderStatus::Rejected,
            Some(reason.code().to_owned()),
        ),
        Outcome::CancelledBeforePlace { order_id } | Outcome::Cancelled { order_id } => {
            let reason = after.orders.get(order_id).and_then(|o| o.reason.clone());
            (order_id, OrderStatus::Cancelled, reason)
        }
        _ => return None,
    };
    let order = placed_order(d.envelope, order_id, after)?;
    let placed_at = before.orders.get(order_id).map_or(now, |s| s.placed_at);
    let snapshot = OrderSnapshot {
        order_id: order_id.clone(),
        user_id: order.user_id.clone(),
        status: status.as_str().to_owned(),
        reason,
        lines: order.lines.clone(),
        placed_at,
    };
    let data = match status {
        OrderStatus::Confirmed => EventData::OrderConfirmed(snapshot),
        OrderStatus::Rejected => EventData::OrderRejected(snapshot),
        OrderStatus::Cancelled => EventData::OrderCancelled(snapshot),
    };
    Some((order_id.clone(), data))
}

/// The order's user and lines: from the PlaceOrder itself, else from the state.
fn placed_order(envelope: &Envelope, order_id: &str, after: &State) -> Option<Order> {
    if let Command::PlaceOrder(place) = &envelope.command {
        return Some(Order {
            user_id: place.user_id.clone(),
            status: OrderStatus::Confirmed,
            reason: None,
            lines: place.lines.clone(),
        });
    }
    after.orders.get(order_id).cloned()
}

fn pending_changes(plan: &mut Plan, before: &Before, after: &State) {
    for (order_id, cancel) in &after.pending_cancels {
        if !before.pending.contains_key(order_id) {
            plan.remember_cancels
                .push((order_id.clone(), cancel.clone()));
        }
    }
    for order_id in before.pending.keys() {
        if !after.pending_cancels.contains_key(order_id) {
            plan.forget_cancels.push(order_id.clone());
        }
    }
}

/// One write and one `StockChanged` per product the unit changed (coalesced: its final
/// snapshot), and a check of every other product whose stock was read: a rejection decided
/// on a stale read must fail as surely as a confirmation does.
fn product_changes(
    plan: &mut Plan,
    before: &Before,
    decided: &[Decided],
    after: &State,
    fences: &BTreeMap<String, i64>,
    now: DateTime<Utc>,
) {
    let mut last_change: BTreeMap<&str, &str> = BTreeMap::new();
    for d in decided {
        for product_id in &d.changed_products {
            last_change.insert(product_id, &d.envelope.command_id);
        }
    }
    for (product_id, product) in &after.products {
        let read_version = before.products.get(product_id).map(|(_, v)| *v);
        let changed = last_change.get(product_id.as_str());
        if changed.is_none() && read_version.is_none() {
            continue;
        }
        let write = ProductWrite {
            product_id: product_id.clone(),
            product: product.clone(),
            read_version,
            fence: fences.get(product_id).copied().unwrap_or(0),
            changed: changed.is_some(),
        };
        if let Some(command_id) = changed {
            plan.events.push(stock_event(&write, command_id, now));
        }
        plan.products.push(write);
    }
}

fn stock_event(write: &ProductWrite, command_id: &str, now: DateTime<Utc>) -> ChangeEvent {
    ChangeEvent::new(
        AggregateType::Product,
        &write.product_id,
        write.new_version(),
        command_id,
        now,
        EventData::StockChanged(stock_snapshot(&write.product_id, &write.product)),
    )
}

fn stock_snapshot(product_id: &str, p: &Product) -> StockSnapshot {
    StockSnapshot {
        product_id: product_id.to_owned(),
        name: p.name.clone(),
        available: p.available,
        restocked: p.restocked,
        confirmed: p.confirmed,
        cancelled: p.cancelled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decide;

    fn env(json: &str) -> Envelope {
        Envelope::parse(json).expect("valid command")
    }

    /// Runs the domain over `commands` from `state` the way the worker does.
    fn run(state: &mut State, envelopes: &[Envelope]) -> Vec<Decided<'static>> {
        envelopes
            .iter()
            .map(|e| {
                let e: &'static Envelope = Box::leak(Box::new(e.clone()));
                let before = state.products.clone();
                let outcome = decide(state, e).expect("decide");
                let changed_products = state
                    .products
                    .iter()
                    .filter(|(k, v)| before.get(*k) != Some(v))
                    .map(|(k, _)| k.clone())
                    .collect();
                Decided {
                    envelope: e,
                    fingerprint: Box::leak(e.fingerprint().into_boxed_str()),
                    inbox_json: Box::leak(e.to_json().into_boxed_str()),
                    message_id: "m",
                    outcome,
                    changed_products,
                }
            })
            .collect()
    }

    #[test]
    fn ten_orders_on_one_product_make_one_product_write_and_one_stock_event() {
        let stock = Product {
            name: None,
            available: 100,
            restocked: 100,
            confirmed: 0,
            cancelled: 0,
        };
        let products = BTreeMap::from([("p".to_owned(), (stock.clone(), 4))]);
        let mut state = State {
            products: BTreeMap::from([("p".to_owned(), stock)]),
            ..State::default()
        };
        let envelopes: Vec<Envelope> = (0..10)
            .map(|i| env(&format!(r#"{{"version":1,"command_id":"c{i}","type":"PlaceOrder","order_id":"o{i}","user_id":"u","lines":[{{"product_id":"p","quantity":2}}]}}"#)))
            .collect();
        let decided = run(&mut state, &envelopes);
        let (orders, pending) = (BTreeMap::new(), BTreeMap::new());
        let before = Before {
            products: &products,
            orders: &orders,
            pending: &pending,
        };
        let plan = build(
            &before,
            &decided,
            &state,
            &BTreeMap::from([("p".to_owned(), 9)]),
            Utc::now(),
        );
        assert_eq!(plan.inbox.len(), 10);
        assert_eq!(plan.orders.len(), 10);
        assert_eq!(plan.products.len(), 1);
        assert_eq!(
            (
                plan.products[0].read_version,
                plan.products[0].new_version(),
                plan.products[0].fence
            ),
            (Some(4), 5, 9)
        );
        assert_eq!(plan.products[0].product.available, 80);
        let stock_events: Vec<_> = plan
            .events
            .iter()
            .filter(|e| e.aggregate_type == AggregateType::Product)
            .collect();
        assert_eq!(stock_events.len(), 1);
        assert_eq!(
            (stock_events[0].version, stock_events[0].command_id.as_str()),
            (5, "c9")
        );
    }

    #[test]
    fn an_order_placed_and_cancelled_in_one_batch_gets_two_events_and_one_write_at_version_2() {
        let stock = Product {
            name: None,
            available: 5,
            restocked: 5,
            confirmed: 0,
            cancelled: 0,
        };
        let products = BTreeMap::from([("p".to_owned(), (stock.clone(), 1))]);
        let mut state = State {
            products: BTreeMap::from([("p".to_owned(), stock)]),
            ..State::default()
        };
        let envelopes = [
            env(
                r#"{"version":1,"command_id":"c1","type":"PlaceOrder","order_id":"o","user_id":"u","lines":[{"product_id":"p","quantity":2}]}"#,
            ),
            env(
                r#"{"version":1,"command_id":"c2","type":"CancelOrder","order_id":"o","reason":"no"}"#,
            ),
        ];
        let decided = run(&mut state, &envelopes);
        let (orders, pending) = (BTreeMap::new(), BTreeMap::new());
        let before = Before {
            products: &products,
            orders: &orders,
            pending: &pending,
        };
        let plan = build(&before, &decided, &state, &BTreeMap::new(), Utc::now());
        let order_events: Vec<_> = plan
            .events
            .iter()
            .filter(|e| e.aggregate_type == AggregateType::Order)
            .map(|e| (e.version, e.data.event_type()))
            .collect();
        assert_eq!(
            order_events,
            vec![(1, "OrderConfirmed"), (2, "OrderCancelled")]
        );
        assert_eq!((plan.orders.len(), plan.orders[0].version), (1, 2));
        assert_eq!(plan.orders[0].order.status, OrderStatus::Cancelled);
        assert_eq!(plan.products[0].product.available, 5);
    }

    #[test]
    fn a_unit_of_rejections_writes_no_stock_but_checks_every_product_it_read() {
        let stock = Product {
            name: None,
            available: 1,
            restocked: 1,
            confirmed: 0,
            cancelled: 0,
        };
        let products = BTreeMap::from([("p".to_owned(), (stock.clone(), 7))]);
        let mut state = State {
            products: BTreeMap::from([("p".to_owned(), stock)]),
            ..State::default()
        };
        let place = env(
            r#"{"version":1,"command_id":"c1","type":"PlaceOrder","order_id":"o","user_id":"u","lines":[{"product_id":"p","quantity":2}]}"#,
        );
        let decided = run(&mut state, std::slice::from_ref(&place));
        let (orders, pending) = (BTreeMap::new(), BTreeMap::new());
        let before = Before {
            products: &products,
            orders: &orders,
            pending: &pending,
        };
        let plan = build(&before, &decided, &state, &BTreeMap::new(), Utc::now());
        assert_eq!(plan.products.len(), 1);
        let check = &plan.products[0];
        assert_eq!(
            (check.changed, check.read_version, check.new_version()),
            (false, Some(7), 7)
        );
        assert!(plan
            .events
            .iter()
            .all(|e| e.aggregate_type != AggregateType::Product));
    }

    #[test]
    fn a_cancel_before_its_order_is_remembered_then_forgotten_when_the_order_comes() {
        let mut state = State::default();
        let cancel = env(r#"{"version":1,"command_id":"c1","type":"CancelOrder","order_id":"o"}"#);
        let decided = run(&mut state, std::slice::from_ref(&cancel));
        let (products, orders, pending) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        let before = Before {
            products: &products,
            orders: &orders,
            pending: &pending,
        };
        let plan = build(&before, &decided, &state, &BTreeMap::new(), Utc::now());
        assert_eq!(plan.remember_cancels.len(), 1);
        assert!(plan.events.is_empty());

        let pending = state.pending_cancels.clone();
        let place = env(
            r#"{"version":1,"command_id":"c2","type":"PlaceOrder","order_id":"o","user_id":"u","lines":[{"product_id":"p","quantity":1}]}"#,
        );
        let decided = run(&mut state, std::slice::from_ref(&place));
        let before = Before {
            products: &products,
            orders: &orders,
            pending: &pending,
        };
        let plan = build(&before, &decided, &state, &BTreeMap::new(), Utc::now());
        assert_eq!(plan.forget_cancels, vec!["o".to_owned()]);
        assert_eq!(plan.events.len(), 1);
        assert_eq!(plan.events[0].data.event_type(), "OrderCancelled");
        assert!(plan.products.is_empty());
    }
}
