//! Shared fixtures for the contract's tests: the README's examples and parse shorthands.

use serde_json::Value;

use super::{ContractError, Envelope};

pub(crate) const RESTOCK: &str = r#"{"version":1,"command_id":"c-0001","type":"Restock","product_id":"pokemon-bread","quantity":1000,"name":"Pokemon bread"}"#;
pub(crate) const PLACE: &str = r#"{"version":1,"command_id":"c-0002","type":"PlaceOrder","order_id":"o-1","user_id":"u-1","lines":[{"product_id":"pokemon-bread","quantity":2}]}"#;
pub(crate) const CANCEL: &str = r#"{"version":1,"command_id":"c-0003","type":"CancelOrder","order_id":"o-1","reason":"changed mind"}"#;

pub(crate) fn parsed(body: &str) -> Envelope {
    Envelope::parse(body).unwrap_or_else(|e| panic!("{body} should parse: {e}"))
}

pub(crate) fn rejected(body: &str) -> ContractError {
    match Envelope::parse(body) {
        Ok(envelope) => panic!("{body} should be rejected, got {envelope:?}"),
        Err(error) => error,
    }
}

/// One of the README examples with `changes` merged into its top level.
pub(crate) fn example_with(example: &str, changes: Value) -> String {
    let mut body: Value = serde_json::from_str(example).unwrap_or_default();
    if let (Value::Object(body), Value::Object(changes)) = (&mut body, changes) {
        body.extend(changes);
    }
    body.to_string()
}

/// The operator-facing message for `body` merged into an example, which must be rejected.
pub(crate) fn message_for(example: &str, changes: Value) -> String {
    rejected(&example_with(example, changes)).to_string()
}
