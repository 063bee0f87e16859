//! Group commit per product against the real PostgreSQL and Redis: commands from many
//! concurrent receives commit together, a lease is kept while a product stays busy and given
//! back when it goes idle, every stock read is checked (a stale cache never commits a wrong
//! rejection), and multi-product orders over hot products never deadlock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fulfil::worker::Recorded;

use crate::harness::bodies::{place, restock};
use crate::harness::{eventually, TestWorker};

fn confirmed() -> Recorded {
    Recorded::Decided {
        outcome: "CONFIRMED".into(),
        reason: None,
    }
}

/// The product's raw stock-cache entry.
async fn cache_entry(w: &TestWorker, product: &str) -> String {
    let mut redis = w.redis.clone();
    redis::cmd("GET")
        .arg(format!("{}stock:{{{product}}}", w.key_prefix))
        .query_async(&mut redis)
        .await
        .expect("GET stock entry")
}

async fn set_cache_entry(w: &TestWorker, product: &str, entry: &str) {
    let mut redis = w.redis.clone();
    let () = redis::cmd("SET")
        .arg(format!("{}stock:{{{product}}}", w.key_prefix))
        .arg(entry)
        .query_async(&mut redis)
        .await
        .expect("SET stock entry");
}

/// `receivers` tasks each handing over `batches` receives of ten orders, as SQS pollers do.
async fn concurrent_receives(
    w: &Arc<TestWorker>,
    receivers: usize,
    batches: usize,
    lines: impl Fn(usize) -> Vec<(String, i64)> + Send + Sync + 'static,
) -> Vec<Recorded> {
    let lines = Arc::new(lines);
    let tasks: Vec<_> = (0..receivers)
        .map(|r| {
            let (w, lines) = (Arc::clone(w), Arc::clone(&lines));
            tokio::spawn(async move {
                let mut records = Vec::new();
                for b in 0..batches {
                    let bodies: Vec<String> = (0..10)
                        .map(|i| {
                            let n = (r * batches + b) * 10 + i;
                            let owned = lines(n);
                            let refs: Vec<(&str, i64)> =
                                owned.iter().map(|(p, q)| (p.as_str(), *q)).collect();
                            place(&format!("c{n}"), &format!("o{n}"), &refs)
                        })
                        .collect();
                    records.extend(w.batch(&bodies).await);
                }
                records
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("receiver task"));
    }
    all
}

#[tokio::test]
async fn a_cache_showing_less_stock_than_the_database_never_commits_a_rejection() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r1", "p", 1)]).await;
    w.batch(&[place("c1", "o1", &[("p", 1)])]).await;
    let sold_out = cache_entry(&w, "p").await;
    w.batch(&[restock("r2", "p", 5)]).await;
    // The restock's cache write is lost: the cache still says "sold out" at the old version.
    set_cache_entry(&w, "p", &sold_out).await;

    // A unit made only of what the stale cache would reject.
    let orders: Vec<String> = (2..5)
        .map(|i| place(&format!("c{i}"), &format!("o{i}"), &[("p", 1)]))
        .collect();
    let records = w.batch(&orders).await;

    assert_eq!(records, vec![confirmed(); 3]);
    assert_eq!(w.available("p").await, Some(2));
    assert_eq!(
        w.count("SELECT count(*) FROM orders WHERE status = 'rejected'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_unit_that_changes_stock_read_from_a_stale_cache_reads_again_and_commits() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r1", "p", 5)]).await;
    let behind = cache_entry(&w, "p").await;
    w.batch(&[place("c1", "o1", &[("p", 1)])]).await;
    // The order's cache write is lost: the cache is one version behind, and the version the
    // next unit would give the product (and its stock event) is already taken.
    set_cache_entry(&w, "p", &behind).await;

    let records = w.batch(&[place("c2", "o2", &[("p", 1)])]).await;

    assert_eq!(records, vec![confirmed()]);
    assert_eq!(w.available("p").await, Some(3));
    assert_eq!(
        w.count("SELECT count(*) FROM outbox WHERE aggregate_type = 'product'")
            .await,
        3,
        "one stock event per commit: the restock's and each order's"
    );
}

