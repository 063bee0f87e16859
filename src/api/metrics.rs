//! Request metrics for the `/v1` routes: `fulfil_api_requests_total{route,status}` and the
//! `fulfil_api_request_seconds{route}` histogram. Routes are labelled by their template
//! (`/v1/orders/{order_id}`), never the raw path, so ids cannot blow up the label set.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// The route label of requests no route matched.
const UNMATCHED: &str = "unmatched";

pub(super) async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED.to_owned(), |m| m.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("fulfil_api_request_seconds", "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("fulfil_api_requests_total", "route" => route, "status" => status)
        .increment(1);
    response
}
