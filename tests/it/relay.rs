//! The relay against the real PostgreSQL and LocalStack: every outbox row published once and
//! marked, byte for byte, per aggregate in version order, also when rows commit out of id
//! order or an earlier row is held by another relay, on FIFO and standard topics. Two relays
//! at once and crashes are in `concurrent`, the `fulfil relay` process in `process`.

mod concurrent;
mod outage;
mod process;
mod support;

use std::collections::{BTreeMap, HashSet};

use fulfil::relay::wakeup::CHANNEL;
use fulfil::relay::{Claim, CLAIM};

use crate::pipeline::Pipeline;
use support::{
    append, assert_payloads_match, order_event, receive, receive_batch, step, stock_event,
    unpublished, versions_by_aggregate,
};

/// Product "x" v1–3, order "x" v1–2 (the same id: a different aggregate) and product "y"
/// v1–4, interleaved over several transactions.
async fn nine_events(p: &Pipeline) {
    append(&p.pool, &[stock_event("x", 1), order_event("x", 1)]).await;
    append(&p.pool, &[stock_event("y", 1), stock_event("x", 2)]).await;
    append(&p.pool, &[stock_event("y", 2), order_event("x", 2)]).await;
    append(&p.pool, &[stock_event("y", 3), stock_event("x", 3)]).await;
    append(&p.pool, &[stock_event("y", 4)]).await;
}

pub(super) fn in_order(versions: &[(&str, i64)]) -> BTreeMap<String, Vec<i64>> {
    versions
        .iter()
        .map(|(aggregate, last)| (aggregate.to_string(), (1..=*last).collect()))
        .collect()
}

#[tokio::test]
async fn a_step_publishes_every_row_once_byte_for_byte_in_version_order_per_aggregate() {
    let p = Pipeline::new(true).await;
    nine_events(&p).await;

    let first = step(&p, &p.pool, 100).await;
    let second = step(&p, &p.pool, 100).await;

    assert_eq!((first.published, first.waiting), (9, false));
    assert_eq!((second.published, second.waiting), (0, false));
    assert_eq!(unpublished(&p.pool).await, 0);
    let received = receive(&p, 9).await;
    assert_payloads_match(&p.pool, &received).await;
    assert_eq!(
        versions_by_aggregate(&received),
        in_order(&[("order:x", 2), ("product:x", 3), ("product:y", 4)])
    );
    assert!(
        receive_batch(&p, 1).await.is_empty(),
        "nothing beyond the nine"
    );
}

#[tokio::test]
async fn small_steps_publish_everything_in_order_over_several_rounds() {
    let p = Pipeline::new(true).await;
    nine_events(&p).await;

    let mut steps = Vec::new();
    loop {
        let s = step(&p, &p.pool, 4).await;
        if s.published == 0 {
            break;
        }
        steps.push(s.published);
    }

    assert_eq!(steps, vec![4, 4, 1]);
    let received = receive(&p, 9).await;
    assert_eq!(
        versions_by_aggregate(&received),
        in_order(&[("order:x", 2), ("product:x", 3), ("product:y", 4)])
    );
}

#[tokio::test]
async fn a_row_that_commits_after_a_higher_id_is_published_by_the_next_step() {
    let p = Pipeline::new(true).await;
    let mut a = p.pool.begin().await.expect("begin A");
    crate::harness::write_changes(&mut a, &[], &[stock_event("late", 1)])
        .await
        .expect("A inserts");
    append(&p.pool, &[stock_event("early", 1)]).await;

    let before = step(&p, &p.pool, 100).await;
    a.commit().await.expect("A commits");
    let after = step(&p, &p.pool, 100).await;

    assert_eq!((before.published, after.published), (1, 1));
    let ids: Vec<(String, i64)> = sqlx::query_as(
        "SELECT aggregate_id, id FROM outbox WHERE published_at IS NOT NULL ORDER BY id",
    )
    .fetch_all(&p.pool)
    .await
    .expect("published rows");
    assert_eq!(
        ids.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
        ["late", "early"]
    );
    let received: HashSet<String> = receive(&p, 2).await.iter().map(|r| r.aggregate()).collect();
    assert_eq!(
        received,
        HashSet::from(["product:late".into(), "product:early".into()])
    );
}

#[tokio::test]
async fn a_row_locked_by_another_relay_holds_back_its_aggregates_later_rows() {
    let p = Pipeline::new(true).await;
    append(&p.pool, &[stock_event("p", 1)]).await;
    append(&p.pool, &[stock_event("p", 2), stock_event("q", 1)]).await;
    let other = Claim::begin(&p.pool, 1)
        .await
        .expect("another relay claims p v1");

    let held = step(&p, &p.pool, 100).await;
    other.abandon().await.expect("the other relay lets go");
    let rest = step(&p, &p.pool, 100).await;

    assert_eq!(
        (held.published, held.waiting),
        (1, true),
        "q goes, p v2 waits"
    );
    assert_eq!((rest.published, rest.waiting), (2, false));
    let received = receive(&p, 3).await;
    assert_eq!(
        versions_by_aggregate(&received),
        in_order(&[("product:p", 2), ("product:q", 1)])
    );
}

