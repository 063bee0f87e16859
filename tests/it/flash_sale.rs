//! End to end through SNS → SQS → `fulfil worker` processes → PostgreSQL: the seed flash
//! sale, redelivery in every form, invalid input, and workers that are killed, paused,
//! stopped, or lose their Redis data in the middle of it.

use std::time::Duration;

use crate::harness::bodies::{cancel, place, restock};
use crate::pipeline::Pipeline;

pub(crate) const DRAIN: Duration = Duration::from_secs(240);

/// Restocks `stock` units of "bread", waits until it exists, then publishes `buyers`
/// orders of 2 units each; returns the order bodies.
pub(crate) async fn flash_sale(p: &Pipeline, buyers: usize, stock: i64) -> Vec<String> {
    p.publish(&[restock("r-bread", "bread", stock)]).await;
    p.wait_for_count(
        "SELECT count(*) FROM products WHERE product_id = 'bread'",
        1,
        DRAIN,
    )
    .await;
    let orders: Vec<String> = (0..buyers)
        .map(|i| place(&format!("c-{i}"), &format!("o-{i}"), &[("bread", 2)]))
        .collect();
    p.publish(&orders).await;
    orders
}

/// Waits for every order to be decided and the queue to drain, then checks the outcome
/// of a sale of `buyers` × 2 units on `stock`.
pub(crate) async fn assert_sale_outcome(p: &Pipeline, buyers: i64, stock: i64) {
    p.wait_for_count("SELECT count(*) FROM orders", buyers, DRAIN)
        .await;
    p.wait_drained(DRAIN).await;
    let confirmed = stock / 2;
    assert_eq!(
        p.count("SELECT count(*) FROM orders WHERE status = 'confirmed'")
            .await,
        confirmed
    );
    assert_eq!(
        p.count(
            "SELECT count(*) FROM orders WHERE status = 'rejected' AND reason = 'OUT_OF_STOCK'"
        )
        .await,
        buyers - confirmed
    );
    assert_eq!(
        p.count("SELECT available FROM products WHERE product_id = 'bread'")
            .await,
        0
    );
    assert_eq!(
        p.count("SELECT count(*) FROM inbox").await,
        buyers + 1,
        "one inbox row per command"
    );
    p.assert_invariants().await;
}

async fn seed_sale(fifo: bool) {
    let p = Pipeline::new(fifo).await;
    let _workers = [
        p.worker(&[]).await,
        p.worker(&[]).await,
        p.worker(&[]).await,
    ];

    flash_sale(&p, 1000, 1000).await;

    assert_sale_outcome(&p, 1000, 1000).await;
}

#[tokio::test]
async fn the_seed_flash_sale_on_fifo_queues_confirms_500_and_rejects_500_out_of_stock() {
    seed_sale(true).await;
}

#[tokio::test]
async fn the_seed_flash_sale_on_standard_queues_confirms_500_and_rejects_500_out_of_stock() {
    seed_sale(false).await;
}

async fn published_three_times(fifo: bool) {
    let p = Pipeline::new(fifo).await;
    let _worker = p.worker(&[]).await;
    p.publish(&[restock("r-bread", "bread", 100)]).await;
    p.wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;
    let mut commands: Vec<String> = (0..40)
        .map(|i| place(&format!("c-{i}"), &format!("o-{i}"), &[("bread", 2)]))
        .collect();
    commands.extend((0..10).map(|i| cancel(&format!("x-{i}"), &format!("o-{i}"))));

    for _ in 0..3 {
        p.publish(&commands).await;
    }
    p.publish_with_new_dedup_ids(&commands).await;

    p.wait_for_count("SELECT count(*) FROM inbox", 51, DRAIN)
        .await;
    p.wait_drained(DRAIN).await;
    // 40 orders of 2 confirmed, 10 of them cancelled: 100 - 80 + 20
    assert_eq!(p.count("SELECT available FROM products").await, 40);
    assert_eq!(
        p.count("SELECT count(*) FROM orders WHERE status = 'cancelled'")
            .await,
        10
    );
    // Each order has one event when placed, plus one when a confirmed order is cancelled; on
    // standard queues a cancel may arrive first (cancel before place: one event only).
    let cancelled_after_confirm = p
        .count("SELECT count(*) FROM inbox WHERE outcome = 'CANCELLED'")
        .await;
    let order_events = p
        .count("SELECT count(*) FROM outbox WHERE aggregate_type = 'order'")
        .await;
    assert_eq!(order_events, 40 + cancelled_after_confirm);
    p.assert_invariants().await;
}

