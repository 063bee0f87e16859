//! Building each typed command from the body's JSON object, field by field.
//!
//! Fields are read in the schema's order and the first problem wins, so the same bad body
//! always gets the same error, however many things are wrong with it.

use std::collections::HashSet;

use serde_json::Value;

use super::command::{CancelOrder, Command, OrderLine, PlaceOrder, Restock};
use super::error::{shown, ContractError};
use super::fields::{Fields, ID};

type Result<T> = std::result::Result<T, ContractError>;

const MAX_LINES: u64 = 50;
const MAX_LINE_QUANTITY: u32 = 10_000;
const MAX_RESTOCK_QUANTITY: u32 = 1_000_000_000;
const MAX_REASON_CHARS: u64 = 500;
const MAX_NAME_CHARS: u64 = 200;

/// The values `type` may take, as the error for any other value lists them.
const TYPE_NAMES: &str = "PlaceOrder, CancelOrder, Restock";

/// Reads `type`, then the fields that type requires.
pub(crate) fn command(fields: &Fields) -> Result<Command> {
    let value = fields.required("type")?;
    match value.as_str() {
        Some("PlaceOrder") => place_order(fields).map(Command::PlaceOrder),
        Some("CancelOrder") => cancel_order(fields).map(Command::CancelOrder),
        Some("Restock") => restock(fields).map(Command::Restock),
        _ => Err(ContractError::UnknownType {
            field: fields.path("type"),
            found: shown(value),
            allowed: TYPE_NAMES,
        }),
    }
}

fn place_order(fields: &Fields) -> Result<PlaceOrder> {
    let order_id = fields.id("order_id", &ID)?.to_owned();
    let user_id = fields.id("user_id", &ID)?.to_owned();
    let items = fields.array("lines", 1, MAX_LINES)?;
    let lines = order_lines(items, &fields.path("lines"))?;
    Ok(PlaceOrder {
        order_id,
        user_id,
        lines,
    })
}

/// Distinct product ids are part of the contract (the schema can only say so in prose): the
/// worker treats each line as the order's whole demand for that product.
fn order_lines(items: &[Value], path: &str) -> Result<Vec<OrderLine>> {
    let mut seen = HashSet::new();
    let mut lines = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let line = Fields::nested(item, format!("{path}[{index}]"))?;
        let product_id = line.id("product_id", &ID)?;
        if !seen.insert(product_id) {
            return Err(ContractError::Duplicate {
                field: line.path("product_id"),
                found: shown(&Value::from(product_id)),
            });
        }
        let quantity = line.integer("quantity", 1, MAX_LINE_QUANTITY)?;
        let product_id = product_id.to_owned();
        lines.push(OrderLine {
            product_id,
            quantity,
        });
    }
    Ok(lines)
}

/// Free text as fulfil stores and publishes it: U+0000, valid in JSON but refused by
/// PostgreSQL's `text` and `jsonb`, becomes U+FFFD (the contract README's clarification), so
/// that a valid command is applied rather than failing as a poison message.
fn storable_text(text: &str) -> String {
    text.replace('\u{0}', "\u{FFFD}")
}

fn cancel_order(fields: &Fields) -> Result<CancelOrder> {
    let order_id = fields.id("order_id", &ID)?.to_owned();
    let reason = fields.optional_text("reason", MAX_REASON_CHARS)?;
    Ok(CancelOrder {
        order_id,
        reason: reason.map(storable_text),
    })
}

