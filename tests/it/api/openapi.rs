//! The OpenAPI document the API serves, checked against real answers: every documented
//! path is asked, with data in the read database, and each body must match the schema the
//! document gives for its path and status, with no field the document does not name.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{OrderRow, TestApi};

/// Each documented path as a template, the request that exercises it, and the status.
const REQUESTS: [(&str, &str, u16); 10] = [
    ("/v1/orders/{order_id}", "/v1/orders/o-1", 200),
    ("/v1/orders/{order_id}", "/v1/orders/o-unknown", 404),
    ("/v1/orders/{order_id}", "/v1/orders/bad%20id", 400),
    (
        "/v1/users/{user_id}/orders",
        "/v1/users/u-1/orders?limit=1",
        200,
    ),
    (
        "/v1/users/{user_id}/orders",
        "/v1/users/u-1/orders?limit=2",
        200,
    ),
    (
        "/v1/users/{user_id}/orders",
        "/v1/users/u-1/orders?limit=0",
        400,
    ),
    ("/v1/products/{product_id}", "/v1/products/bread", 200),
    ("/v1/products/{product_id}", "/v1/products/nameless", 200),
    ("/v1/products/{product_id}", "/v1/products/none", 404),
    ("/v1/stats", "/v1/stats", 200),
];

async fn seeded() -> TestApi {
    let api = TestApi::new().await;
    api.order(OrderRow::default()).await;
    let rejected = OrderRow {
        order_id: "o-2",
        status: "rejected",
        reason: Some("OUT_OF_STOCK"),
        placed_at: "2025-03-01T10:00:01Z",
        ..OrderRow::default()
    };
    api.order(rejected).await;
    api.sql(
        "INSERT INTO read_products VALUES
             ('bread', 'Bread', 7, 3, 1, 4, '2025-03-01T10:00:02Z'),
             ('nameless', NULL, 0, 0, 0, 1, '2025-03-01T10:00:03Z')",
    )
    .await;
    api.sql(
        "UPDATE projection_state
         SET events_applied = 9, last_occurred_at = '2025-03-01T10:00:03Z'",
    )
    .await;
    api
}

#[tokio::test]
async fn every_answer_matches_the_served_openapi_document() {
    let api = seeded().await;
    let (status, document) = api.get("/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK, "{document}");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{document}"
    );

    for (template, uri, expected) in REQUESTS {
        let (status, body) = api.get(uri).await;
        assert_eq!(status.as_u16(), expected, "GET {uri}: {body}");
        let schema = response_schema(&document, template, expected);
        let validator = jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{template} {expected}: not a schema ({e}): {schema}"));
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "GET {uri} ({expected}): {errors:?}\nbody: {body}"
        );
    }

    let documented: BTreeSet<&str> = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(String::as_str)
        .collect();
    let asked: BTreeSet<&str> = REQUESTS.iter().map(|(t, _, _)| *t).collect();
    assert_eq!(
        documented, asked,
        "every documented path is asked, and only those"
    );
}

#[tokio::test]
async fn an_answer_with_a_field_the_document_does_not_name_fails_the_check() {
    let api = seeded().await;
    let (_, document) = api.get("/v1/openapi.json").await;
    let (_, mut body) = api.get("/v1/products/bread").await;
    body["surprise"] = json!(1);

    let schema = response_schema(&document, "/v1/products/{product_id}", 200);
    let validator = jsonschema::validator_for(&schema).expect("a schema");
    assert!(
        !validator.is_valid(&body),
        "an undocumented field must fail the check"
    );
}

/// The schema `document` gives for `template`'s GET answer with `status`, as a standalone
/// JSON Schema: references resolve against the document's components, and every object
/// is closed (no field beyond those named).
fn response_schema(document: &Value, template: &str, status: u16) -> Value {
    let response = &document["paths"][template]["get"]["responses"][status.to_string()];
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{template}: no schema for {status} in {response}"
    );
    let mut components = document["components"].clone();
    close_objects(&mut components);
    let mut standalone = schema.clone();
    close_objects(&mut standalone);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [standalone],
        "components": components,
    })
}

fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}
