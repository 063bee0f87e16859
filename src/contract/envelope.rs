//! The whole message as publishers send it: the command plus its id and issue time.
//!
//! Parsing is the only way in, so an `Envelope` always satisfies contract v1 and the worker
//! never re-checks a field. (Writing it back out lives in `wire.rs`.)

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::command::Command;
use super::error::{shown, ContractError};
use super::fields::{Fields, COMMAND_ID};
use super::{parse, CONTRACT_VERSION, MAX_BODY_BYTES};

/// One valid command message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope {
    pub command_id: String,
    /// Informational only: the worker never orders or expires commands by it.
    pub issued_at: Option<DateTime<Utc>>,
    pub command: Command,
}

impl Envelope {
    /// Checks the body against contract v1 and reports the first violation, in a fixed order:
    /// size, JSON, version, command_id, type, the type's own fields, issued_at.
    pub fn parse(body: &str) -> Result<Envelope, ContractError> {
        check_size(body)?;
        let value: Value =
            serde_json::from_str(body).map_err(|e| ContractError::MalformedJson {
                field: "body".to_owned(),
                reason: e.to_string(),
            })?;
        let fields = Fields::body(&value)?;
        check_version(&fields)?;
        let command_id = fields.id("command_id", &COMMAND_ID)?.to_owned();
        let command = parse::command(&fields)?;
        let issued_at = fields.optional_date_time("issued_at")?;
        Ok(Envelope {
            command_id,
            issued_at,
            command,
        })
    }
}

fn check_size(body: &str) -> Result<(), ContractError> {
    if body.len() <= MAX_BODY_BYTES {
        return Ok(());
    }
    Err(ContractError::TooLarge {
        field: "body".to_owned(),
        bytes: body.len(),
        maximum: MAX_BODY_BYTES,
    })
}