#[tokio::test]
async fn every_command_published_three_times_and_again_with_a_new_dedup_id_has_one_effect_on_fifo()
{
    published_three_times(true).await;
}

#[tokio::test]
async fn every_command_published_three_times_and_again_has_one_effect_on_standard_queues() {
    published_three_times(false).await;
}

#[tokio::test]
async fn a_command_redelivered_long_after_the_dedup_window_has_no_second_effect() {
    let p = Pipeline::new(true).await;
    let _worker = p.worker(&[]).await;
    let order = place("c-late", "o-late", &[("bread", 3)]);
    p.publish(&[restock("r-bread", "bread", 10)]).await;
    p.wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;
    p.publish(std::slice::from_ref(&order)).await;
    p.wait_for_count("SELECT count(*) FROM orders", 1, DRAIN)
        .await;

    p.send_to_queue(&order).await;
    p.send_to_queue(&restock("r-bread", "bread", 10)).await;

    p.wait_drained(DRAIN).await;
    assert_eq!(p.count("SELECT available FROM products").await, 7);
    assert_eq!(p.count("SELECT count(*) FROM inbox").await, 2);
}

#[tokio::test]
async fn invalid_messages_through_the_queue_are_kept_once_and_never_stop_the_worker() {
    let p = Pipeline::new(true).await;
    let worker = p.worker(&[]).await;
    let invalid = [
        "{not json".to_owned(),
        r#"{"version":2,"command_id":"v2","type":"Restock","product_id":"p","quantity":1}"#
            .to_owned(),
        r#"{"version":1,"command_id":"t","type":"ShipOrder"}"#.to_owned(),
        place("q0", "q0", &[("bread", 0)]),
        place("q1", "q1", &[("bread", -1)]),
        place("q2", "q2", &[("bread", 10001)]),
    ];
    p.publish(&invalid).await;
    p.publish(&[restock("r-bread", "bread", 10), cancel("x-1", "o-1")])
        .await;

    p.wait_for_count("SELECT count(*) FROM inbox", 2, DRAIN)
        .await;
    p.wait_for_count("SELECT count(*) FROM invalid_commands", 6, DRAIN)
        .await;
    p.wait_drained(DRAIN).await;
    let kept: String =
        sqlx::query_scalar("SELECT error FROM invalid_commands WHERE body LIKE '%10001%'")
            .fetch_one(&p.pool)
            .await
            .unwrap();
    assert_eq!(kept, "lines[0].quantity: 10001 is above the maximum 10000");
    assert!(
        worker.log().contains("invalid command kept"),
        "the worker logged the invalid commands"
    );
    assert_eq!(p.count("SELECT available FROM products").await, 10);
}

