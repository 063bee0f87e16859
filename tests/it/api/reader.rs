//! The API's own database role (migration `0003_api_reader`): a login that is a member of
//! `fulfil_api_reader` serves every view, and cannot change a thing.

use axum::http::StatusCode;
use fulfil::api::ApiLimits;
use fulfil::ops::Readiness;

use super::{get_json, OrderRow, TestApi};
use crate::harness::{self, TestDb};

#[tokio::test]
async fn a_login_in_the_api_reader_role_serves_every_view_and_writes_nothing() {
    let api = TestApi::new().await;
    api.order(OrderRow::default()).await;
    let login = harness::unique("api_reader").replace('-', "_");
    api.sql(&format!(
        "CREATE ROLE {login} LOGIN IN ROLE fulfil_api_reader"
    ))
    .await;
    let mut url = url::Url::parse(api.db.url.expose()).expect("url");
    url.set_username(&login).expect("a user name");
    let reader = TestDb::pool_for(
        &fulfil::config::validate_postgres_url("test", url.as_str()).expect("url"),
    )
    .await;
    let app = fulfil::api::router(reader.clone(), Readiness::default(), ApiLimits::default());

    for (uri, expected) in [
        ("/v1/orders/o-1", StatusCode::OK),
        ("/v1/users/u-1/orders", StatusCode::OK),
        ("/v1/products/none", StatusCode::NOT_FOUND),
        ("/v1/stats", StatusCode::OK),
    ] {
        let (status, body) = get_json(&app, uri).await;
        assert_eq!(status, expected, "GET {uri} as {login}: {body}");
    }
    let write = sqlx::query("UPDATE read_orders SET status = 'rejected'")
        .execute(&reader)
        .await;
    let refused = write.expect_err("the reader wrote");
    let code = refused.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("42501"), "insufficient_privilege");

    reader.close().await;
    api.sql(&format!("DROP ROLE {login}")).await;
}
