//! Bounds on the `/v1` routes, so a burst of readers or a slow read database cannot pile up
//! requests without end: at most `max_in_flight` requests are served at once and any more
//! are refused at once (503, shed rather than queued, so a client's retry meets a server
//! that has caught up); a request still running after `request_timeout` is answered 503.
//! Both answers are the API's JSON error and count in `fulfil_api_requests_total`. The
//! operations endpoints are not bounded: a probe must answer while the API is saturated.

use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::{BoxError, Router};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;

use super::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Longest a request may run (after it was let in) before it is answered 503.
    pub request_timeout: Duration,
    /// Most `/v1` requests served at once by this process; more are refused with a 503.
    pub max_in_flight: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            max_in_flight: 256,
        }
    }
}

impl ApiLimits {
    /// `routes` with these bounds. The concurrency limit is one semaphore shared by every
    /// route (a per-route limit would multiply it); the timeout starts once a request is let
    /// in.
    pub fn apply<S: Clone + Send + Sync + 'static>(self, routes: Router<S>) -> Router<S> {
        let refuse = move |err: BoxError| async move { self.refusal(&err) };
        routes.layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(refuse))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(self.max_in_flight))
                .timeout(self.request_timeout),
        )
    }

    /// The JSON answer to a request the bounds stopped.
    fn refusal(self, err: &BoxError) -> ApiError {
        if err.is::<tower::timeout::error::Elapsed>() {
            ApiError::TooSlow {
                after: self.request_timeout,
            }
        } else if err.is::<tower::load_shed::error::Overloaded>() {
            ApiError::Overloaded {
                limit: self.max_in_flight,
            }
        } else {
            ApiError::Refused {
                why: err.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_past_its_time_is_a_retryable_503_naming_the_limit() {
        let limits = ApiLimits::default();
        let err = limits.refusal(&BoxError::from(tower::timeout::error::Elapsed::new()));
        assert!(err.is_retryable(), "{err}");
        assert_eq!(err.to_string(), "request did not finish within 10s");
    }

    #[test]
    fn a_request_over_the_limit_is_a_retryable_503_naming_the_limit() {
        let limits = ApiLimits::default();
        let err = limits.refusal(&BoxError::from(tower::load_shed::error::Overloaded::new()));
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains("256 requests in flight"), "{err}");
    }
}
