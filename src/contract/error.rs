//! Why a message body is not a valid contract-v1 command.
//!
//! Operators read these errors next to the kept body to decide whether to fix and replay it,
//! so each one names the JSON path of the offending field and shows what was there, e.g.
//! `lines[2].quantity: 0 is below the minimum 1`.

use serde_json::Value;
use thiserror::Error;

/// Longest rendering of an offending value: a 64 KiB body must not become a 64 KiB log line.
const MAX_SHOWN_CHARS: usize = 80;

/// A contract violation, found before the worker does anything with the message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ContractError {
    #[error("{field}: {bytes} bytes is above the maximum {maximum}")]
    TooLarge {
        field: String,
        bytes: usize,
        maximum: usize,
    },
    #[error("{field}: not valid JSON: {reason}")]
    MalformedJson { field: String, reason: String },
    #[error("{field}: {found} is not the supported version {supported}")]
    UnsupportedVersion {
        field: String,
        found: String,
        supported: u64,
    },
    #[error("{field}: {found} is not one of {allowed}")]
    UnknownType {
        field: String,
        found: String,
        allowed: &'static str,
    },
    #[error("{field}: missing")]
    Missing { field: String },
    #[error("{field}: expected {expected}, found {found}")]
    WrongType {
        field: String,
        expected: &'static str,
        found: String,
    },
    #[error("{field}: {found} is below the minimum {minimum}")]
    BelowMinimum {
        field: String,
        found: String,
        minimum: u64,
    },
    #[error("{field}: {found} is above the maximum {maximum}")]
    AboveMaximum {
        field: String,
        found: String,
        maximum: u64,
    },
    #[error("{field}: {found} does not match {pattern}")]
    PatternMismatch {
        field: String,
        found: String,
        pattern: &'static str,
    },
    #[error("{field}: {found} appears twice in one order")]
    Duplicate { field: String, found: String },
    #[error("{field}: {found} is not an RFC 3339 date-time")]
    NotDateTime { field: String, found: String },
}

impl ContractError {
    /// The JSON path of the offending field (`body` when the body as a whole is wrong).
    pub fn field(&self) -> &str {
        match self {
            Self::TooLarge { field, .. }
            | Self::MalformedJson { field, .. }
            | Self::UnsupportedVersion { field, .. }
            | Self::UnknownType { field, .. }
            | Self::Missing { field }
            | Self::WrongType { field, .. }
            | Self::BelowMinimum { field, .. }
            | Self::AboveMaximum { field, .. }
            | Self::PatternMismatch { field, .. }
            | Self::Duplicate { field, .. }
            | Self::NotDateTime { field, .. } => field,
        }
    }

    /// A stable machine-readable class, for metrics and for filtering kept messages.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "TOO_LARGE",
            Self::MalformedJson { .. } => "MALFORMED_JSON",
            Self::UnsupportedVersion { .. } => "UNSUPPORTED_VERSION",
            Self::UnknownType { .. } => "UNKNOWN_TYPE",
            _ => "SCHEMA_VIOLATION",
        }
    }

    /// Always false: the same body fails the same way every time, so retrying only delays the
    /// moment an operator sees it.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Renders an offending value as compact JSON, cut short so that errors stay one short line.
pub(crate) fn shown(value: &Value) -> String {
    let json = value.to_string();
    if json.chars().count() <= MAX_SHOWN_CHARS {
        return json;
    }
    let head: String = json.chars().take(MAX_SHOWN_CHARS - 3).collect();
    format!("{head}...")
}

/// The JSON kind of a value, for when showing the value itself says too little or too much.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_value_is_shown_as_compact_json() {
        assert_eq!(shown(&json!({"a": [1, 2]})), r#"{"a":[1,2]}"#);
    }

    #[test]
    fn long_value_is_cut_to_eighty_characters() {
        let rendered = shown(&json!("é".repeat(500)));
        assert_eq!(rendered.chars().count(), MAX_SHOWN_CHARS);
        assert!(rendered.starts_with("\"éé") && rendered.ends_with("..."));
    }

    #[test]
    fn every_error_names_its_field_and_is_never_retried() {
        let error = ContractError::Missing {
            field: "lines[0].quantity".into(),
        };
        assert_eq!(error.field(), "lines[0].quantity");
        assert_eq!(error.code(), "SCHEMA_VIOLATION");
        assert!(!error.is_retryable());
    }

    #[test]
    fn body_kind_names_the_json_kind() {
        let kinds: Vec<_> = [
            json!(null),
            json!(true),
            json!(1),
            json!("s"),
            json!([]),
            json!({}),
        ]
        .iter()
        .map(kind)
        .collect();
        assert_eq!(
            kinds,
            ["null", "boolean", "number", "string", "array", "object"]
        );
    }
}