fn check_version(fields: &Fields) -> Result<(), ContractError> {
    let value = fields.required("version")?;
    // The schema's `const` compares numbers by value, so `1.0` is version 1 as well.
    if value.as_f64() == Some(CONTRACT_VERSION as f64) {
        return Ok(());
    }
    Err(ContractError::UnsupportedVersion {
        field: fields.path("version"),
        found: shown(value),
        supported: CONTRACT_VERSION,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::testing::{
        example_with, message_for, parsed, rejected, CANCEL, PLACE, RESTOCK,
    };
    use crate::contract::{CancelOrder, OrderLine, PlaceOrder, Restock};
    use serde_json::json;

    #[test]
    fn readme_restock_example_parses_to_its_command() {
        let command = Command::Restock(Restock {
            product_id: "pokemon-bread".into(),
            quantity: 1000,
            name: Some("Pokemon bread".into()),
        });
        let expected = Envelope {
            command_id: "c-0001".into(),
            issued_at: None,
            command,
        };
        assert_eq!(parsed(RESTOCK), expected);
    }

    #[test]
    fn readme_place_order_example_parses_to_its_command() {
        let lines = vec![OrderLine {
            product_id: "pokemon-bread".into(),
            quantity: 2,
        }];
        let order = PlaceOrder {
            order_id: "o-1".into(),
            user_id: "u-1".into(),
            lines,
        };
        assert_eq!(parsed(PLACE).command, Command::PlaceOrder(order));
        assert_eq!(parsed(PLACE).command_id, "c-0002");
    }

    #[test]
    fn readme_cancel_example_parses_to_its_command() {
        let cancel = CancelOrder {
            order_id: "o-1".into(),
            reason: Some("changed mind".into()),
        };
        assert_eq!(parsed(CANCEL).command, Command::CancelOrder(cancel));
    }

    #[test]
    fn oversized_body_is_rejected_before_it_is_read() {
        let body = format!("{{\"pad\":\"{}\"}}", " ".repeat(69_990));
        let error = rejected(&body);
        assert_eq!(
            error.to_string(),
            "body: 70000 bytes is above the maximum 65536"
        );
        assert_eq!(error.code(), "TOO_LARGE");
    }

    #[test]
    fn body_of_exactly_the_maximum_size_is_accepted() {
        let padding = " ".repeat(MAX_BODY_BYTES - CANCEL.len());
        assert!(Envelope::parse(&format!("{CANCEL}{padding}")).is_ok());
    }

    #[test]
    fn invalid_json_reports_the_parser_error() {
        let error = rejected(r#"{"version":1,"#);
        assert_eq!(
            error.to_string(),
            "body: not valid JSON: EOF while parsing a value at line 1 column 13"
        );
        assert_eq!(error.code(), "MALFORMED_JSON");
    }

    #[test]
    fn array_body_is_named_by_its_kind_not_shown() {
        let error = rejected("[1,2,3]");
        assert_eq!(
            error.to_string(),
            "body: expected a JSON object, found array"
        );
        assert_eq!((error.field(), error.code()), ("body", "SCHEMA_VIOLATION"));
    }

    #[test]
    fn version_two_is_not_supported() {
        let message = message_for(CANCEL, json!({"version": 2}));
        assert_eq!(message, "version: 2 is not the supported version 1");
        let error = rejected(&example_with(CANCEL, json!({"version": 2})));
        assert_eq!(error.code(), "UNSUPPORTED_VERSION");
    }

    #[test]
    fn version_as_a_string_is_shown_quoted() {
        let message = message_for(CANCEL, json!({"version": "1"}));
        assert_eq!(message, r#"version: "1" is not the supported version 1"#);
    }

    #[test]
    fn version_written_as_one_point_zero_is_version_one() {
        let body = CANCEL.replace(r#""version":1"#, r#""version":1.0"#);
        assert_eq!(parsed(&body), parsed(CANCEL));
    }

    #[test]
    fn body_without_version_says_it_is_missing() {
        let body = CANCEL.replace(r#""version":1,"#, "");
        assert_eq!(rejected(&body).to_string(), "version: missing");
    }

    #[test]
    fn command_id_with_a_space_and_bang_does_not_match_the_pattern() {
        let message = message_for(CANCEL, json!({"command_id": "bad id!"}));
        assert_eq!(
            message,
            r#"command_id: "bad id!" does not match ^[A-Za-z0-9_.:-]{1,128}$"#
        );
    }

    #[test]
    fn command_id_may_be_128_characters_but_not_129() {
        let longest = "c".repeat(128);
        let body = example_with(CANCEL, json!({"command_id": longest}));
        assert_eq!(parsed(&body).command_id, longest);
        let message = message_for(CANCEL, json!({"command_id": "c".repeat(129)}));
        assert!(message.starts_with(r#"command_id: "cccc"#), "{message}");
        assert!(message.contains("c... does not match"), "{message}");
    }

    #[test]
    fn issued_at_in_words_is_not_a_date_time() {
        let message = message_for(CANCEL, json!({"issued_at": "yesterday"}));
        assert_eq!(
            message,
            r#"issued_at: "yesterday" is not an RFC 3339 date-time"#
        );
    }

    #[test]
    fn issued_at_null_is_not_a_string() {
        let message = message_for(CANCEL, json!({"issued_at": null}));
        assert_eq!(message, "issued_at: expected a string, found null");
    }

    #[test]
    fn unknown_top_level_fields_are_ignored() {
        let body = example_with(PLACE, json!({"priority": [1, {"a": null}]}));
        assert_eq!(parsed(&body), parsed(PLACE));
    }

    #[test]
    fn several_problems_report_version_then_command_id_then_type() {
        let all_wrong = json!({"version": 3, "command_id": "!", "type": "X", "order_id": 1});
        assert!(message_for(CANCEL, all_wrong).starts_with("version:"));
        let no_version = json!({"command_id": "!", "type": "X", "order_id": 1});
        assert!(message_for(CANCEL, no_version).starts_with("command_id:"));
        let only_type = json!({"type": "X", "order_id": 1, "issued_at": "then"});
        assert!(message_for(CANCEL, only_type).starts_with("type:"));
    }

    #[test]
    fn unknown_type_lists_the_known_ones() {
        let body = example_with(CANCEL, json!({"type": "ShipOrder"}));
        let expected = r#"type: "ShipOrder" is not one of PlaceOrder, CancelOrder, Restock"#;
        assert_eq!(rejected(&body).to_string(), expected);
        assert_eq!(rejected(&body).code(), "UNKNOWN_TYPE");
    }
}
