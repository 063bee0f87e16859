//! The query API against a real read database: the router driven in-process (no socket),
//! rows written straight into the read tables as the projector would, and one `fulfil api`
//! process. This file holds the request helpers and row writers the scenarios share.

mod health;
mod limits;
mod openapi;
mod pages;
mod process;
mod reader;
mod views;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use fulfil::api::ApiLimits;
use fulfil::db::Database;
use fulfil::ops::Readiness;
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;

use crate::harness::TestDb;

/// The API on a read database of this test's own.
pub struct TestApi {
    pub app: Router,
    pub pool: PgPool,
    pub readiness: Readiness,
    pub db: TestDb,
}

impl TestApi {
    pub async fn new() -> TestApi {
        TestApi::with_limits(ApiLimits::default()).await
    }

    pub async fn with_limits(limits: ApiLimits) -> TestApi {
        let (db, pool) = TestDb::migrated(Database::Read).await;
        let readiness = Readiness::default();
        let app = fulfil::api::router(pool.clone(), readiness.clone(), limits);
        TestApi {
            app,
            pool,
            readiness,
            db,
        }
    }

    /// GET `uri`, answered as JSON.
    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        get_json(&self.app, uri).await
    }

    /// Writes an order row as the projector would (`lines` as JSON text).
    pub async fn order(&self, row: OrderRow<'_>) {
        sqlx::query(
            "INSERT INTO read_orders
                 (order_id, user_id, status, reason, lines, version, placed_at, updated_at)
             VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::timestamptz, $8::timestamptz)",
        )
        .bind(row.order_id)
        .bind(row.user_id)
        .bind(row.status)
        .bind(row.reason)
        .bind(row.lines)
        .bind(row.version)
        .bind(row.placed_at)
        .bind(row.updated_at)
        .execute(&self.pool)
        .await
        .expect("insert read_orders row");
    }

    pub async fn sql(&self, sql: &str) {
        sqlx::query(sql)
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// One `read_orders` row; timestamps as PostgreSQL literals.
#[derive(Clone, Copy)]
pub struct OrderRow<'a> {
    pub order_id: &'a str,
    pub user_id: &'a str,
    pub status: &'a str,
    pub reason: Option<&'a str>,
    pub lines: &'a str,
    pub version: i64,
    pub placed_at: &'a str,
    pub updated_at: &'a str,
}

impl Default for OrderRow<'_> {
    fn default() -> Self {
        OrderRow {
            order_id: "o-1",
            user_id: "u-1",
            status: "confirmed",
            reason: None,
            lines: r#"[{"product_id":"p-1","quantity":1}]"#,
            version: 1,
            placed_at: "2025-03-01T10:00:00Z",
            updated_at: "2025-03-01T10:00:00Z",
        }
    }
}

pub async fn get_text(app: &Router, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

pub async fn get_json(app: &Router, uri: &str) -> (StatusCode, Value) {
    let (status, text) = get_text(app, uri).await;
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("GET {uri} ({status}) is not JSON ({e}): {text}"));
    (status, json)
}

/// The `{"error": ...}` body an error answer must have.
pub fn error(text: &str) -> Value {
    serde_json::json!({ "error": text })
}
