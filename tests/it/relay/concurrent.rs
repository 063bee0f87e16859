//! Two relays sharing one outbox, and a crash between publishing and marking.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fulfil::db::Database;
use fulfil::relay::{self, Claim};

use super::in_order;
use super::support::{
    append, assert_payloads_match, order_event, receive, receive_batch, step, stock_event,
    unpublished, versions_by_aggregate,
};
use crate::pipeline::Pipeline;

const AGGREGATES: usize = 30;
const VERSIONS: i64 = 10;

/// Ten rounds, each one transaction with the next version of all thirty aggregates (half
/// orders, half products) in a rotating order, so ids interleave across aggregates.
pub(super) async fn write_rounds(pool: &sqlx::PgPool) -> Vec<uuid::Uuid> {
    let mut ids = Vec::new();
    for version in 1..=VERSIONS {
        let events: Vec<_> = (0..AGGREGATES)
            .map(|i| (i * 7 + version as usize) % AGGREGATES)
            .map(|i| match i % 2 {
                0 => order_event(&format!("a{i:02}"), version),
                _ => stock_event(&format!("a{i:02}"), version),
            })
            .collect();
        ids.extend(events.iter().map(|e| e.event_id));
        append(pool, &events).await;
    }
    ids
}

/// Steps until the writer is done and nothing is unpublished; returns what it published.
async fn relay_loop(
    p: Arc<Pipeline>,
    pool: sqlx::PgPool,
    limit: i64,
    done: Arc<AtomicBool>,
) -> usize {
    let until = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut total = 0;
    loop {
        let s = step(&p, &pool, limit).await;
        total += s.published;
        if s.published == 0 {
            if done.load(Ordering::SeqCst) && unpublished(&pool).await == 0 {
                return total;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "relays did not finish in 120 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn two_relays_publish_300_events_over_30_aggregates_once_each_in_order() {
    let p = Arc::new(Pipeline::new(true).await);
    let write_db = crate::harness::TestDb {
        url: p.settings.write_database_url.clone(),
        name: String::new(),
    };
    let pool = write_db.pool(Database::Write, 12).await;
    let done = Arc::new(AtomicBool::new(false));
    let relays: Vec<_> = [7, 13]
        .into_iter()
        .map(|limit| {
            tokio::spawn(relay_loop(
                Arc::clone(&p),
                pool.clone(),
                limit,
                Arc::clone(&done),
            ))
        })
        .collect();

    let written = write_rounds(&pool).await;
    done.store(true, Ordering::SeqCst);
    let mut published = Vec::new();
    for relay in relays {
        published.push(relay.await.expect("relay task"));
    }

    assert_eq!(
        published.iter().sum::<usize>(),
        300,
        "each published once: {published:?}"
    );
    assert_every_round_arrived_in_order(&p, written).await;
}

/// All ten rounds of all thirty aggregates arrived, each aggregate's versions in order.
pub(super) async fn assert_every_round_arrived_in_order(p: &Pipeline, written: Vec<uuid::Uuid>) {
    let received = receive(p, 300).await;
    let arrived: HashSet<uuid::Uuid> = received.iter().map(|r| r.event.event_id).collect();
    assert_eq!(
        arrived,
        written.into_iter().collect::<HashSet<_>>(),
        "none lost"
    );
    let versions = versions_by_aggregate(&received);
    assert_eq!(versions.len(), AGGREGATES);
    for (aggregate, seen) in versions {
        assert_eq!(
            seen,
            (1..=VERSIONS).collect::<Vec<_>>(),
            "{aggregate} in order"
        );
    }
}

#[tokio::test]
async fn a_crash_between_publish_and_mark_publishes_the_rows_again() {
    let p = Pipeline::new(false).await;
    let events: Vec<_> = (1..=5).map(|v| stock_event("p", v)).collect();
    append(&p.pool, &events).await;

    let claim = Claim::begin(&p.pool, 100).await.expect("claim");
    let published = relay::publish(
        &p.aws.sns,
        &p.provisioned.events_topic_arn,
        false,
        claim.rows(),
    )
    .await;
    assert!(published.error.is_none(), "{:?}", published.error);
    assert_eq!(published.ids.len(), 5);
    claim.abandon().await.expect("roll back: the crash");
    assert_eq!(unpublished(&p.pool).await, 5);
    let again = step(&p, &p.pool, 100).await;

    assert_eq!(again.published, 5);
    assert_eq!(unpublished(&p.pool).await, 0);
    let received = receive(&p, 10).await;
    let mut copies: HashMap<uuid::Uuid, usize> = HashMap::new();
    for r in &received {
        *copies.entry(r.event.event_id).or_default() += 1;
    }
    let expected: HashMap<uuid::Uuid, usize> = events.iter().map(|e| (e.event_id, 2)).collect();
    assert_eq!(copies, expected, "each event twice, with the same event id");
    assert_payloads_match(&p.pool, &received).await;
}

#[tokio::test]
async fn on_fifo_a_republished_event_is_deduplicated_by_its_event_id() {
    let p = Pipeline::new(true).await;
    append(&p.pool, &[stock_event("p", 1), stock_event("p", 2)]).await;

    let claim = Claim::begin(&p.pool, 100).await.expect("claim");
    relay::publish(
        &p.aws.sns,
        &p.provisioned.events_topic_arn,
        true,
        claim.rows(),
    )
    .await;
    claim.abandon().await.expect("roll back: the crash");
    let again = step(&p, &p.pool, 100).await;

    assert_eq!(again.published, 2);
    let received = receive(&p, 2).await;
    assert_eq!(
        versions_by_aggregate(&received),
        in_order(&[("product:p", 2)])
    );
    assert!(
        receive_batch(&p, 2).await.is_empty(),
        "the second copies were dropped"
    );
}
