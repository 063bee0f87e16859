//! Shared fixtures for the domain's tests: envelopes built through the contract's parser (the
//! only way a real command gets in) and a shorthand for "given these commands were decided".

use serde_json::{json, Value};

use super::{decide, Outcome, Product, State};
use crate::contract::Envelope;

pub(super) fn envelope(body: Value) -> Envelope {
    let text = body.to_string();
    Envelope::parse(&text).unwrap_or_else(|e| panic!("{text} should parse: {e}"))
}

pub(super) fn restock(command_id: &str, product_id: &str, quantity: u32) -> Envelope {
    envelope(
        json!({"version": 1, "command_id": command_id, "type": "Restock",
        "product_id": product_id, "quantity": quantity}),
    )
}

pub(super) fn restock_named(
    command_id: &str,
    product_id: &str,
    quantity: u32,
    name: &str,
) -> Envelope {
    envelope(
        json!({"version": 1, "command_id": command_id, "type": "Restock",
        "product_id": product_id, "quantity": quantity, "name": name}),
    )
}

/// A PlaceOrder by user `u-1` with one line per `(product_id, quantity)`.
pub(super) fn place(command_id: &str, order_id: &str, lines: &[(&str, u32)]) -> Envelope {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(product_id, quantity)| json!({"product_id": product_id, "quantity": quantity}))
        .collect();
    envelope(
        json!({"version": 1, "command_id": command_id, "type": "PlaceOrder",
        "order_id": order_id, "user_id": "u-1", "lines": lines}),
    )
}

pub(super) fn cancel(command_id: &str, order_id: &str, reason: Option<&str>) -> Envelope {
    let mut body = json!({"version": 1, "command_id": command_id, "type": "CancelOrder",
        "order_id": order_id});
    if let Some(reason) = reason {
        body["reason"] = json!(reason);
    }
    envelope(body)
}

/// Decides `envelope`, which the test expects to succeed.
pub(super) fn decided(state: &mut State, envelope: &Envelope) -> Outcome {
    decide(state, envelope).unwrap_or_else(|e| panic!("{envelope:?} should be decided: {e}"))
}

/// The state after deciding `history` in order on an empty state.
pub(super) fn given(history: &[Envelope]) -> State {
    let mut state = State::default();
    for envelope in history {
        decided(&mut state, envelope);
    }
    state
}

/// The product's stock as `(available, restocked, confirmed, cancelled)`, or a panic if unknown.
pub(super) fn stock(state: &State, product_id: &str) -> (i64, i64, i64, i64) {
    let product: &Product = state
        .products
        .get(product_id)
        .unwrap_or_else(|| panic!("{product_id} should be known"));
    let Product {
        available,
        restocked,
        confirmed,
        cancelled,
        ..
    } = *product;
    (available, restocked, confirmed, cancelled)
}

/// Decides `envelope`, which the test expects to fail.
pub(super) fn decide_err(state: &mut State, envelope: &Envelope) -> super::DomainError {
    match decide(state, envelope) {
        Ok(outcome) => panic!("{envelope:?} should fail, got {outcome:?}"),
        Err(error) => error,
    }
}
