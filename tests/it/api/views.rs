//! One order, one product, the totals: exact JSON for what exists, 404 for what does not,
//! 400 naming the parameter for what cannot be an id.

use axum::http::StatusCode;
use serde_json::json;

use super::{error, OrderRow, TestApi};

#[tokio::test]
async fn an_order_is_shown_with_its_lines_status_and_version() {
    let api = TestApi::new().await;
    api.order(OrderRow {
        order_id: "o-1",
        user_id: "u-7",
        lines: r#"[{"product_id":"p-1","quantity":2},{"product_id":"p-2","quantity":1}]"#,
        version: 2,
        placed_at: "2025-03-01T10:00:00.123456Z",
        updated_at: "2025-03-01T10:00:01.5Z",
        ..OrderRow::default()
    })
    .await;

    let (status, body) = api.get("/v1/orders/o-1").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "order_id": "o-1",
            "user_id": "u-7",
            "status": "confirmed",
            "reason": null,
            "lines": [{"product_id": "p-1", "quantity": 2}, {"product_id": "p-2", "quantity": 1}],
            "version": 2,
            "updated_at": "2025-03-01T10:00:01.500Z"
        })
    );
}

#[tokio::test]
async fn a_rejected_order_carries_its_reason() {
    let api = TestApi::new().await;
    api.order(OrderRow {
        order_id: "o:rej_1",
        status: "rejected",
        reason: Some("INSUFFICIENT_STOCK"),
        ..OrderRow::default()
    })
    .await;

    let (status, body) = api.get("/v1/orders/o:rej_1").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["reason"], "INSUFFICIENT_STOCK");
}

#[tokio::test]
async fn a_product_is_shown_with_its_stock_and_totals() {
    let api = TestApi::new().await;
    api.sql(
        "INSERT INTO read_products VALUES
             ('bread', 'Bread', 7, 3, 1, 4, '2025-03-01T10:00:02Z'),
             ('nameless', NULL, 0, 0, 0, 1, '2025-03-01T10:00:03Z')",
    )
    .await;

    let (status, body) = api.get("/v1/products/bread").await;
    let (_, nameless) = api.get("/v1/products/nameless").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "product_id": "bread",
            "name": "Bread",
            "available": 7,
            "confirmed_units": 3,
            "cancelled_units": 1,
            "version": 4,
            "updated_at": "2025-03-01T10:00:02Z"
        })
    );
    assert_eq!(nameless["name"], json!(null));
}

#[tokio::test]
async fn an_unknown_order_or_product_is_a_404_naming_it() {
    let api = TestApi::new().await;

    let order = api.get("/v1/orders/o-9").await;
    let product = api.get("/v1/products/p-9").await;
    let route = api.get("/v1/nothing").await;

    assert_eq!(
        order,
        (StatusCode::NOT_FOUND, error(r#"order "o-9" not found"#))
    );
    assert_eq!(
        product,
        (StatusCode::NOT_FOUND, error(r#"product "p-9" not found"#))
    );
    assert_eq!(
        route,
        (StatusCode::NOT_FOUND, error("no route GET /v1/nothing"))
    );
}

#[tokio::test]
async fn an_id_outside_the_contract_pattern_is_a_400_naming_the_parameter() {
    let api = TestApi::new().await;
    let pattern = "does not match ^[A-Za-z0-9_.:-]{1,64}$";
    let long = "x".repeat(65);

    let cases = [
        ("/v1/orders/bad%20id!".to_owned(), "order_id", "bad id!"),
        ("/v1/products/p%2F1".to_owned(), "product_id", "p/1"),
        ("/v1/users/%C3%A9/orders".to_owned(), "user_id", "é"),
        (format!("/v1/orders/{long}"), "order_id", long.as_str()),
    ];
    for (uri, param, value) in cases {
        let answer = api.get(&uri).await;
        let expected = error(&format!("{param}: {value:?} {pattern}"));
        assert_eq!(answer, (StatusCode::BAD_REQUEST, expected), "GET {uri}");
    }
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_a_400_naming_the_parameter_and_value() {
    let api = TestApi::new().await;
    let limit = "must be an integer from 1 to 100";

    for value in ["0", "101", "-3", "twenty", ""] {
        let answer = api
            .get(&format!("/v1/users/u-1/orders?limit={value}"))
            .await;
        let expected = error(&format!("limit: {value:?} {limit}"));
        assert_eq!(answer, (StatusCode::BAD_REQUEST, expected), "limit={value}");
    }
    let (status, body) = api.get("/v1/users/u-1/orders?after=zzz").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        error(r#"after: "zzz" is not a cursor from a previous page's "next""#)
    );
}
