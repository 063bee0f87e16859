//! The lock and the stock cache on the dev stack's 3-master Redis Cluster
//! (`FULFIL_DEV_REDIS_CLUSTER_URLS`, started by `./dev up`): products spread over several hash
//! slots, so every call that would cross slots is exercised. A cluster that is not there fails
//! the test (see `harness::redis_cluster`). The flash sales run in `cluster/sale.rs`.

mod sale;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fulfil::domain::Product;
use fulfil::lock::{ReleaseReport, StockLock};
use fulfil::redis_conn::RedisConnection;
use fulfil::redis_slot::key_slot;
use fulfil::stock_cache::StockCache;
use tokio::time::Instant;

use crate::harness::redis_cluster;
use crate::lock_support::{expect_timeout, SHORT};

const LEASE: Duration = Duration::from_secs(5);

/// One test's view of the cluster: a connection and a key prefix no other test uses.
struct ClusterCtx {
    conn: RedisConnection,
    prefix: String,
}

impl ClusterCtx {
    async fn new() -> Self {
        let conn = redis_cluster().await;
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        Self { conn, prefix }
    }

    fn lock(&self, lease: Duration, acquire_timeout: Duration) -> StockLock {
        let config = fulfil::lock::LockConfig {
            key_prefix: self.prefix.clone(),
            lease,
            acquire_timeout,
        };
        StockLock::new(self.conn.clone(), config)
    }

    fn lock_key(&self, product_id: &str) -> String {
        format!("{}lock:{{{product_id}}}", self.prefix)
    }

    async fn get(&self, key: &str) -> Option<String> {
        let mut get = redis::cmd("GET");
        get.arg(key);
        get.query_async(&mut self.conn.clone()).await.expect("GET")
    }

    async fn pttl(&self, key: &str) -> i64 {
        let mut pttl = redis::cmd("PTTL");
        pttl.arg(key);
        pttl.query_async(&mut self.conn.clone())
            .await
            .expect("PTTL")
    }

    /// The locks of `ids` that are set, whoever set them.
    async fn locked(&self, ids: &[&str]) -> Vec<String> {
        let mut locked = Vec::new();
        for id in ids {
            if self.get(&self.lock_key(id)).await.is_some() {
                locked.push((*id).to_owned());
            }
        }
        locked
    }

    /// KEYS goes to every master; each key is deleted where it lives.
    async fn delete_all_keys(&self) {
        let mut keys = redis::cmd("KEYS");
        keys.arg(format!("{}*", self.prefix));
        let keys: Vec<String> = keys
            .query_async(&mut self.conn.clone())
            .await
            .expect("KEYS");
        for key in keys {
            let mut del = redis::cmd("DEL");
            del.arg(&key);
            let _: i64 = del.query_async(&mut self.conn.clone()).await.expect("DEL");
        }
    }
}

/// `n` product ids whose keys fall in `n` different slots, taken in turn from each third of
/// the slot range (the three masters `./dev` creates serve one third each).
pub(crate) fn spread(n: usize) -> Vec<String> {
    let mut chosen: Vec<(u16, String)> = Vec::new();
    for id in (0..).map(|i| format!("p-{i}")) {
        let slot = key_slot(&id);
        let third = usize::from(slot / 5462);
        if third == chosen.len() % 3 && chosen.iter().all(|(s, _)| *s != slot) {
            chosen.push((slot, id));
        }
        if chosen.len() == n {
            break;
        }
    }
    chosen.into_iter().map(|(_, id)| id).collect()
}