fn restock(fields: &Fields) -> Result<Restock> {
    let product_id = fields.id("product_id", &ID)?.to_owned();
    let quantity = fields.integer("quantity", 1, MAX_RESTOCK_QUANTITY)?;
    let name = fields.optional_text("name", MAX_NAME_CHARS)?;
    Ok(Restock {
        product_id,
        quantity,
        name: name.map(storable_text),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::contract::testing::{example_with, message_for, parsed, rejected};
    use crate::contract::testing::{CANCEL, PLACE, RESTOCK};
    use crate::contract::Command;

    fn lines(count: usize) -> Vec<Value> {
        (0..count)
            .map(|i| json!({"product_id": format!("p-{i}"), "quantity": 1}))
            .collect()
    }

    fn message_for_lines(lines: Value) -> String {
        message_for(PLACE, json!({ "lines": lines }))
    }

    #[test]
    fn place_order_without_order_id_says_it_is_missing() {
        let body = PLACE.replace(r#""order_id":"o-1","#, "");
        assert_eq!(rejected(&body).to_string(), "order_id: missing");
    }

    #[test]
    fn place_order_with_zero_quantity_names_the_line() {
        let mut given = lines(3);
        given[2]["quantity"] = json!(0);
        let expected = "lines[2].quantity: 0 is below the minimum 1";
        assert_eq!(message_for_lines(Value::Array(given)), expected);
    }

    #[test]
    fn place_order_with_huge_quantity_names_the_maximum() {
        let given = json!([{"product_id": "p", "quantity": 20000}]);
        let expected = "lines[0].quantity: 20000 is above the maximum 10000";
        assert_eq!(message_for_lines(given), expected);
    }

    /// Numbers are read correctly rounded (`float_roundtrip`), in tests and release alike.
    #[test]
    fn quantity_beyond_u64_is_still_above_the_maximum() {
        let body = PLACE.replace(r#""quantity":2"#, r#""quantity":123456789012345678901234"#);
        let message = rejected(&body).to_string();
        assert_eq!(
            message,
            "lines[0].quantity: 1.2345678901234569e+23 is above the maximum 10000"
        );
    }

    #[test]
    fn negative_quantity_is_below_the_minimum() {
        let given = json!([{"product_id": "p", "quantity": -5}]);
        let expected = "lines[0].quantity: -5 is below the minimum 1";
        assert_eq!(message_for_lines(given), expected);
    }

    #[test]
    fn fractional_or_quoted_quantity_is_not_an_integer() {
        let fractional = json!([{"product_id": "p", "quantity": 1.5}]);
        let expected = "lines[0].quantity: expected an integer, found 1.5";
        assert_eq!(message_for_lines(fractional), expected);
        let quoted = json!([{"product_id": "p", "quantity": "3"}]);
        let expected = r#"lines[0].quantity: expected an integer, found "3""#;
        assert_eq!(message_for_lines(quoted), expected);
    }

    #[test]
    fn quantity_written_with_a_zero_fraction_is_an_integer() {
        let body = PLACE.replace(r#""quantity":2"#, r#""quantity":2.0"#);
        assert_eq!(parsed(&body), parsed(PLACE));
    }

    #[test]
    fn numeric_product_id_is_not_a_string() {
        let given = json!([{"product_id": "a", "quantity": 1}, {"product_id": 42, "quantity": 1}]);
        let expected = "lines[1].product_id: expected a string, found 42";
        assert_eq!(message_for_lines(given), expected);
    }

    #[test]
    fn line_that_is_not_an_object_is_shown() {
        let expected = "lines[0]: expected an object, found 7";
        assert_eq!(message_for_lines(json!([7])), expected);
    }

    #[test]
    fn order_needs_between_one_and_fifty_lines() {
        let expected = "lines: 0 items is below the minimum 1";
        assert_eq!(message_for_lines(json!([])), expected);
        let expected = "lines: 51 items is above the maximum 50";
        assert_eq!(message_for_lines(Value::Array(lines(51))), expected);
        let fifty = example_with(PLACE, json!({ "lines": lines(50) }));
        assert_eq!(parsed(&fifty).command.product_ids().len(), 50);
    }

    #[test]
    fn repeated_product_is_reported_where_it_repeats() {
        let mut given = lines(4);
        given[3]["product_id"] = json!("p-1");
        let expected = r#"lines[3].product_id: "p-1" appears twice in one order"#;
        assert_eq!(message_for_lines(Value::Array(given)), expected);
    }

    #[test]
    fn unknown_fields_inside_lines_are_ignored() {
        let given = json!([{"product_id": "pokemon-bread", "quantity": 2, "gift": true}]);
        let body = example_with(PLACE, json!({ "lines": given }));
        assert_eq!(parsed(&body), parsed(PLACE));
    }

    #[test]
    fn place_order_fields_are_checked_in_schema_order() {
        let all_wrong = json!({"order_id": 1, "user_id": 2, "lines": 3});
        assert!(message_for(PLACE, all_wrong).starts_with("order_id:"));
        let later_wrong = json!({"user_id": 2, "lines": 3});
        assert!(message_for(PLACE, later_wrong).starts_with("user_id:"));
    }

    #[test]
    fn a_nul_in_free_text_is_stored_as_the_replacement_character() {
        let cancel = parsed(&example_with(CANCEL, json!({"reason": "a\u{0}b"})));
        let restock = parsed(&example_with(RESTOCK, json!({"name": "\u{0}"})));
        match (cancel.command, restock.command) {
            (Command::CancelOrder(c), Command::Restock(r)) => {
                assert_eq!(c.reason.as_deref(), Some("a\u{FFFD}b"));
                assert_eq!(r.name.as_deref(), Some("\u{FFFD}"));
            }
            other => panic!("unexpected commands: {other:?}"),
        }
    }

    #[test]
    fn reason_is_counted_in_characters_not_bytes() {
        let at_limit = example_with(CANCEL, json!({"reason": "é".repeat(500)}));
        assert!(matches!(parsed(&at_limit).command, Command::CancelOrder(_)));
        let message = message_for(CANCEL, json!({"reason": "é".repeat(501)}));
        assert_eq!(message, "reason: 501 characters is above the maximum 500");
    }

    #[test]
    fn restock_name_longer_than_200_characters_is_rejected() {
        let message = message_for(RESTOCK, json!({"name": "n".repeat(201)}));
        assert_eq!(message, "name: 201 characters is above the maximum 200");
    }

    #[test]
    fn restock_quantity_may_reach_a_billion_but_not_more() {
        let body = example_with(RESTOCK, json!({"quantity": 1_000_000_000}));
        assert_eq!(parsed(&body).command.message_group_id(), "pokemon-bread");
        let message = message_for(RESTOCK, json!({"quantity": 1_000_000_001}));
        assert_eq!(
            message,
            "quantity: 1000000001 is above the maximum 1000000000"
        );
    }

    #[test]
    fn restock_product_id_longer_than_64_characters_does_not_match() {
        let message = message_for(RESTOCK, json!({"product_id": "p".repeat(65)}));
        assert!(
            message.ends_with(" does not match ^[A-Za-z0-9_.:-]{1,64}$"),
            "{message}"
        );
    }
}
