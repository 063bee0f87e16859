//! Reading request parameters: ids, page sizes and page cursors. Pure functions, so every
//! way a parameter can be wrong is tested without a server; each error names the parameter.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use super::error::ApiError;

/// The contract's id pattern (`#/$defs/id`): an id that cannot match it names nothing.
pub const ID_PATTERN: &str = "^[A-Za-z0-9_.:-]{1,64}$";

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// `value` if it matches [`ID_PATTERN`].
pub(super) fn id(param: &'static str, value: &str) -> Result<String, ApiError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.:-".contains(c);
    match (1..=64).contains(&value.len()) && value.chars().all(allowed) {
        true => Ok(value.to_owned()),
        false => Err(ApiError::bad(
            param,
            value,
            format!("does not match {ID_PATTERN}"),
        )),
    }
}

/// The page size: absent means [`DEFAULT_LIMIT`].
pub(super) fn limit(value: Option<&str>) -> Result<i64, ApiError> {
    let Some(text) = value else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.parse::<i64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::bad(
            "limit",
            text,
            format!("must be an integer from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// Where a page of a user's orders ends: the last order shown, in the listing's order
/// (`placed_at DESC, order_id DESC`). Clients see it only as an opaque string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub placed_at: DateTime<Utc>,
    pub order_id: String,
}

impl Cursor {
    /// base64url of `<placed_at in microseconds>:<order_id>`; PostgreSQL keeps
    /// microseconds, so the cursor names the row exactly.
    pub fn encode(&self) -> String {
        let text = format!("{}:{}", self.placed_at.timestamp_micros(), self.order_id);
        URL_SAFE_NO_PAD.encode(text)
    }

    /// The cursor in `after`, or an error naming `after` if it is not one we made.
    pub fn decode(after: &str) -> Result<Cursor, ApiError> {
        Self::parse(after).ok_or_else(|| {
            ApiError::bad(
                "after",
                after,
                "is not a cursor from a previous page's \"next\"",
            )
        })
    }

    fn parse(after: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(after).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (micros, order_id) = text.split_once(':')?;
        let placed_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        let order_id = id("after", order_id).ok()?;
        Some(Cursor {
            placed_at,
            order_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_outside_the_pattern_is_refused_naming_the_parameter() {
        assert_eq!(id("order_id", "o-1:a_b.c").unwrap(), "o-1:a_b.c");
        let err = id("order_id", "bad id!").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"order_id: "bad id!" does not match ^[A-Za-z0-9_.:-]{1,64}$"#
        );
        assert!(id("user_id", "").is_err());
        assert!(id("user_id", &"x".repeat(65)).is_err());
        assert!(id("user_id", "é").is_err());
    }

    #[test]
    fn a_limit_is_an_integer_from_1_to_100_defaulting_to_20() {
        assert_eq!(limit(None).unwrap(), 20);
        assert_eq!(limit(Some("1")).unwrap(), 1);
        assert_eq!(limit(Some("100")).unwrap(), 100);
        for bad in ["0", "101", "-1", "ten", ""] {
            let err = limit(Some(bad)).unwrap_err().to_string();
            assert!(err.starts_with(&format!("limit: {bad:?} ")), "{err}");
        }
    }

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused_naming_after() {
        let cursor = Cursor {
            placed_at: DateTime::from_timestamp_micros(1_740_823_200_123_456).unwrap(),
            order_id: "o:1".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        for bad in [
            "",
            "!!",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("12:bad id"),
        ] {
            let err = Cursor::decode(bad).unwrap_err().to_string();
            assert!(err.starts_with("after: "), "{err}");
        }
    }
}
