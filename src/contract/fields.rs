//! Reading one JSON object field by field, the way the schema constrains it.
//!
//! A JSON-schema library would tell us *that* a body is invalid; reading by hand lets every
//! error carry the exact path and value, and lets the first problem win in a stable order.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::error::{kind, shown, ContractError};

type Result<T> = std::result::Result<T, ContractError>;

/// The schema's identifier patterns, which differ only in their maximum length.
pub(crate) struct IdPattern {
    max_len: usize,
    text: &'static str,
}

/// `command_id`: the deduplication key, which SNS FIFO allows up to 128 characters.
pub(crate) const COMMAND_ID: IdPattern = IdPattern {
    max_len: 128,
    text: "^[A-Za-z0-9_.:-]{1,128}$",
};

/// `#/$defs/id`: order, user and product ids.
pub(crate) const ID: IdPattern = IdPattern {
    max_len: 64,
    text: "^[A-Za-z0-9_.:-]{1,64}$",
};

impl IdPattern {
    fn matches(&self, text: &str) -> bool {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_.:-".contains(c);
        (1..=self.max_len).contains(&text.len()) && text.chars().all(allowed)
    }
}

/// One JSON object and the path it sits at, so that errors name e.g. `lines[2].quantity`.
pub(crate) struct Fields<'a> {
    object: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Fields<'a> {
    /// The body itself, named by its JSON kind because showing it could mean 64 KiB of text.
    pub(crate) fn body(value: &'a Value) -> Result<Self> {
        match value {
            Value::Object(object) => Ok(Self {
                object,
                prefix: String::new(),
            }),
            _ => Err(ContractError::WrongType {
                field: "body".to_owned(),
                expected: "a JSON object",
                found: kind(value).to_owned(),
            }),
        }
    }

    /// An object nested at `path`, such as `lines[2]`.
    pub(crate) fn nested(value: &'a Value, path: String) -> Result<Self> {
        match value {
            Value::Object(object) => Ok(Self {
                object,
                prefix: path,
            }),
            _ => Err(wrong_type(&path, "an object", value)),
        }
    }

    pub(crate) fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    pub(crate) fn required(&self, key: &str) -> Result<&'a Value> {
        self.object.get(key).ok_or_else(|| ContractError::Missing {
            field: self.path(key),
        })
    }

    pub(crate) fn id(&self, key: &str, pattern: &IdPattern) -> Result<&'a str> {
        let value = self.required(key)?;
        let text = as_str(value, &self.path(key))?;
        if pattern.matches(text) {
            return Ok(text);
        }
        Err(ContractError::PatternMismatch {
            field: self.path(key),
            found: shown(value),
            pattern: pattern.text,
        })
    }

    /// An optional string; JSON `null` is not absence here, because the schema says `string`.
    pub(crate) fn optional_text(&self, key: &str, max_chars: u64) -> Result<Option<&'a str>> {
        let Some(value) = self.object.get(key) else {
            return Ok(None);
        };
        let text = as_str(value, &self.path(key))?;
        let chars = text.chars().count() as u64;
        if chars > max_chars {
            return Err(ContractError::AboveMaximum {
                field: self.path(key),
                found: format!("{chars} characters"),
                maximum: max_chars,
            });
        }
        Ok(Some(text))
    }

    pub(crate) fn optional_date_time(&self, key: &str) -> Result<Option<DateTime<Utc>>> {
        let Some(value) = self.object.get(key) else {
            return Ok(None);
        };
        let text = as_str(value, &self.path(key))?;
        match DateTime::parse_from_rfc3339(text) {
            Ok(moment) => Ok(Some(moment.with_timezone(&Utc))),
            Err(_) => Err(ContractError::NotDateTime {
                field: self.path(key),
                found: shown(value),
            }),
        }
    }

    pub(crate) fn integer(&self, key: &str, minimum: u32, maximum: u32) -> Result<u32> {
        let value = self.required(key)?;
        let field = self.path(key);
        let Some(number) = integral(value) else {
            return Err(wrong_type(&field, "an integer", value));
        };
        let found = shown(value);
        match u32::try_from(number) {
            Ok(accepted) if (minimum..=maximum).contains(&accepted) => Ok(accepted),
            _ if number < i128::from(minimum) => Err(ContractError::BelowMinimum {
                field,
                found,
                minimum: minimum.into(),
            }),
            _ => Err(ContractError::AboveMaximum {
                field,
                found,
                maximum: maximum.into(),
            }),
        }
    }

    pub(crate) fn array(&self, key: &str, min_items: u64, max_items: u64) -> Result<&'a [Value]> {
        let value = self.required(key)?;
        let field = self.path(key);
        let Value::Array(items) = value else {
            return Err(wrong_type(&field, "an array", value));
        };
        let count = items.len() as u64;
        let found = format!("{count} items");
        if count < min_items {
            return Err(ContractError::BelowMinimum {
                field,
                found,
                minimum: min_items,
            });
        }
        if count > max_items {
            return Err(ContractError::AboveMaximum {
                field,
                found,
                maximum: max_items,
            });
        }
        Ok(items)
    }
}

/// The schema's `integer` is any number without a fractional part, so `2.0` counts; values
/// beyond `u64` arrive as floats and are still reported with their magnitude.
fn integral(value: &Value) -> Option<i128> {
    let Value::Number(number) = value else {
        return None;
    };
    if let Some(unsigned) = number.as_u64() {
        return Some(i128::from(unsigned));
    }
    if let Some(signed) = number.as_i64() {
        return Some(i128::from(signed));
    }
    let float = number.as_f64().filter(|f| f.fract() == 0.0)?;
    // Saturates far beyond any bound in the contract, which is all the comparison needs.
    Some(float as i128)
}

fn as_str<'v>(value: &'v Value, field: &str) -> Result<&'v str> {
    value
        .as_str()
        .ok_or_else(|| wrong_type(field, "a string", value))
}

fn wrong_type(field: &str, expected: &'static str, value: &Value) -> ContractError {
    ContractError::WrongType {
        field: field.to_owned(),
        expected,
        found: shown(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn id_pattern_accepts_exactly_its_characters_and_lengths() {
        assert!(ID.matches("Az09_.:-"));
        assert!(ID.matches(&"x".repeat(64)));
        let rejected = ["", "a b", "é", "a\n", "a/b", &"x".repeat(65)];
        assert!(
            rejected.iter().all(|text| !ID.matches(text)),
            "{rejected:?}"
        );
    }

    #[test]
    fn integral_numbers_include_zero_fractions_and_exclude_the_rest() {
        assert_eq!(integral(&json!(2.0)), Some(2));
        assert_eq!(integral(&json!(-7)), Some(-7));
        assert_eq!(integral(&json!(u64::MAX)), Some(i128::from(u64::MAX)));
        assert_eq!(integral(&json!(1.5)), None);
        assert_eq!(integral(&json!("3")), None);
    }

    #[test]
    fn nested_fields_are_named_by_their_full_path() {
        let line = json!({"quantity": "many"});
        let fields = Fields::nested(&line, "lines[4]".to_owned());
        let error = fields.and_then(|f| f.integer("quantity", 1, 10)).err();
        assert_eq!(
            error.map(|e| e.field().to_owned()),
            Some("lines[4].quantity".to_owned())
        );
    }
}
