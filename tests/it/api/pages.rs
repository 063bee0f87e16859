//! A user's orders page by page: newest first, ties broken by order id, each order exactly
//! once, and `next` null on the last page.

use axum::http::StatusCode;
use serde_json::Value;

use super::{OrderRow, TestApi};

/// Writes 45 orders of `u-1` (three per second, so placed_at ties), in an order unrelated
/// to the expected one, plus orders of another user in between; returns the expected ids.
async fn forty_five_orders(api: &TestApi) -> Vec<String> {
    let mut expected: Vec<(String, String)> = Vec::new();
    for i in (0..45).map(|i| (i * 17) % 45) {
        let order_id = format!("o-{i:02}");
        let placed_at = format!("2025-03-01T10:00:{:02}.250Z", i / 3);
        api.order(OrderRow {
            order_id: &order_id,
            placed_at: &placed_at,
            ..OrderRow::default()
        })
        .await;
        let other = format!("other-{i:02}");
        let row = OrderRow {
            order_id: &other,
            user_id: "u-2",
            placed_at: &placed_at,
            ..OrderRow::default()
        };
        api.order(row).await;
        expected.push((placed_at, order_id));
    }
    expected.sort_by(|a, b| b.cmp(a));
    expected.into_iter().map(|(_, id)| id).collect()
}

/// Every page from the first, following `next`; each page's orders ids.
async fn all_pages(api: &TestApi, query: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut uri = format!("/v1/users/u-1/orders?{query}");
    loop {
        let (status, body) = api.get(&uri).await;
        assert_eq!(status, StatusCode::OK, "GET {uri}: {body}");
        pages.push(ids(&body));
        match body["next"].as_str() {
            Some(next) => uri = format!("/v1/users/u-1/orders?{query}&after={next}"),
            None => return pages,
        }
        assert!(pages.len() < 10, "paging does not end: {pages:?}");
    }
}

fn ids(body: &Value) -> Vec<String> {
    let orders = body["orders"].as_array().expect("orders array");
    assert!(orders.iter().all(|o| o["user_id"] == "u-1"), "{body}");
    orders
        .iter()
        .map(|o| o["order_id"].as_str().expect("order_id").to_owned())
        .collect()
}

#[tokio::test]
async fn forty_five_orders_come_in_three_pages_of_at_most_20_newest_first() {
    let api = TestApi::new().await;
    let expected = forty_five_orders(&api).await;

    let pages = all_pages(&api, "limit=20").await;

    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [20, 20, 5]);
    assert_eq!(
        pages.concat(),
        expected,
        "newest first, ties by order_id DESC"
    );
    assert_eq!(&expected[..3], ["o-44", "o-43", "o-42"]);
}

#[tokio::test]
async fn without_a_limit_a_page_holds_20_and_limit_100_holds_them_all() {
    let api = TestApi::new().await;
    let expected = forty_five_orders(&api).await;

    let (_, first) = api.get("/v1/users/u-1/orders").await;
    let (_, all) = api.get("/v1/users/u-1/orders?limit=100").await;

    assert_eq!(ids(&first), expected[..20]);
    assert!(first["next"].is_string(), "{first}");
    assert_eq!(ids(&all), expected);
    assert_eq!(all["next"], Value::Null);
}

#[tokio::test]
async fn exactly_one_full_page_has_no_next_and_an_unknown_user_has_no_orders() {
    let api = TestApi::new().await;
    for i in 0..5 {
        let order_id = format!("o-{i}");
        let row = OrderRow {
            order_id: &order_id,
            ..OrderRow::default()
        };
        api.order(row).await;
    }

    let pages = all_pages(&api, "limit=5").await;
    let (status, nobody) = api.get("/v1/users/nobody/orders").await;

    assert_eq!(pages, [["o-4", "o-3", "o-2", "o-1", "o-0"]]);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(nobody, serde_json::json!({"orders": [], "next": null}));
}
