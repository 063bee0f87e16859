//! What the worker leaves in Redis, and how it takes Redis's own troubles: no key for a
//! product that does not exist, every key it leaves expires, an unreadable cache entry is
//! replaced from the database (never a failed command), and Redis out of memory holds the
//! work with an error that says so and flips readiness until memory is back.

mod oom;
mod own_redis;

use std::time::Duration;

use fulfil::worker::Recorded;

use crate::harness::bodies::{place, restock};
use crate::harness::{eventually, TestWorker};
use crate::pipeline::Pipeline;

fn confirmed() -> Recorded {
    Recorded::Decided {
        outcome: "CONFIRMED".into(),
        reason: None,
    }
}

/// Every key under the worker's prefix with its time to live in ms (-1: none).
async fn keys_with_ttl(w: &TestWorker) -> Vec<(String, i64)> {
    let mut conn = w.redis.clone();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", w.key_prefix))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    keys.sort();
    let mut with_ttl = Vec::new();
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        with_ttl.push((key.trim_start_matches(&w.key_prefix).to_owned(), ttl));
    }
    with_ttl
}

/// The keys left once the background lock releases are done (no `lock:` key left).
async fn settled_keys(w: &TestWorker) -> Vec<(String, i64)> {
    eventually(Duration::from_secs(10), "the locks released", || async {
        let keys = keys_with_ttl(w).await;
        (!keys.iter().any(|(k, _)| k.starts_with("lock:"))).then_some(keys)
    })
    .await
}

#[tokio::test]
async fn orders_for_a_product_that_does_not_exist_leave_no_redis_key_of_it() {
    let w = TestWorker::new().await;

    let records = w
        .batch(&[
            place("c1", "o1", &[("ghost", 1)]),
            place("c2", "o2", &[("phantom", 2)]),
        ])
        .await;

    assert!(
        records.iter().all(
            |f| matches!(f, Recorded::Decided { reason: Some(r), .. } if r == "UNKNOWN_PRODUCT")
        ),
        "{records:?}"
    );
    let keys = settled_keys(&w).await;
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["fence"],
        "only the one fence counter of every product"
    );
}

#[tokio::test]
async fn every_key_the_worker_leaves_expires() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r1", "bread", 5), restock("r2", "milk", 5)])
        .await;
    w.batch(&[
        place("c1", "o1", &[("bread", 1), ("milk", 1)]),
        place("c2", "o2", &[("ghost", 1)]),
    ])
    .await;

    let keys = settled_keys(&w).await;

    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["fence", "stock:{bread}", "stock:{milk}"]);
    let day = 24 * 3600 * 1000;
    for (key, ttl) in &keys {
        assert!(*ttl > 0, "{key} never expires");
        if key.starts_with("stock:") {
            assert!(*ttl <= day, "{key}: {ttl} ms");
        }
    }
}

async fn set_raw(w: &TestWorker, key: &str, value: &str) {
    let mut conn = w.redis.clone();
    let () = redis::cmd("SET")
        .arg(format!("{}{key}", w.key_prefix))
        .arg(value)
        .query_async(&mut conn)
        .await
        .expect("SET");
}

async fn get_raw(w: &TestWorker, key: &str) -> Option<String> {
    let mut conn = w.redis.clone();
    redis::cmd("GET")
        .arg(format!("{}{key}", w.key_prefix))
        .query_async(&mut conn)
        .await
        .expect("GET")
}

#[tokio::test]
async fn an_unreadable_cache_entry_of_any_kind_is_replaced_from_the_database() {
    let w = TestWorker::new().await;
    let products = ["garbage", "unmarked", "newer", "a-hash"];
    let restocks: Vec<String> = products
        .iter()
        .map(|p| restock(&format!("r-{p}"), p, 5))
        .collect();
    w.batch(&restocks).await;
    set_raw(&w, "stock:{garbage}", "\u{1}not json at all").await;
    // The shape of an entry from before the format mark, claiming a far newer version.
    let unmarked =
        r#"{"name":null,"available":0,"restocked":0,"confirmed":0,"cancelled":0,"version":99}"#;
    set_raw(&w, "stock:{unmarked}", unmarked).await;
    set_raw(
        &w,
        "stock:{newer}",
        &unmarked.replace('{', r#"{"format":9,"#),
    )
    .await;
    let mut conn = w.redis.clone();
    let key = format!("{}stock:{{a-hash}}", w.key_prefix);
    let _: i64 = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("DEL");
    let _: i64 = redis::cmd("HSET")
        .arg(&[key.as_str(), "available", "0"][..])
        .query_async(&mut conn)
        .await
        .expect("HSET");

    let orders: Vec<String> = products
        .iter()
        .map(|p| place(&format!("c-{p}"), &format!("o-{p}"), &[(p, 2)]))
        .collect();
    let records = w.batch(&orders).await;

    assert_eq!(records, vec![confirmed(); products.len()]);
    for p in products {
        assert_eq!(w.available(p).await, Some(3), "{p}");
        let entry = get_raw(&w, &format!("stock:{{{p}}}"))
            .await
            .expect("an entry");
        assert!(
            entry.contains(r#""format":1"#) && entry.contains(r#""available":3"#),
            "{p}: {entry}"
        );
    }
}

/// Through the queue, as the issue saw it: every order of a product whose cache entry is
/// garbage used to fail as unexpected and go to the DLQ.
#[tokio::test]
async fn orders_for_a_product_with_a_corrupt_cache_entry_succeed_and_the_dlq_stays_empty() {
    let p = Pipeline::new(true).await;
    let _worker = p.worker(&[]).await;
    p.publish(&[restock("r1", "bread", 10)]).await;
    p.wait_for_count("SELECT count(*) FROM inbox", 1, Duration::from_secs(60))
        .await;
    let mut conn = crate::harness::redis().await;
    let () = redis::cmd("SET")
        .arg(format!("{}stock:{{bread}}", p.key_prefix))
        .arg("garbage")
        .query_async(&mut conn)
        .await
        .expect("SET garbage");

    let orders: Vec<String> = (0..5)
        .map(|i| place(&format!("c{i}"), &format!("o{i}"), &[("bread", 1)]))
        .collect();
    p.publish(&orders).await;
    p.wait_for_count(
        "SELECT count(*) FROM orders WHERE status = 'confirmed'",
        5,
        Duration::from_secs(60),
    )
    .await;

    p.wait_drained(Duration::from_secs(30)).await;
    p.assert_invariants().await;
    assert_eq!(
        p.count("SELECT available FROM products WHERE product_id = 'bread'")
            .await,
        5
    );
}
