//! Properties that must hold for every input, not only for the examples we thought of.

use chrono::{DateTime, Utc};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::Value;

use super::{CancelOrder, Command, Envelope, OrderLine, PlaceOrder, Restock};

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.:-]{1,64}"
}

/// Free text as it is stored: any character but U+0000, which parsing turns into U+FFFD
/// (the contract's storage clarification), so it cannot round-trip unchanged.
fn text(max_chars: usize) -> impl Strategy<Value = String> {
    let stored = any::<char>().prop_filter("U+0000 is stored as U+FFFD", |c| *c != '\u{0}');
    vec(stored, 0..=max_chars).prop_map(String::from_iter)
}

/// Any instant with a four-digit year, which is all RFC 3339 can write.
fn issued_at() -> impl Strategy<Value = Option<DateTime<Utc>>> {
    let moment = (-62_167_219_200i64..=253_402_300_799, 0u32..1_000_000_000);
    proptest::option::of(moment).prop_map(|m| m.and_then(|(s, n)| DateTime::from_timestamp(s, n)))
}

fn lines() -> impl Strategy<Value = Vec<OrderLine>> {
    let quantities = btree_map(id(), 1..=10_000u32, 1..=50);
    let lines = quantities.prop_map(|by_product| {
        let line = |(product_id, quantity)| OrderLine {
            product_id,
            quantity,
        };
        by_product.into_iter().map(line).collect::<Vec<_>>()
    });
    lines.prop_shuffle()
}

fn command() -> impl Strategy<Value = Command> {
    let place = (id(), id(), lines()).prop_map(|(order_id, user_id, lines)| {
        Command::PlaceOrder(PlaceOrder {
            order_id,
            user_id,
            lines,
        })
    });
    let cancel = (id(), proptest::option::of(text(500)))
        .prop_map(|(order_id, reason)| Command::CancelOrder(CancelOrder { order_id, reason }));
    let restock = (id(), 1..=1_000_000_000u32, proptest::option::of(text(200))).prop_map(
        |(product_id, quantity, name)| {
            Command::Restock(Restock {
                product_id,
                quantity,
                name,
            })
        },
    );
    prop_oneof![place, cancel, restock]
}

fn envelope() -> impl Strategy<Value = Envelope> {
    let command_id = "[A-Za-z0-9_.:-]{1,128}";
    (command_id, issued_at(), command()).prop_map(|(command_id, issued_at, command)| Envelope {
        command_id,
        issued_at,
        command,
    })
}

/// Small JSON values of every kind, to drop into fields where they may not belong.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text(8).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| vec(inner, 0..4).prop_map(Value::Array))
}

/// A rejection must still be a usable report: it names a field and starts with it.
fn assert_reportable(result: Result<Envelope, super::ContractError>) -> Result<(), TestCaseError> {
    if let Err(error) = result {
        let prefix = format!("{}: ", error.field());
        prop_assert!(!error.field().is_empty());
        prop_assert!(error.to_string().starts_with(&prefix), "{}", error);
        prop_assert!(!error.is_retryable());
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_valid_envelope_round_trips_through_to_json(envelope in envelope()) {
        prop_assert_eq!(Envelope::parse(&envelope.to_json()), Ok(envelope));
    }

    #[test]
    fn fingerprint_ignores_command_id_and_issued_at(envelope in envelope(), other in envelope()) {
        let redelivered = Envelope { command: envelope.command.clone(), ..other };
        prop_assert_eq!(redelivered.fingerprint(), envelope.fingerprint());
    }

    #[test]
    fn parse_never_panics_on_arbitrary_strings(body in any::<String>()) {
        assert_reportable(Envelope::parse(&body))?;
    }

    #[test]
    fn parse_never_panics_on_json_like_strings(body in r#"[{}\[\]":,.0-9a-z_ -]{0,80}"#) {
        assert_reportable(Envelope::parse(&body))?;
    }

    #[test]
    fn parse_reports_any_value_put_in_any_field(
        envelope in envelope(),
        key in prop_oneof![
            Just("version"), Just("command_id"), Just("type"), Just("issued_at"),
            Just("order_id"), Just("user_id"), Just("lines"), Just("reason"),
            Just("product_id"), Just("quantity"), Just("name"),
        ],
        value in json_value(),
    ) {
        let mut body: Value = serde_json::from_str(&envelope.to_json()).unwrap_or_default();
        body[key] = value;
        assert_reportable(Envelope::parse(&body.to_string()))?;
    }
}
