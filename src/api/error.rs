//! The API's failures and the HTTP answer each one gets: always a JSON body
//! `{"error": "..."}` naming the parameter and value at fault, never a panic.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::db::fault::{self, Fault};

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct ErrorBody {
    /// What went wrong, naming the parameter and value or the dependency at fault.
    pub error: String,
}

/// Why a request got no data.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A path or query parameter the API cannot use.
    #[error("{param}: {value:?} {reason}")]
    BadParameter {
        param: &'static str,
        value: String,
        reason: String,
    },
    #[error("{kind} {id:?} not found")]
    NotFound { kind: &'static str, id: String },
    /// The read database did not answer in time (down, unreachable, overloaded) or lost a
    /// race a retry wins.
    #[error("read database unavailable: {source}")]
    Unavailable { source: sqlx::Error },
    /// The read database took too long: treated like an outage.
    #[error("read database did not answer within {after:?}")]
    Slow { after: std::time::Duration },
    /// The read database answered with something this code cannot read: a bug or a schema
    /// out of step, not something a retry fixes.
    #[error("read database: {source}")]
    Internal { source: sqlx::Error },
    #[error("no route {method} {path}")]
    NoRoute { method: String, path: String },
    /// The request ran past the API's request timeout.
    #[error("request did not finish within {after:?}")]
    TooSlow { after: std::time::Duration },
    /// The API was already serving its most requests at once.
    #[error("overloaded: already {limit} requests in flight; retry shortly")]
    Overloaded { limit: usize },
    /// Refused by a bound for another reason (none expected; named if it happens).
    #[error("request refused: {why}")]
    Refused { why: String },
}

impl ApiError {
    pub fn bad(param: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self::BadParameter {
            param,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadParameter { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound { .. } | Self::NoRoute { .. } => StatusCode::NOT_FOUND,
            Self::Unavailable { .. }
            | Self::Slow { .. }
            | Self::TooSlow { .. }
            | Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal { .. } | Self::Refused { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A later identical request may succeed: the client should retry with backoff.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. }
                | Self::Slow { .. }
                | Self::TooSlow { .. }
                | Self::Overloaded { .. }
        )
    }
}

/// By the one reading of database failures shared with the worker, relay and projector: a
/// lost race is worth the client's retry just like an outage.
impl From<sqlx::Error> for ApiError {
    fn from(source: sqlx::Error) -> Self {
        match fault::classify(&source) {
            Fault::Outage | Fault::Retry => Self::Unavailable { source },
            Fault::BadData | Fault::Bug => Self::Internal { source },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let body = ErrorBody {
            error: self.to_string(),
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_parameter_names_the_parameter_and_the_value() {
        let err = ApiError::bad("order_id", "bad id!", "does not match ^x$");
        assert_eq!(err.to_string(), r#"order_id: "bad id!" does not match ^x$"#);
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_pool_timeout_is_an_outage_and_a_decode_error_is_not() {
        assert!(ApiError::from(sqlx::Error::PoolTimedOut).is_retryable());
        let decode = ApiError::from(sqlx::Error::ColumnNotFound("x".into()));
        assert_eq!(decode.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
