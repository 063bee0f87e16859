//! Invalid input of every kind the contract names (too large, not JSON, not an object, every
//! field missing, of the wrong type, below its minimum, above its maximum, off its pattern,
//! a product twice in one order, a bad date), mixed with valid commands: each is kept once
//! with its exact body and an error naming the right field, none is retried or reaches the
//! DLQ, and the valid commands around them are applied as if the junk were not there.

use super::{assert_clean, Run, DRAIN};
use crate::harness::bodies::{cancel, place, restock};

/// A command body with `fields` (raw JSON members) after the version and command id.
fn body(id: &str, fields: &str) -> String {
    format!(r#"{{"version":1,"command_id":"{id}",{fields}}}"#)
}

fn restock_with(id: &str, fields: &str) -> String {
    body(id, &format!(r#""type":"Restock",{fields}"#))
}

fn place_with(id: &str, lines: &str) -> String {
    body(
        id,
        &format!(r#""type":"PlaceOrder","order_id":"o-{id}","user_id":"u","lines":{lines}"#),
    )
}

/// (body, the field its error names, the error code), one per kind of mistake.
fn invalid() -> Vec<(String, &'static str, &'static str)> {
    let many_lines: Vec<String> = (0..51)
        .map(|i| format!(r#"{{"product_id":"p-{i}","quantity":1}}"#))
        .collect();
    let s = |text: &str| text.to_owned();
    vec![
        (
            restock_with(
                "big",
                &format!(
                    r#""product_id":"p","quantity":1,"pad":"{}""#,
                    "x".repeat(66_000)
                ),
            ),
            "body",
            "TOO_LARGE",
        ),
        (s("{not json"), "body", "MALFORMED_JSON"),
        (s("[1,2,3]"), "body", "SCHEMA_VIOLATION"),
        (s(r#""a string""#), "body", "SCHEMA_VIOLATION"),
        (s("null"), "body", "SCHEMA_VIOLATION"),
        (s("{}"), "version", "SCHEMA_VIOLATION"),
        (
            s(r#"{"version":2,"command_id":"v2","type":"Restock","product_id":"p","quantity":1}"#),
            "version",
            "UNSUPPORTED_VERSION",
        ),
        (
            s(
                r#"{"version":"1","command_id":"v1s","type":"Restock","product_id":"p","quantity":1}"#,
            ),
            "version",
            "UNSUPPORTED_VERSION",
        ),
        (
            s(r#"{"version":1,"type":"Restock","product_id":"p","quantity":1}"#),
            "command_id",
            "SCHEMA_VIOLATION",
        ),
        (
            body("", r#""type":"Restock","product_id":"p","quantity":1"#),
            "command_id",
            "SCHEMA_VIOLATION",
        ),
        (
            body(
                "has space",
                r#""type":"Restock","product_id":"p","quantity":1"#,
            ),
            "command_id",
            "SCHEMA_VIOLATION",
        ),
        (
            body(
                &"c".repeat(129),
                r#""type":"Restock","product_id":"p","quantity":1"#,
            ),
            "command_id",
            "SCHEMA_VIOLATION",
        ),
        (
            s(r#"{"version":1,"command_id":42,"type":"Restock","product_id":"p","quantity":1}"#),
            "command_id",
            "SCHEMA_VIOLATION",
        ),
        (
            body("no-type", r#""product_id":"p","quantity":1"#),
            "type",
            "SCHEMA_VIOLATION",
        ),
        (
            body("ship", r#""type":"ShipOrder""#),
            "type",
            "UNKNOWN_TYPE",
        ),
        (body("type-7", r#""type":7"#), "type", "UNKNOWN_TYPE"),
        (
            restock_with("r-no-product", r#""quantity":1"#),
            "product_id",
            "SCHEMA_VIOLATION",
        ),
        (
            restock_with("r-zero", r#""product_id":"p","quantity":0"#),
            "quantity",
            "SCHEMA_VIOLATION",
        ),
        (
            restock_with("r-neg", r#""product_id":"p","quantity":-5"#),
            "quantity",
            "SCHEMA_VIOLATION",
        ),
        (
            restock_with("r-huge", r#""product_id":"p","quantity":1000000001"#),
            "quantity",
            "SCHEMA_VIOLATION",
        ),
        (
            restock_with("r-frac", r#""product_id":"p","quantity":1.5"#),
            "quantity",
            "SCHEMA_VIOLATION",
        ),
        (
            restock_with("r-text", r#""product_id":"p","quantity":"5""#),
            "quantity",
            "SCHEMA_VIOLATION",
        ),
        (
            restock_with(
                "r-long-name",
                &format!(
                    r#""product_id":"p","quantity":1,"name":"{}""#,
                    "n".repeat(201)
                ),
            ),
            "name",
            "SCHEMA_VIOLATION",
        ),
        (
            restock_with("r-name-5", r#""product_id":"p","quantity":1,"name":5"#),
            "name",
            "SCHEMA_VIOLATION",
        ),
        (
            body(
                "p-no-order",
                r#""type":"PlaceOrder","user_id":"u","lines":[{"product_id":"p","quantity":1}]"#,
            ),
            "order_id",
            "SCHEMA_VIOLATION",
        ),
        (
            body(
                "p-no-user",
                r#""type":"PlaceOrder","order_id":"o","lines":[{"product_id":"p","quantity":1}]"#,
            ),
            "user_id",
            "SCHEMA_VIOLATION",
        ),
        (
            body(
                "p-no-lines",
                r#""type":"PlaceOrder","order_id":"o","user_id":"u""#,
            ),
            "lines",
            "SCHEMA_VIOLATION",
        ),
        (place_with("p-empty", "[]"), "lines", "SCHEMA_VIOLATION"),
        (place_with("p-object", "{}"), "lines", "SCHEMA_VIOLATION"),
        (
            place_with("p-51", &format!("[{}]", many_lines.join(","))),
            "lines",
            "SCHEMA_VIOLATION",
        ),
        (
            place_with("p-line-5", "[5]"),
            "lines[0]",
            "SCHEMA_VIOLATION",
        ),
        (
            place_with("p-line-no-product", r#"[{"quantity":1}]"#),
            "lines[0].product_id",
            "SCHEMA_VIOLATION",
        ),
        (
            place_with(
                "p-twice",
                r#"[{"product_id":"p","quantity":1},{"product_id":"p","quantity":2}]"#,
            ),
            "lines[1].product_id",
            "SCHEMA_VIOLATION",
        ),
        (
            place_with("p-q0", r#"[{"product_id":"p","quantity":0}]"#),
            "lines[0].quantity",
            "SCHEMA_VIOLATION",
        ),
        (
            place_with("p-q-big", r#"[{"product_id":"p","quantity":10001}]"#),
            "lines[0].quantity",
            "SCHEMA_VIOLATION",
        ),
        (
            body("x-no-order", r#""type":"CancelOrder""#),
            "order_id",
            "SCHEMA_VIOLATION",
        ),
        (
            body(
                "x-long",
                &format!(
                    r#""type":"CancelOrder","order_id":"o","reason":"{}""#,
                    "r".repeat(501)
                ),
            ),
            "reason",
            "SCHEMA_VIOLATION",
        ),
        (
            body(
                "x-reason-5",
                r#""type":"CancelOrder","order_id":"o","reason":5"#,
            ),
            "reason",
            "SCHEMA_VIOLATION",
        ),
        (
            body(
                "x-when",
                r#""type":"CancelOrder","order_id":"o","issued_at":"yesterday""#,
            ),
            "issued_at",
            "SCHEMA_VIOLATION",
        ),
    ]
}

#[tokio::test]
async fn invalid_input_of_every_kind_is_kept_once_with_its_field_and_the_rest_flows() {
    let mut run = Run::new(true, 10).await;
    run.start_read_side().await;
    let _worker = run.p.worker(&[]).await;
    let invalid = invalid();
    let valid = [
        restock("r-ok", "p", 10),
        place("c-ok", "o-ok", &[("p", 3)]),
        body(
            "c-extra",
            r#""type":"CancelOrder","order_id":"o-ok","unknown_field":true"#,
        ),
        cancel("x-never-placed", "o-never"),
    ];
    let mut bodies: Vec<String> = invalid.iter().map(|(b, _, _)| b.clone()).collect();
    bodies.insert(bodies.len() / 2, valid[0].clone());
    run.publish(&bodies).await;
    run.p
        .wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;
    run.publish(&valid[1..]).await;

    let report = run.finish().await;
    assert_clean(&report);
    assert_eq!(
        (report.invalid, report.applied, report.in_dlq),
        (invalid.len(), valid.len(), 0)
    );
    for (body, field, code) in &invalid {
        let kept: Vec<(Option<String>, String)> =
            sqlx::query_as("SELECT field, error_code FROM invalid_commands WHERE body = $1")
                .bind(body)
                .fetch_all(&run.p.pool)
                .await
                .expect("kept invalid commands");
        let shown: String = body.chars().take(60).collect();
        assert_eq!(
            kept,
            vec![(Some(field.to_string()), code.to_string())],
            "{shown}"
        );
    }
    assert_eq!(run.p.count("SELECT available FROM products").await, 10);
    assert_eq!(
        run.p
            .count("SELECT count(*) FROM orders WHERE status = 'cancelled'")
            .await,
        1,
        "the cancel with an unknown extra field was applied"
    );
}
