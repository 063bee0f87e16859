//! The batch path against the real PostgreSQL and Redis: exactly-once effects, the
//! contract's outcomes, invalid input kept, and no oversell under contention or when Redis
//! loses its data.

use std::sync::Arc;

use fulfil::worker::Recorded;

use crate::harness::bodies::{cancel, place, restock};
use crate::harness::TestWorker;

fn decided(outcome: &str) -> Recorded {
    Recorded::Decided {
        outcome: outcome.into(),
        reason: None,
    }
}

fn rejected(reason: &str) -> Recorded {
    Recorded::Decided {
        outcome: "REJECTED".into(),
        reason: Some(reason.into()),
    }
}

#[tokio::test]
async fn a_batch_takes_stock_in_arrival_order_and_rejects_what_no_longer_fits() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r1", "p", 10)]).await;
    let orders: Vec<String> = (0..6)
        .map(|i| place(&format!("c{i}"), &format!("o{i}"), &[("p", 2)]))
        .collect();

    let records = w.batch(&orders).await;

    let mut expected = vec![decided("CONFIRMED"); 5];
    expected.push(rejected("OUT_OF_STOCK"));
    assert_eq!(records, expected);
    assert_eq!(w.available("p").await, Some(0));
    assert_eq!(w.count("SELECT count(*) FROM inbox").await, 7);
    // one StockChanged for the restock batch, one for the coalesced order batch, 6 order events
    assert_eq!(
        w.count("SELECT count(*) FROM outbox WHERE aggregate_type = 'product'")
            .await,
        2
    );
    assert_eq!(
        w.count("SELECT count(*) FROM outbox WHERE aggregate_type = 'order'")
            .await,
        6
    );
    assert_eq!(
        w.count("SELECT version FROM products WHERE product_id = 'p'")
            .await,
        2
    );
}

#[tokio::test]
async fn the_same_batch_delivered_again_has_no_second_effect() {
    let w = TestWorker::new().await;
    let batch = vec![
        restock("r1", "p", 5),
        place("c1", "o1", &[("p", 2)]),
        cancel("c2", "o1"),
    ];
    w.batch(&batch).await;
    let events = w.count("SELECT count(*) FROM outbox").await;

    let again = w.batch(&batch).await;

    assert_eq!(again, vec![Recorded::Duplicate; 3]);
    assert_eq!(w.available("p").await, Some(5));
    assert_eq!(w.count("SELECT count(*) FROM outbox").await, events);
    assert_eq!(w.count("SELECT count(*) FROM inbox").await, 3);
}

#[tokio::test]
async fn the_same_command_twice_in_one_batch_counts_once() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r1", "p", 5)]).await;
    let order = place("c1", "o1", &[("p", 2)]);

    let records = w.batch(&[order.clone(), order]).await;

    assert_eq!(records, vec![decided("CONFIRMED"), Recorded::Duplicate]);
    assert_eq!(w.available("p").await, Some(3));
}

#[tokio::test]
async fn a_known_command_id_with_another_body_is_kept_as_a_conflict_with_no_effect() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r1", "p", 5), place("c1", "o1", &[("p", 2)])])
        .await;

    let records = w.batch(&[place("c1", "o1", &[("p", 3)])]).await;

    assert_eq!(records, vec![Recorded::Conflict]);
    assert_eq!(w.available("p").await, Some(3));
    assert_eq!(
        w.count("SELECT count(*) FROM conflicting_commands WHERE command_id = 'c1'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_second_order_with_the_same_order_id_has_no_effect() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r1", "p", 5), place("c1", "o1", &[("p", 2)])])
        .await;

    let records = w.batch(&[place("c2", "o1", &[("p", 1)])]).await;

    assert_eq!(
        records,
        vec![Recorded::Decided {
            outcome: "DUPLICATE_ORDER".into(),
            reason: Some("DUPLICATE_ORDER".into())
        }]
    );
    assert_eq!(w.available("p").await, Some(3));
    assert_eq!(w.count("SELECT count(*) FROM orders").await, 1);
}

#[tokio::test]
async fn a_cancel_before_its_order_makes_the_order_cancelled_without_taking_stock() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r1", "p", 5)]).await;
    assert_eq!(
        w.batch(&[cancel("c1", "o1")]).await,
        vec![decided("CANCEL_REMEMBERED")]
    );

    let records = w.batch(&[place("c2", "o1", &[("p", 2)])]).await;

    assert_eq!(records, vec![decided("CANCELLED_BEFORE_PLACE")]);
    assert_eq!(w.available("p").await, Some(5));
    assert_eq!(
        w.count("SELECT count(*) FROM orders WHERE status = 'cancelled'")
            .await,
        1
    );
    assert_eq!(w.count("SELECT count(*) FROM pending_cancels").await, 0);
}