#[tokio::test]
async fn concurrent_receives_on_one_product_share_commits_and_keep_the_lease_until_idle() {
    let w = Arc::new(TestWorker::new().await);
    w.batch(&[restock("r", "p", 100_000)]).await;
    w.worker.take_group_figures();

    let records = concurrent_receives(&w, 16, 10, |_| vec![("p".into(), 1)]).await;

    assert_eq!(records, vec![confirmed(); 1600]);
    assert_eq!(w.available("p").await, Some(100_000 - 1600));
    let figures = w.worker.take_group_figures();
    let commits = figures.commands_per_commit.len();
    assert_eq!(figures.commands_per_commit.iter().sum::<usize>(), 1600);
    assert!(
        figures.mean_per_commit() > 10.0,
        "commands from several receives share a commit: {figures:?}"
    );
    assert!(
        (figures.lock_rounds as usize) < commits,
        "a lease is kept across consecutive units: {} rounds for {commits} commits",
        figures.lock_rounds
    );
    assert!(
        figures.kept_connections > 0,
        "a kept lease's next unit starts on the connection the last one committed on: {figures:?}"
    );
    let lock_key = format!("{}lock:{{p}}", w.key_prefix);
    eventually(
        Duration::from_secs(5),
        "the lease given back once idle",
        || {
            let mut redis = w.redis.clone();
            let key = lock_key.clone();
            async move {
                let exists: i64 = redis::cmd("EXISTS")
                    .arg(&key)
                    .query_async(&mut redis)
                    .await
                    .expect("EXISTS");
                (exists == 0).then_some(())
            }
        },
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "no transaction left open once the lease is given back",
        || async {
            let open: i64 = w
                .count(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
                )
                .await;
            (open == 0).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn multi_line_orders_over_several_hot_products_finish_without_deadlock() {
    let w = Arc::new(TestWorker::new().await);
    let products = ["a", "b", "c", "d"];
    for p in products {
        w.batch(&[restock(&format!("r-{p}"), p, 100_000)]).await;
    }
    // Every order takes two or three of the four products, in shifting combinations.
    let lines = move |n: usize| -> Vec<(String, i64)> {
        let width = 2 + n % 2;
        (0..width)
            .map(|k| (products[(n + k * (1 + n % 3)) % 4].to_owned(), 1))
            .collect::<BTreeMap<String, i64>>()
            .into_iter()
            .collect()
    };
    let run = concurrent_receives(&w, 16, 5, lines);
    let records = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("every receive decided within 60 s: no deadlock");

    assert_eq!(records, vec![confirmed(); 800]);
    let sold: i64 = w
        .count("SELECT sum((l->>'quantity')::int8)::int8 FROM orders, json_array_elements(lines) l")
        .await;
    let left: i64 = w.count("SELECT sum(available)::int8 FROM products").await;
    assert_eq!(left + sold, 400_000, "stock is conserved");
}

#[tokio::test]
async fn a_unit_of_forty_orders_on_one_product_writes_one_stock_event() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r", "p", 100)]).await;
    let orders: Vec<String> = (0..40)
        .map(|i| place(&format!("c{i}"), &format!("o{i}"), &[("p", 1)]))
        .collect();

    let records = w.batch(&orders).await;

    assert_eq!(records, vec![confirmed(); 40]);
    let stock_events = "SELECT count(*) FROM outbox WHERE aggregate_type = 'product'";
    assert_eq!(
        w.count(stock_events).await,
        2,
        "the restock's and the unit's"
    );
    assert_eq!(
        w.count("SELECT max(aggregate_version) FROM outbox WHERE aggregate_type = 'product'")
            .await,
        2
    );
    assert_eq!(
        w.count("SELECT count(*) FROM outbox WHERE aggregate_type = 'order'")
            .await,
        40
    );
}
