//! The API's own state: /v1/stats (totals and event lag), readiness following the read
//! database, request metrics, and a 503 (never a hang) when the read database is gone.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use fulfil::api::ApiLimits;
use fulfil::ops::Readiness;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

use super::{get_json, get_text, OrderRow, TestApi};
use crate::harness;

/// `/v1/stats` shows the counters the projector keeps (tested with the projector in
/// `projector::verify`), not a count over the orders: the rows here disagree with them.
#[tokio::test]
async fn stats_show_the_kept_order_counts_and_measure_the_event_lag() {
    let api = TestApi::new().await;
    api.order(OrderRow::default()).await;
    api.sql(
        "UPDATE projection_state SET events_applied = 12,
             orders_confirmed = 30, orders_rejected = 1, orders_cancelled = 2,
             last_occurred_at = date_trunc('milliseconds', now()) - interval '90 seconds',
             last_applied_at = now()",
    )
    .await;
    let last: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT last_occurred_at FROM projection_state")
            .fetch_one(&api.pool)
            .await
            .expect("last_occurred_at");

    let (status, body) = api.get("/v1/stats").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["orders"],
        json!({"confirmed": 30, "rejected": 1, "cancelled": 2})
    );
    assert_eq!(body["events_applied"], 12);
    assert_eq!(body["last_event_at"], json!(last));
    let lag = body["event_lag_seconds"].as_f64().expect("lag is a number");
    assert!((90.0..100.0).contains(&lag), "lag {lag}");
}

#[tokio::test]
async fn stats_before_any_event_are_zero_with_no_lag() {
    let api = TestApi::new().await;

    let (status, body) = api.get("/v1/stats").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "orders": {"confirmed": 0, "rejected": 0, "cancelled": 0},
            "events_applied": 0,
            "last_event_at": null,
            "event_lag_seconds": null
        })
    );
}

#[tokio::test]
async fn readiness_follows_the_read_database_and_shutdown() {
    let api = TestApi::new().await;
    let shutdown = CancellationToken::new();
    let watcher = tokio::spawn(fulfil::api::watch_readiness(
        api.pool.clone(),
        api.readiness.clone(),
        shutdown.clone(),
    ));

    harness::eventually(Duration::from_secs(10), "/readyz 200", || async {
        (get_text(&api.app, "/readyz").await.0 == StatusCode::OK).then_some(())
    })
    .await;
    assert_eq!(get_text(&api.app, "/healthz").await.0, StatusCode::OK);
    shutdown.cancel();
    watcher.await.expect("watcher ends on shutdown");

    let (status, _) = get_text(&api.app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status() {
    fulfil::telemetry::install_metrics();
    let api = TestApi::new().await;
    api.order(OrderRow::default()).await;

    api.get("/v1/orders/o-1").await;
    api.get("/v1/orders/o-404").await;
    api.get("/v1/orders/o-405").await;
    let (status, metrics) = get_text(&api.app, "/metrics").await;

    assert_eq!(status, StatusCode::OK);
    let route = r#"route="/v1/orders/{order_id}""#;
    for line in [
        format!(r#"fulfil_api_requests_total{{{route},status="200"}}"#),
        format!(r#"fulfil_api_requests_total{{{route},status="404"}}"#),
        format!(r#"fulfil_api_request_seconds_bucket{{{route},le="0.005"}}"#),
    ] {
        assert!(metrics.contains(&line), "no {line} in:\n{metrics}");
    }
    assert!(!metrics.contains("o-404"), "raw ids must not become labels");
}

/// A pool that cannot connect, with a short acquire timeout as the process's is bounded.
fn broken_pool(url: &str) -> sqlx::PgPool {
    PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy(url)
        .expect("a well-formed URL")
}

async fn assert_unavailable(pool: sqlx::PgPool) {
    let app = fulfil::api::router(pool, Readiness::default(), ApiLimits::default());
    for uri in ["/v1/orders/o-1", "/v1/users/u-1/orders", "/v1/stats"] {
        let started = Instant::now();
        let (status, body) = get_json(&app, uri).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "GET {uri}: {body}");
        let text = body["error"].as_str().expect("error text");
        assert!(text.starts_with("read database"), "GET {uri}: {text}");
        assert!(started.elapsed() < Duration::from_secs(4), "GET {uri} hung");
    }
}

#[tokio::test]
async fn a_read_database_that_does_not_exist_is_a_503() {
    let api = TestApi::new().await;
    let mut url = url::Url::parse(api.db.url.expose()).expect("url");
    url.set_path("/no_such_database_here");

    assert_unavailable(broken_pool(url.as_str())).await;
}

#[tokio::test]
async fn a_read_database_on_a_closed_port_is_a_503_within_the_acquire_timeout() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);

    let pool = broken_pool(&format!("postgres://fulfil@127.0.0.1:{port}/x"));
    let readiness = Readiness::default();
    readiness.set(true);
    let shutdown = CancellationToken::new();
    let watcher = fulfil::api::watch_readiness(pool.clone(), readiness.clone(), shutdown.clone());
    tokio::spawn(watcher);

    assert_unavailable(pool).await;
    harness::eventually(Duration::from_secs(10), "not ready", || async {
        (!readiness.get()).then_some(())
    })
    .await;
    shutdown.cancel();
}
