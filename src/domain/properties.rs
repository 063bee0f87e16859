//! Properties over random command sequences: stock is conserved and never negative, failed or
//! repeated commands move no stock, a redelivery changes nothing, and deciding is deterministic.
//!
//! The pools are small on purpose (3 products, 6 orders, 2 users, 16 command ids) so that
//! unknown products, shortages, early cancels, duplicate orders, redeliveries and conflicting
//! reuses of a command id all happen in most sequences.

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::{decide, Order, OrderStatus, Outcome, State};
use crate::contract::Envelope;

fn restock_body() -> impl Strategy<Value = Value> {
    let name = proptest::option::of(0..2u8);
    (0..3u8, 1..=10u32, name).prop_map(|(product, quantity, name)| {
        let mut body = json!({"type": "Restock", "product_id": format!("p-{product}"),
            "quantity": quantity});
        if let Some(name) = name {
            body["name"] = json!(format!("name-{name}"));
        }
        body
    })
}

fn place_body() -> impl Strategy<Value = Value> {
    let products = proptest::sample::subsequence(vec![0u8, 1, 2], 1..=3).prop_shuffle();
    (0..6u8, 0..2u8, products, vec(1..=5u32, 3)).prop_map(|(order, user, products, quantities)| {
        let lines: Vec<Value> = products
            .iter()
            .zip(quantities)
            .map(|(product, quantity)| json!({"product_id": format!("p-{product}"), "quantity": quantity}))
            .collect();
        json!({"type": "PlaceOrder", "order_id": format!("o-{order}"),
            "user_id": format!("u-{user}"), "lines": lines})
    })
}

fn cancel_body() -> impl Strategy<Value = Value> {
    (0..6u8, proptest::option::of(0..2u8)).prop_map(|(order, reason)| {
        let mut body = json!({"type": "CancelOrder", "order_id": format!("o-{order}")});
        if let Some(reason) = reason {
            body["reason"] = json!(format!("reason-{reason}"));
        }
        body
    })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    let body = prop_oneof![1 => restock_body(), 2 => place_body(), 1 => cancel_body()];
    (0..16u8, body).prop_map(|(command_id, mut body)| {
        body["version"] = json!(1);
        body["command_id"] = json!(format!("c-{command_id}"));
        let text = body.to_string();
        Envelope::parse(&text).unwrap_or_else(|e| panic!("{text} should parse: {e}"))
    })
}

fn history() -> impl Strategy<Value = Vec<Envelope>> {
    vec(envelope(), 1..40)
}

fn decided(state: &mut State, envelope: &Envelope) -> Result<Outcome, TestCaseError> {
    decide(state, envelope).map_err(|e| TestCaseError::fail(format!("{envelope:?}: {e}")))
}

/// (a) available ≥ 0 and (b) restocked − confirmed + cancelled == available, per product.
fn check_stock(state: &State) -> Result<(), TestCaseError> {
    for (id, product) in &state.products {
        prop_assert!(product.available >= 0, "{id}: {product:?}");
        let balance = product.restocked - product.confirmed + product.cancelled;
        prop_assert_eq!(balance, product.available, "{}: {:?}", id, product);
    }
    Ok(())
}

/// (e) the stock out on the shelves' books is exactly what confirmed orders hold.
fn check_orders_hold_the_taken_stock(state: &State) -> Result<(), TestCaseError> {
    let taken: i64 = state
        .products
        .values()
        .map(|p| p.confirmed - p.cancelled)
        .sum();
    let held: i64 = state
        .orders
        .values()
        .filter(|order| order.status == OrderStatus::Confirmed)
        .map(quantity)
        .sum();
    prop_assert_eq!(taken, held);
    Ok(())
}

fn quantity(order: &Order) -> i64 {
    order
        .lines
        .iter()
        .map(|line| i64::from(line.quantity))
        .sum()
}

/// (c) outcomes that change no stock leave `products` exactly as they were.
fn moves_no_stock(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Rejected { .. }
            | Outcome::NoEffect { .. }
            | Outcome::Duplicate
            | Outcome::Conflict
    )
}

/// (d) deciding the same envelope again changes nothing and is a Duplicate (a Conflict stays
/// a Conflict: the id still belongs to the other body).
fn check_redelivery(
    state: &mut State,
    envelope: &Envelope,
    first: &Outcome,
) -> Result<(), TestCaseError> {
    let before = state.clone();
    let again = decided(state, envelope)?;
    let expected = if *first == Outcome::Conflict {
        Outcome::Conflict
    } else {
        Outcome::Duplicate
    };
    prop_assert_eq!(again, expected);
    prop_assert_eq!(&*state, &before);
    Ok(())
}

fn step(state: &mut State, envelope: &Envelope) -> Result<Outcome, TestCaseError> {
    let before = state.clone();
    let outcome = decided(state, envelope)?;
    if moves_no_stock(&outcome) {
        prop_assert_eq!(&state.products, &before.products, "{:?}", outcome);
    }
    let added = state.inbox.len() - before.inbox.len();
    prop_assert_eq!(added, usize::from(outcome.is_recorded()), "{:?}", outcome);
    check_stock(state)?;
    check_orders_hold_the_taken_stock(state)?;
    check_redelivery(state, envelope, &outcome)?;
    Ok(outcome)
}

fn run(state: &mut State, history: &[Envelope]) -> Result<Vec<Outcome>, TestCaseError> {
    history
        .iter()
        .map(|envelope| decided(state, envelope))
        .collect()
}

proptest! {
    #[test]
    fn every_step_of_any_sequence_keeps_the_invariants(history in history()) {
        let mut state = State::default();
        for envelope in &history {
            step(&mut state, envelope)?;
        }
    }

    #[test]
    fn deciding_a_sequence_on_a_clone_gives_identical_outcomes(
        prefix in history(),
        history in history(),
    ) {
        let mut start = State::default();
        run(&mut start, &prefix)?;
        let mut copy = start.clone();
        let outcomes = run(&mut start, &history)?;
        prop_assert_eq!(outcomes, run(&mut copy, &history)?);
        prop_assert_eq!(start, copy);
    }
}