/// U+0000 is valid JSON text but PostgreSQL cannot store it: stored as U+FFFD (contract
/// clarification 7), the command applies and the next one of its FIFO group follows.
#[tokio::test]
async fn a_nul_in_a_name_or_a_reason_on_fifo_holds_up_nothing_behind_it_in_its_group() {
    let p = Pipeline::new(true).await;
    let _worker = p.worker(&[]).await;
    let named = r#"{"version":1,"command_id":"r1","type":"Restock","product_id":"p","quantity":5,"name":"a\u0000b"}"#;
    let reason =
        r#"{"version":1,"command_id":"x1","type":"CancelOrder","order_id":"o1","reason":"\u0000"}"#;
    // The next command of the product's group, without a name (a name would replace it).
    let unnamed =
        r#"{"version":1,"command_id":"r2","type":"Restock","product_id":"p","quantity":1}"#;
    p.publish(&[named.to_owned(), unnamed.to_owned()]).await;
    p.wait_for_count(
        "SELECT count(*) FROM inbox WHERE command_id IN ('r1', 'r2')",
        2,
        DRAIN,
    )
    .await;
    p.publish(&[
        place("c1", "o1", &[("p", 2)]),
        reason.to_owned(),
        cancel("x2", "o1"),
    ])
    .await;
    p.wait_for_count("SELECT count(*) FROM inbox", 5, DRAIN)
        .await;
    p.wait_drained(DRAIN).await;

    assert_eq!(
        p.count("SELECT count(*) FROM products WHERE name = E'a\\uFFFDb' AND available = 6")
            .await,
        1,
        "both restocks applied, the name stored with U+FFFD"
    );
    assert_eq!(
        p.count("SELECT count(*) FROM orders WHERE status = 'cancelled'")
            .await,
        1,
        "the cancel with a NUL reason applied; the copy after it was decided too"
    );
    p.assert_invariants().await;
}

#[tokio::test]
async fn a_worker_killed_mid_sale_and_restarted_leaves_every_invariant_intact() {
    let p = Pipeline::new(true).await;
    let mut victim = p.worker(&[]).await;
    let _other = p.worker(&[]).await;
    flash_sale(&p, 400, 400).await;
    p.wait_for_count("SELECT least(count(*), 50) FROM orders", 50, DRAIN)
        .await;

    victim.signal("KILL");
    victim
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the process exits");
    let _restarted = p.worker(&[]).await;

    assert_sale_outcome(&p, 400, 400).await;
}

#[tokio::test]
async fn redis_losing_all_our_keys_mid_sale_changes_no_outcome() {
    let p = Pipeline::new(true).await;
    let _workers = [p.worker(&[]).await, p.worker(&[]).await];
    flash_sale(&p, 400, 400).await;
    p.wait_for_count("SELECT least(count(*), 50) FROM orders", 50, DRAIN)
        .await;

    // What FLUSHALL does to this pipeline, without disturbing tests running beside it.
    let mut redis = crate::harness::redis().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", p.key_prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .unwrap();

    assert_sale_outcome(&p, 400, 400).await;
}

#[tokio::test]
async fn a_worker_paused_past_its_lock_lease_cannot_oversell_when_it_resumes() {
    let p = Pipeline::new(true).await;
    let paused = p.worker(&["--lock-lease-ms", "300"]).await;
    let _other = p.worker(&["--lock-lease-ms", "300"]).await;
    flash_sale(&p, 400, 400).await;
    for _ in 0..4 {
        p.wait_for_count("SELECT least(count(*), 1) FROM orders", 1, DRAIN)
            .await;
        paused.signal("STOP");
        tokio::time::sleep(Duration::from_millis(1500)).await; // the pause itself is the fault
        paused.signal("CONT");
    }

    assert_sale_outcome(&p, 400, 400).await;
}

#[tokio::test]
async fn sigterm_during_load_exits_within_30_seconds_and_loses_nothing() {
    let p = Pipeline::new(true).await;
    let mut stopping = p.worker(&[]).await;
    flash_sale(&p, 400, 400).await;
    p.wait_for_count("SELECT least(count(*), 50) FROM orders", 50, DRAIN)
        .await;

    stopping.signal("TERM");
    let status = stopping
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("the process exits");
    assert!(
        status.success(),
        "exit status {status}; log: {}",
        stopping.log()
    );
    let _next = p.worker(&[]).await;

    assert_sale_outcome(&p, 400, 400).await;
}