#[tokio::test]
async fn cancelling_a_confirmed_order_in_a_later_batch_gives_its_stock_back() {
    let w = TestWorker::new().await;
    w.batch(&[
        restock("r1", "p", 5),
        restock("r2", "q", 5),
        place("c1", "o1", &[("p", 2), ("q", 1)]),
    ])
    .await;

    let records = w.batch(&[cancel("c2", "o1")]).await;

    assert_eq!(records, vec![decided("CANCELLED")]);
    assert_eq!(
        (w.available("p").await, w.available("q").await),
        (Some(5), Some(5))
    );
    assert_eq!(
        w.count("SELECT cancelled FROM products WHERE product_id = 'p'")
            .await,
        2
    );
}

#[tokio::test]
async fn an_order_with_one_unknown_product_takes_nothing() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r1", "p", 5)]).await;

    let records = w
        .batch(&[place("c1", "o1", &[("p", 2), ("nope", 1)])])
        .await;

    assert_eq!(records, vec![rejected("UNKNOWN_PRODUCT")]);
    assert_eq!(w.available("p").await, Some(5));
    assert_eq!(w.available("nope").await, None);
}

#[tokio::test]
async fn every_kind_of_invalid_message_is_kept_once_with_its_field_and_value() {
    let w = TestWorker::new().await;
    let lines51: Vec<String> = (0..51)
        .map(|i| format!(r#"{{"product_id":"p{i}","quantity":1}}"#))
        .collect();
    let cases = [
        ("{not json", "body: not valid JSON"),
        (
            r#"{"version":2,"command_id":"c","type":"Restock","product_id":"p","quantity":1}"#,
            "version: 2",
        ),
        (
            r#"{"version":1,"command_id":"c","type":"ShipOrder"}"#,
            "type: \"ShipOrder\"",
        ),
        (
            r#"{"version":1,"command_id":"c","type":"PlaceOrder","order_id":"o","user_id":"u","lines":[{"product_id":"p","quantity":0}]}"#,
            "lines[0].quantity: 0",
        ),
        (
            r#"{"version":1,"command_id":"c","type":"PlaceOrder","order_id":"o","user_id":"u","lines":[{"product_id":"p","quantity":-1}]}"#,
            "lines[0].quantity: -1",
        ),
        (
            r#"{"version":1,"command_id":"c","type":"PlaceOrder","order_id":"o","user_id":"u","lines":[{"product_id":"p","quantity":10001}]}"#,
            "lines[0].quantity: 10001",
        ),
        (
            r#"{"version":1,"command_id":"c","type":"PlaceOrder","order_id":"o","user_id":"u","lines":[{"product_id":"p","quantity":"5"}]}"#,
            "lines[0].quantity: expected",
        ),
        (
            r#"{"version":1,"command_id":"c","type":"PlaceOrder","order_id":"o","user_id":"u","lines":[{"product_id":"p","quantity":1},{"product_id":"p","quantity":1}]}"#,
            "lines[1].product_id: \"p\"",
        ),
    ];
    let mut bodies: Vec<String> = cases.iter().map(|(body, _)| (*body).to_owned()).collect();
    bodies.push(format!(r#"{{"version":1,"command_id":"c","type":"PlaceOrder","order_id":"o","user_id":"u","lines":[{}]}}"#, lines51.join(",")));

    let records = w.batch(&bodies).await;

    for (record, (body, expected)) in records.iter().zip(&cases) {
        let Recorded::Invalid { error } = record else {
            panic!("{body} was not invalid: {record:?}")
        };
        assert!(
            error.starts_with(expected),
            "{body}: error {error:?} does not start with {expected:?}"
        );
    }
    assert!(
        matches!(&records[8], Recorded::Invalid { error } if error.starts_with("lines: 51 items")),
        "{:?}",
        records[8]
    );
    assert_eq!(w.count("SELECT count(*) FROM invalid_commands").await, 9);
    let kept: String =
        sqlx::query_scalar("SELECT body FROM invalid_commands WHERE body LIKE '{not%'")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(kept, "{not json");
    assert_eq!(w.count("SELECT count(*) FROM inbox").await, 0);
}

#[tokio::test]
async fn sixteen_concurrent_batches_on_one_hot_product_never_oversell() {
    let w = Arc::new(TestWorker::new().await);
    w.batch(&[restock("r1", "hot", 100)]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..16 {
        let w = Arc::clone(&w);
        tasks.spawn(async move {
            let mut confirmed = 0;
            for b in 0..2 {
                let batch: Vec<String> = (0..10)
                    .map(|i| {
                        place(
                            &format!("c{t}-{b}-{i}"),
                            &format!("o{t}-{b}-{i}"),
                            &[("hot", 1)],
                        )
                    })
                    .collect();
                confirmed += w
                    .batch(&batch)
                    .await
                    .iter()
                    .filter(|f| **f == decided("CONFIRMED"))
                    .count();
            }
            confirmed
        });
    }
    let confirmed: usize = tasks.join_all().await.into_iter().sum();

    assert_eq!(confirmed, 100);
    assert_eq!(w.available("hot").await, Some(0));
    assert_eq!(
        w.count(
            "SELECT count(*) FROM orders WHERE status = 'rejected' AND reason = 'OUT_OF_STOCK'"
        )
        .await,
        220
    );
}

#[tokio::test]
async fn after_redis_loses_its_data_fences_are_reseeded_and_stock_stays_exact() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r1", "p", 10)]).await;
    for i in 0..3 {
        w.batch(&[place(&format!("a{i}"), &format!("a{i}"), &[("p", 1)])])
            .await;
    }

    w.flush_redis().await;
    let records = w.batch(&[place("b1", "b1", &[("p", 2)])]).await;

    assert_eq!(records, vec![decided("CONFIRMED")]);
    assert_eq!(w.available("p").await, Some(5));
    let fence = w
        .count("SELECT fence FROM products WHERE product_id = 'p'")
        .await;
    assert!(fence >= 5, "the fence kept rising after the flush: {fence}");
}

#[tokio::test]
async fn a_stale_cache_entry_is_caught_by_the_version_check_and_re_read() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r1", "p", 10)]).await;
    // The cache says version 1 with 10 available; the database moves on behind its back.
    sqlx::query("UPDATE products SET available = 4, confirmed = 6, version = version + 1 WHERE product_id = 'p'")
        .execute(&w.pool)
        .await
        .unwrap();

    let records = w
        .batch(&[
            place("c1", "o1", &[("p", 5)]),
            place("c2", "o2", &[("p", 4)]),
        ])
        .await;

    assert_eq!(
        records,
        vec![rejected("OUT_OF_STOCK"), decided("CONFIRMED")]
    );
    assert_eq!(w.available("p").await, Some(0));
}

#[tokio::test]
async fn a_stale_lock_holders_write_is_refused_by_the_fence_even_at_the_right_version() {
    use fulfil::domain::Product;
    use fulfil::store::{products, StoreError};
    let w = TestWorker::new().await;
    w.batch(&[restock("r1", "p", 10)]).await;
    w.batch(&[place("c1", "o1", &[("p", 1)])]).await;
    let (version, fence) = (
        w.count("SELECT version FROM products").await,
        w.count("SELECT fence FROM products").await,
    );
    let sold_out = Product {
        name: None,
        available: 0,
        restocked: 10,
        confirmed: 10,
        cancelled: 0,
    };
    let write = |fence| products::ProductWrite {
        product_id: "p".into(),
        product: sold_out.clone(),
        read_version: Some(version),
        fence,
        changed: true,
    };

    // An older token than the row's: its lease ran out and a newer holder wrote since. (The
    // row's own token may write again: that is a lease kept across units.)
    let mut tx = w.pool.begin().await.unwrap();
    let refused = crate::harness::write_changes(&mut tx, &[write(fence - 1)], &[]).await;
    drop(tx);

    assert!(
        matches!(refused, Err(StoreError::Stale { ref product_id }) if product_id == "p"),
        "{refused:?}"
    );
    let mut tx = w.pool.begin().await.unwrap();
    crate::harness::write_changes(&mut tx, &[write(fence + 1)], &[])
        .await
        .expect("a newer token at the right version writes");
    drop(tx);
    assert_eq!(w.available("p").await, Some(9), "nothing was committed");
}

#[tokio::test]
async fn a_nul_in_a_name_or_a_reason_is_applied_not_a_poison() {
    let w = TestWorker::new().await;
    let named = r#"{"version":1,"command_id":"r1","type":"Restock","product_id":"p","quantity":5,"name":"a\u0000b"}"#;
    let cancel =
        r#"{"version":1,"command_id":"c2","type":"CancelOrder","order_id":"o1","reason":"\u0000"}"#;

    let records = w
        .batch(&[
            named.to_owned(),
            place("c1", "o1", &[("p", 2)]),
            cancel.to_owned(),
        ])
        .await;

    assert_eq!(
        records,
        vec![
            decided("RESTOCKED"),
            decided("CONFIRMED"),
            decided("CANCELLED")
        ]
    );
    let name: String = sqlx::query_scalar("SELECT name FROM products")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(name, "a\u{FFFD}b");
    assert_eq!(w.available("p").await, Some(5));
}
