//! The Lambda handler fed SQS events built from JSON (as Lambda delivers them), against the
//! real PostgreSQL and Redis: the same outcomes as the worker, partial batch failures, and
//! an outage waited out within the invocation's time instead of failing the batch.

mod emulator;
mod outage;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use fulfil::lambda::handle_sqs_event;
use tokio::time::Instant;

use crate::harness::bodies::{place, restock};
use crate::harness::TestWorker;

/// An invocation's deadline `secs` from now.
fn deadline_in(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

/// A deadline no healthy test batch comes near.
fn plenty() -> Instant {
    deadline_in(300)
}

/// An SQS event of `bodies`, message ids `m-<first + i>`, grouped like the contract says.
fn event(bodies: &[String], first: usize) -> SqsEvent {
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let group = fulfil::contract::Envelope::parse(body).map(|e| e.command.message_group_id().to_owned()).unwrap_or_default();
            serde_json::json!({
                "messageId": format!("m-{}", first + i),
                "receiptHandle": format!("rh-{}", first + i),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000", "MessageGroupId": group},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:fulfil-order-commands.fifo",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("an SQS event")
}

fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn the_seed_flash_sale_in_batches_of_ten_gives_the_workers_outcomes() {
    let w = Arc::new(TestWorker::new().await);
    assert!(failed_ids(
        &handle_sqs_event(
            &w.worker,
            event(&[restock("r", "bread", 1000)], 0),
            true,
            plenty()
        )
        .await
    )
    .is_empty());
    let orders: Vec<String> = (0..1000)
        .map(|i| place(&format!("c{i}"), &format!("o{i}"), &[("bread", 2)]))
        .collect();

    let mut invocations = tokio::task::JoinSet::new();
    for (n, chunk) in orders.chunks(10).enumerate() {
        let (w, sqs_event) = (Arc::clone(&w), event(chunk, n * 10));
        invocations.spawn(async move {
            failed_ids(&handle_sqs_event(&w.worker, sqs_event, true, plenty()).await)
        });
    }
    let failures: Vec<String> = invocations.join_all().await.into_iter().flatten().collect();

    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        w.count("SELECT count(*) FROM orders WHERE status = 'confirmed'")
            .await,
        500
    );
    assert_eq!(
        w.count("SELECT count(*) FROM orders WHERE reason = 'OUT_OF_STOCK'")
            .await,
        500
    );
    assert_eq!(w.available("bread").await, Some(0));
}

#[cfg(feature = "failpoints")]
async fn poisoned_batch(fifo: bool) -> (Vec<String>, TestWorker) {
    let w = TestWorker::new().await;
    handle_sqs_event(
        &w.worker,
        event(&[restock("r", "bread", 100)], 100),
        fifo,
        plenty(),
    )
    .await;
    fail::cfg("worker::poison", "return(c3)").expect("failpoint");
    let orders: Vec<String> = (0..10)
        .map(|i| place(&format!("c{i}"), &format!("o{i}"), &[("bread", 1)]))
        .collect();
    let response = handle_sqs_event(&w.worker, event(&orders, 0), fifo, plenty()).await;
    fail::remove("worker::poison");
    (failed_ids(&response), w)
}

#[cfg(feature = "failpoints")]
#[tokio::test]
async fn on_a_standard_queue_only_the_poisoned_record_is_reported_failed() {
    let (failed, w) = poisoned_batch(false).await;

    assert_eq!(failed, vec!["m-3"]);
    assert_eq!(w.count("SELECT count(*) FROM orders").await, 9);
}

#[cfg(feature = "failpoints")]
#[tokio::test]
async fn on_a_fifo_queue_the_poisoned_record_and_every_later_one_are_reported_failed() {
    let (failed, w) = poisoned_batch(true).await;

    assert_eq!(
        failed,
        (3..10).map(|i| format!("m-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        w.count("SELECT count(*) FROM orders WHERE order_id IN ('o0', 'o1', 'o2')")
            .await,
        3
    );
    assert_eq!(
        w.count("SELECT count(*) FROM orders WHERE order_id = 'o3'")
            .await,
        0
    );
}

#[tokio::test]
async fn the_projector_handler_applies_events_whose_predecessor_has_not_come_and_fails_none() {
    use fulfil::db::Database;
    let (_db, pool) = crate::harness::TestDb::migrated(Database::Read).await;
    let projector = fulfil::projector::Projector::new(pool.clone());
    let log = fulfil::projector::sample::history(3, 1, 1);
    let bodies: Vec<String> = log
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let (first, rest) = bodies.split_at(1);

    let early = failed_ids(&handle_sqs_event(&projector, event(rest, 1), false, plenty()).await);
    let late = failed_ids(&handle_sqs_event(&projector, event(first, 0), false, plenty()).await);
    let redelivered =
        failed_ids(&handle_sqs_event(&projector, event(rest, 1), false, plenty()).await);

    assert!(
        early.is_empty() && late.is_empty() && redelivered.is_empty(),
        "{early:?} {late:?} {redelivered:?}"
    );
    let applied: i64 = sqlx::query_scalar("SELECT events_applied FROM projection_state")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        applied,
        log.len() as i64 - 1,
        "the first event came after a newer version of its product"
    );
}
