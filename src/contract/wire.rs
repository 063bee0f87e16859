//! Writing an envelope back out: the wire JSON, and the fingerprint of its command.
//!
//! `to_json` serves tests, replays and publishers written in Rust; `fingerprint` is how the
//! worker tells a redelivery (same command) from a conflicting reuse of a `command_id`.

use chrono::SecondsFormat;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::command::Command;
use super::envelope::Envelope;
use super::CONTRACT_VERSION;

impl Envelope {
    /// The contract-v1 body for this envelope: `parse(&e.to_json()) == Ok(e)` for every `e`
    /// that `parse` returned.
    pub fn to_json(&self) -> String {
        let mut entries = command_entries(&self.command);
        entries.push(("version", Value::from(CONTRACT_VERSION)));
        entries.push(("command_id", Value::from(self.command_id.as_str())));
        if let Some(issued_at) = self.issued_at {
            let text = issued_at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            entries.push(("issued_at", Value::from(text)));
        }
        object(entries).to_string()
    }

    /// SHA-256 (hex) of the command's content alone. Delivery details (`command_id`,
    /// `issued_at`, whitespace, key order, unknown fields) are left out so that a redelivery
    /// matches; lines are sorted because their order carries no meaning.
    /// Fingerprints are stored, so this canonical form must never change within v1.
    pub fn fingerprint(&self) -> String {
        let mut command = self.command.clone();
        if let Command::PlaceOrder(order) = &mut command {
            order.lines.sort_by(|a, b| a.product_id.cmp(&b.product_id));
        }
        let canonical = object(command_entries(&command)).to_string();
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// `type` and the command's fields, as they appear on the wire; absent options are left out.
fn command_entries(command: &Command) -> Vec<(&'static str, Value)> {
    let mut entries = vec![("type", Value::from(command.type_name()))];
    match command {
        Command::PlaceOrder(order) => {
            entries.push(("order_id", Value::from(order.order_id.as_str())));
            entries.push(("user_id", Value::from(order.user_id.as_str())));
            let lines = order.lines.iter().map(|line| {
                object(vec![
                    ("product_id", Value::from(line.product_id.as_str())),
                    ("quantity", Value::from(line.quantity)),
                ])
            });
            entries.push(("lines", Value::Array(lines.collect())));
        }
        Command::CancelOrder(cancel) => {
            entries.push(("order_id", Value::from(cancel.order_id.as_str())));
            entries.extend(cancel.reason.as_deref().map(|r| ("reason", Value::from(r))));
        }
        Command::Restock(restock) => {
            entries.push(("product_id", Value::from(restock.product_id.as_str())));
            entries.push(("quantity", Value::from(restock.quantity)));
            entries.extend(restock.name.as_deref().map(|n| ("name", Value::from(n))));
        }
    }
    entries
}

/// Keys go in sorted, so the text is the same whether or not another crate in the build turns
/// on serde_json's `preserve_order` (which would otherwise keep insertion order).
fn object(mut entries: Vec<(&'static str, Value)>) -> Value {
    entries.sort_by_key(|(key, _)| *key);
    let map: Map<String, Value> = entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use crate::contract::testing::{parsed, CANCEL, PLACE, RESTOCK};
    use chrono::DateTime;

    #[test]
    fn envelope_to_json_writes_the_wire_format_with_sorted_keys() {
        let mut envelope = parsed(CANCEL);
        envelope.issued_at = DateTime::from_timestamp(1_700_000_000, 5_000_000);
        let expected = r#"{"command_id":"c-0003","issued_at":"2023-11-14T22:13:20.005Z","order_id":"o-1","reason":"changed mind","type":"CancelOrder","version":1}"#;
        assert_eq!(envelope.to_json(), expected);
    }

    #[test]
    fn readme_examples_round_trip_through_to_json() {
        for body in [RESTOCK, PLACE, CANCEL] {
            let envelope = parsed(body);
            assert_eq!(parsed(&envelope.to_json()), envelope);
        }
    }

    #[test]
    fn issued_at_with_an_offset_is_kept_as_the_same_instant_in_utc() {
        let body = CANCEL.replace("{", r#"{"issued_at":"2024-05-01T12:00:00.25+02:00","#);
        let envelope = parsed(&body);
        let expected = DateTime::from_timestamp(1_714_557_600, 250_000_000);
        assert_eq!(envelope.issued_at, expected);
        assert_eq!(parsed(&envelope.to_json()), envelope);
    }

    #[test]
    fn cancel_fingerprint_is_the_sha256_of_its_canonical_json() {
        let pinned = "0aa5355e2a0fd0f47690c2503fe79fd970235ab644e9a93f9b92d082809477d1";
        assert_eq!(parsed(CANCEL).fingerprint(), pinned);
    }

    #[test]
    fn fingerprint_ignores_whitespace_key_order_extra_fields_id_and_issued_at() {
        let reshaped = r#" { "reason" : "changed mind", "x": {"y": [1]}, "order_id":"o-1",
            "type":"CancelOrder", "issued_at":"2024-01-01T00:00:00Z",
            "command_id":"other-id", "version":1 } "#;
        assert_eq!(parsed(reshaped).fingerprint(), parsed(CANCEL).fingerprint());
    }

    #[test]
    fn fingerprint_ignores_line_order_and_extra_fields_in_lines() {
        let body =
            |lines: &str| PLACE.replace(r#"[{"product_id":"pokemon-bread","quantity":2}]"#, lines);
        let one = body(r#"[{"product_id":"a","quantity":1},{"product_id":"b","quantity":2}]"#);
        let two =
            body(r#"[{"quantity":2,"product_id":"b","note":1},{"product_id":"a","quantity":1}]"#);
        assert_eq!(parsed(&one).fingerprint(), parsed(&two).fingerprint());
    }

    #[test]
    fn fingerprint_changes_when_any_command_field_changes() {
        let changed = [
            PLACE.replace(r#""order_id":"o-1""#, r#""order_id":"o-2""#),
            PLACE.replace(r#""user_id":"u-1""#, r#""user_id":"u-2""#),
            PLACE.replace(r#""product_id":"pokemon-bread""#, r#""product_id":"bread""#),
            PLACE.replace(r#""quantity":2"#, r#""quantity":3"#),
        ];
        for body in changed {
            assert_ne!(
                parsed(&body).fingerprint(),
                parsed(PLACE).fingerprint(),
                "{body}"
            );
        }
    }

    #[test]
    fn fingerprint_tells_optional_fields_and_types_apart() {
        let without_reason = parsed(&CANCEL.replace(r#","reason":"changed mind""#, ""));
        let empty_reason = parsed(&CANCEL.replace("changed mind", ""));
        let prints = [
            parsed(CANCEL),
            without_reason,
            empty_reason,
            parsed(RESTOCK),
        ]
        .map(|e| e.fingerprint());
        let distinct: std::collections::HashSet<_> = prints.iter().collect();
        assert_eq!(distinct.len(), prints.len());
        let renamed = parsed(&RESTOCK.replace("Pokemon bread", "Bread"));
        assert_ne!(renamed.fingerprint(), parsed(RESTOCK).fingerprint());
    }
}
