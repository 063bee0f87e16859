//! The bounds on `/v1`: a request still running at the request timeout, and a request
//! arriving while the most requests are in flight, are each a JSON 503 at once, while the
//! operations endpoints still answer. Requests are held up inside the read database for
//! real: another session holds `read_orders` under an ACCESS EXCLUSIVE lock.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use fulfil::api::ApiLimits;
use sqlx::{Postgres, Transaction};

use super::{error, get_json, get_text, OrderRow, TestApi};
use crate::harness::eventually;

/// Holds `read_orders` so that every API query on it waits until the transaction ends.
async fn hold_read_orders(api: &TestApi) -> Transaction<'static, Postgres> {
    let mut tx = api.pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE read_orders IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .expect("lock read_orders");
    tx
}

/// API queries of this test's database waiting on a lock.
async fn waiting_on_a_lock(api: &TestApi) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(&api.pool)
    .await
    .expect("pg_stat_activity")
}

#[tokio::test]
async fn a_request_past_the_request_timeout_is_a_503_before_the_query_timeout() {
    let limits = ApiLimits {
        request_timeout: Duration::from_millis(300),
        ..ApiLimits::default()
    };
    let api = TestApi::with_limits(limits).await;
    api.order(OrderRow::default()).await;
    let held = hold_read_orders(&api).await;

    let started = Instant::now();
    let (status, body) = api.get("/v1/orders/o-1").await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body, error("request did not finish within 300ms"));
    // The query's own bound is 5 s: this answer came from the request timeout.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    held.rollback().await.expect("rollback");
    let (status, body) = api.get("/v1/orders/o-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_request_over_the_in_flight_limit_is_refused_at_once_and_probes_still_answer() {
    let limits = ApiLimits {
        request_timeout: Duration::from_secs(30),
        max_in_flight: 1,
    };
    let api = TestApi::with_limits(limits).await;
    api.order(OrderRow::default()).await;
    let held = hold_read_orders(&api).await;
    let app = api.app.clone();
    let first = tokio::spawn(async move { get_json(&app, "/v1/orders/o-1").await });
    eventually(
        Duration::from_secs(10),
        "the first request to wait on the lock",
        || async { (waiting_on_a_lock(&api).await > 0).then_some(()) },
    )
    .await;

    let started = Instant::now();
    let (status, body) = api.get("/v1/products/p-1").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let expected = "overloaded: already 1 requests in flight; retry shortly";
    assert_eq!(body, error(expected));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused, not queued"
    );
    let (status, _) = get_text(&api.app, "/healthz").await;
    assert_eq!(status, StatusCode::OK, "/healthz is not bounded");

    held.rollback().await.expect("rollback");
    let (status, body) = first.await.expect("first request");
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = api.get("/v1/products/p-1").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "let in once the first is done: {body}"
    );
}