/// Rows the plan read from `outbox` (every scan node: the rows it returned and those its
/// filter removed, times its loops).
fn outbox_rows_read(node: &serde_json::Value) -> f64 {
    let count = |key: &str| node[key].as_f64().unwrap_or(0.0);
    let own = match node["Relation Name"].as_str() {
        Some("outbox") => {
            (count("Actual Rows") + count("Rows Removed by Filter")) * count("Actual Loops")
        }
        _ => 0.0,
    };
    let children = node["Plans"].as_array().into_iter().flatten();
    own + children.map(outbox_rows_read).sum::<f64>()
}

/// Rows of `outbox` that a claim of 100 reads (its plan, run and rolled back).
async fn rows_read_by_a_claim(pool: &sqlx::PgPool) -> f64 {
    let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {CLAIM}");
    let mut tx = pool.begin().await.expect("begin");
    let (plan,): (serde_json::Value,) = sqlx::query_as(&explain)
        .bind(100_i64)
        .fetch_one(&mut *tx)
        .await
        .expect("explain the claim");
    tx.rollback().await.expect("rollback");
    outbox_rows_read(&plan[0]["Plan"])
}

/// A hot product's backlog must not make each step read it whole (it once read the backlog
/// once per claimed row: 0.6 s a step at 7,000 rows waiting), nor walk the product's claimed
/// rows once per claimed row (6.7 ms for a claim of 100). Counted in rows the plan read, not
/// in time: a step of 100 reads a few hundred rows whether 300 or 3,000 wait, alone or with
/// another relay holding the oldest rows.
#[tokio::test]
async fn a_step_reads_about_what_it_claims_however_long_a_hot_aggregates_backlog() {
    let p = Pipeline::new(true).await;
    let backlog: Vec<_> = (1..=3000)
        .map(|v| {
            if v % 3 == 0 {
                order_event(&format!("o{v}"), 1)
            } else {
                stock_event("hot", v)
            }
        })
        .collect();
    append(&p.pool, &backlog).await;
    sqlx::query("ANALYZE outbox")
        .execute(&p.pool)
        .await
        .expect("analyze");

    let alone = rows_read_by_a_claim(&p.pool).await;
    let other = Claim::begin(&p.pool, 10)
        .await
        .expect("another relay holds ten rows");
    let beside_another = rows_read_by_a_claim(&p.pool).await;
    other.abandon().await.expect("the other relay lets go");

    for (case, read) in [("alone", alone), ("beside another relay", beside_another)] {
        assert!(
            (100.0..=400.0).contains(&read),
            "{case}, a claim of 100 with 3000 rows waiting read {read} outbox rows"
        );
    }
}

#[tokio::test]
async fn a_standard_topic_relays_every_event_too() {
    let p = Pipeline::new(false).await;
    nine_events(&p).await;

    let first = step(&p, &p.pool, 100).await;
    let second = step(&p, &p.pool, 100).await;

    assert_eq!((first.published, second.published), (9, 0));
    let received = receive(&p, 9).await;
    assert_payloads_match(&p.pool, &received).await;
    let mut ids: Vec<i64> = received.iter().map(|r| r.event.version).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 1, 1, 2, 2, 2, 3, 3, 4]);
}

#[tokio::test]
async fn a_commit_that_inserts_outbox_rows_several_times_wakes_the_relay_once() {
    let p = Pipeline::new(true).await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&p.pool)
        .await
        .expect("listener");
    listener.listen(CHANNEL).await.expect("LISTEN");

    let mut tx = p.pool.begin().await.expect("begin");
    for version in 1..=3 {
        crate::harness::write_changes(
            &mut tx,
            &[],
            &[stock_event("p", version), order_event("o", version)],
        )
        .await
        .expect("insert");
    }
    tx.commit().await.expect("commit");
    sqlx::query("SELECT pg_notify($1, 'end')")
        .bind(CHANNEL)
        .execute(&p.pool)
        .await
        .expect("a marker after the commit");

    let mut wakeups = 0;
    loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
            .await
            .expect("the marker within 10 s")
            .expect("receive a notification");
        if next.payload() == "end" {
            break;
        }
        wakeups += 1;
    }
    assert_eq!(wakeups, 1, "one NOTIFY for the whole commit");
}