fn refs(ids: &[String]) -> Vec<&str> {
    ids.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn cluster_slots_computed_here_are_the_ones_the_cluster_reports() {
    let ctx = ClusterCtx::new().await;
    for key in ["foo", "x{}y", &ctx.lock_key("bread"), "fulfil:fence:{7}"] {
        let mut keyslot = redis::cmd("CLUSTER");
        keyslot.arg("KEYSLOT").arg(key);
        let reported: u16 = keyslot
            .query_async(&mut ctx.conn.clone())
            .await
            .expect("KEYSLOT");
        assert_eq!(key_slot(key), reported, "{key}");
    }
}

#[tokio::test]
async fn cluster_a_group_over_several_slots_is_taken_whole_and_released_whole() {
    let ctx = ClusterCtx::new().await;
    let ids = spread(6);
    let held = ctx
        .lock(LEASE, SHORT)
        .acquire(&refs(&ids))
        .await
        .expect("acquire");

    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(held.product_ids().collect::<Vec<_>>(), refs(&sorted));
    assert_eq!(ctx.locked(&refs(&ids)).await, ids, "every product locked");
    assert!(ids.iter().all(|id| held.fence(id).is_some()));
    let report = held.release().await.expect("release");

    let released = ReleaseReport {
        released: 6,
        not_ours: vec![],
    };
    assert_eq!(report, released);
    assert!(
        ctx.locked(&refs(&ids)).await.is_empty(),
        "nothing left locked"
    );
    ctx.delete_all_keys().await;
}

#[tokio::test]
async fn cluster_a_product_held_in_the_last_slot_leaves_nothing_of_the_group_held() {
    let ctx = ClusterCtx::new().await;
    let ids = spread(4);
    let last = ids
        .iter()
        .max_by_key(|id| key_slot(id))
        .expect("ids")
        .clone();
    let other = ctx
        .lock(LEASE, SHORT)
        .acquire(&[&last])
        .await
        .expect("other");
    let lock = ctx.lock(LEASE, SHORT);

    assert_eq!(expect_timeout(&lock, &refs(&ids)).await, last);
    assert_eq!(
        ctx.locked(&refs(&ids)).await,
        vec![last.clone()],
        "rolled back"
    );
    let tried = lock.try_acquire(&refs(&ids)).await.expect("no Redis error");
    assert_eq!(tried.err(), Some(last.clone()));
    assert_eq!(
        ctx.locked(&refs(&ids)).await,
        vec![last.clone()],
        "rolled back"
    );

    other.release().await.expect("release other");
    let held = lock.acquire(&refs(&ids)).await.expect("free once released");
    assert_eq!(held.release().await.expect("release").released, 4);
    ctx.delete_all_keys().await;
}

#[tokio::test]
async fn cluster_the_watchdog_extends_the_locks_of_every_slot() {
    let ctx = ClusterCtx::new().await;
    let ids = spread(3);
    let held = ctx
        .lock(Duration::from_millis(600), SHORT)
        .acquire(&refs(&ids))
        .await
        .expect("acquire");
    let keys: Vec<String> = ids.iter().map(|id| ctx.lock_key(id)).collect();

    // A key's time to live rising between two readings is an extension.
    let (mut last, mut extended) = (BTreeMap::new(), BTreeSet::new());
    let deadline = Instant::now() + Duration::from_secs(5);
    while extended.len() < keys.len() {
        assert!(
            Instant::now() < deadline,
            "extended within 5 s: only {extended:?}"
        );
        for key in &keys {
            let ttl = ctx.pttl(key).await;
            assert!(ttl > 0, "{key} expired under its watchdog");
            if last
                .insert(key.clone(), ttl)
                .is_some_and(|before| ttl > before)
            {
                extended.insert(key.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await; // the polling interval
    }

    assert!(!held.is_lost());
    assert_eq!(held.release().await.expect("release").released, 3);
    ctx.delete_all_keys().await;
}

#[tokio::test]
async fn cluster_each_products_fence_only_rises_and_each_slot_has_its_own_counter() {
    let ctx = ClusterCtx::new().await;
    let ids = spread(4);
    let lock = ctx.lock(LEASE, SHORT);
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for round in 0..12 {
        let subset: Vec<&str> = (0..4)
            .filter(|i| (round + i) % 3 != 0)
            .map(|i| ids[i].as_str())
            .collect();
        let held = lock.acquire(&subset).await.expect("acquire");
        for id in &subset {
            let fence = held.fence(id).expect("a fence per product");
            let before = last.insert((*id).to_owned(), fence);
            assert!(
                before.is_none_or(|b| fence > b),
                "{id}: {before:?} then {fence}"
            );
        }
        held.release().await.expect("release");
    }

    lock.reseed_fence(&ids[0], 1000).await.expect("reseed");
    let held = lock.acquire(&refs(&ids[..2])).await.expect("acquire");
    assert!(held.fence(&ids[0]) > Some(1000), "above the reseed");
    assert!(held.fence(&ids[1]) < Some(1000), "another slot's counter");
    held.release().await.expect("release");
    ctx.delete_all_keys().await;
}

#[tokio::test]
async fn cluster_the_stock_cache_round_trips_entries_of_several_slots() {
    let ctx = ClusterCtx::new().await;
    let cache = StockCache::new(ctx.conn.clone(), &ctx.prefix);
    let ids = spread(5);
    let product = |i: i64| Product {
        name: Some(format!("n{i}")),
        available: i,
        restocked: i + 2,
        confirmed: 2,
        cancelled: 0,
    };
    let entries: Vec<(String, Product, i64)> = (0..5)
        .map(|i| (ids[i].clone(), product(i as i64), 10 + i as i64))
        .collect();

    cache.put_many(&entries).await.expect("put across slots");
    cache
        .put_many(&[(ids[0].clone(), product(99), 1)])
        .await
        .expect("an older version");
    let read = cache.get_many(&ids).await.expect("MGET across slots");

    let expected: BTreeMap<String, (Product, i64)> = entries
        .into_iter()
        .map(|(id, p, version)| (id, (p, version)))
        .collect();
    assert_eq!(read, expected, "every entry back, the older write ignored");
    cache.forget(&ids).await.expect("DEL across slots");
    assert!(cache.get_many(&ids).await.expect("MGET").is_empty());
    assert!(cache.takes_writes().await);
    ctx.delete_all_keys().await;
}
