//! `StockLock` against a real Redis (`FULFIL_REDIS_URL`, default `redis://127.0.0.1:63800`).
//! Waits are conditions with deadlines; the only timed loop is the watchdog test, whose
//! subject is time itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fulfil::lock::{LockError, ReleaseReport, StockLock};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::time::{timeout, Instant};

use crate::lock_support::{expect_timeout, redis_url, wait_until_cancelled, Ctx, SHORT};
use fulfil_testkit::fault_proxy::{upstream_of, Fault, FaultProxy};

#[tokio::test]
async fn second_acquirer_times_out_naming_the_product_then_succeeds_after_release() {
    let ctx = Ctx::new().await;
    let (first, second) = (
        ctx.lock(Duration::from_secs(5), SHORT),
        ctx.lock(Duration::from_secs(5), SHORT),
    );
    let held = first.acquire(&["p-1"]).await.expect("first acquire");
    let first_fence = held.fence("p-1").expect("fence");

    let error = second.acquire(&["p-1"]).await.expect_err("p-1 is held");
    assert!(error.is_retryable());
    assert_eq!(
        error.to_string(),
        "lock on product \"p-1\" not acquired within 100 ms (held by another worker)"
    );
    assert_eq!(expect_timeout(&second, &["p-1"]).await, "p-1");

    let report = held.release().await.expect("release");
    assert_eq!(
        report,
        ReleaseReport {
            released: 1,
            not_ours: vec![]
        }
    );
    let again = second
        .acquire(&["p-1"])
        .await
        .expect("acquire after release");
    let second_fence = again.fence("p-1").expect("fence");
    again.release().await.expect("release");
    let third_fence = first
        .acquire(&["p-1"])
        .await
        .expect("third")
        .fence("p-1")
        .expect("fence");
    assert!(first_fence < second_fence && second_fence < third_fence);
    ctx.delete_all_keys().await;
}

#[tokio::test]
async fn product_ids_are_deduplicated_and_sorted_with_a_fence_each() {
    let ctx = Ctx::new().await;
    let held = ctx
        .lock(Duration::from_secs(5), SHORT)
        .acquire(&["b", "a", "b"])
        .await
        .expect("acquire");
    assert_eq!(held.product_ids().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(
        (held.fence("a"), held.fence("b"), held.fence("c")),
        (Some(1), Some(1), None)
    );
    assert_eq!(held.release().await.expect("release").released, 2);
    ctx.delete_all_keys().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_product_sets_never_deadlock_and_exclude_each_other() {
    let ctx = Ctx::new().await;
    let lock = ctx.lock(Duration::from_secs(5), Duration::from_secs(30));
    let counter = ctx.key("counter", "a");
    let inside = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let products: &[&str] = if task % 2 == 0 {
                &["b", "a"]
            } else {
                &["a", "c"]
            };
            let (lock, counter, inside) = (lock.clone(), counter.clone(), Arc::clone(&inside));
            let conn = ctx.conn.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    let held = lock.acquire(products).await.expect("acquire");
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders of a");
                    increment_slowly(conn.clone(), &counter).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    held.release().await.expect("release");
                }
            })
        })
        .collect();
    let all = futures::future::try_join_all(tasks);
    timeout(Duration::from_secs(60), all)
        .await
        .expect("deadlock: not done in 60 s")
        .expect("task");
    assert_eq!(ctx.get(&counter).await.as_deref(), Some("400"));
    ctx.delete_all_keys().await;
}

/// A read-modify-write with a yield in between: without mutual exclusion, updates get lost.
async fn increment_slowly(mut conn: ConnectionManager, key: &str) {
    let value: Option<i64> = conn.get(key).await.expect("GET counter");
    tokio::task::yield_now().await;
    let () = conn
        .set(key, value.unwrap_or(0) + 1)
        .await
        .expect("SET counter");
}

#[tokio::test]
async fn a_held_product_blocks_the_whole_set_and_leaves_the_others_free() {
    let ctx = Ctx::new().await;
    let lock = ctx.lock(Duration::from_secs(5), SHORT);
    let other = lock.acquire(&["b"]).await.expect("other holds b");

    assert_eq!(expect_timeout(&lock, &["a", "b"]).await, "b");
    assert_eq!(ctx.get(&ctx.key("lock", "a")).await, None, "a was locked");
    assert_eq!(
        ctx.get(&ctx.fence_key()).await.as_deref(),
        Some("1"),
        "the fence counter moved"
    );
    let a = lock.acquire(&["a"]).await.expect("a is free");
    assert_eq!(a.fence("a"), Some(2));
    a.release().await.expect("release a");
    other.release().await.expect("release b");
    ctx.delete_all_keys().await;
}

#[tokio::test]
async fn watchdog_keeps_a_lock_alive_across_several_leases() {
    let ctx = Ctx::new().await;
    let lease = Duration::from_millis(300);
    let held = ctx
        .lock(lease, SHORT)
        .acquire(&["p"])
        .await
        .expect("acquire");
    let rival = ctx.lock(lease, Duration::from_millis(50));

    let until = Instant::now() + lease * 4;
    let mut failures = 0;
    while Instant::now() < until {
        assert_eq!(expect_timeout(&rival, &["p"]).await, "p");
        failures += 1;
    }
    assert!(failures >= 4, "only {failures} rival attempts");
    assert!(!held.is_lost());
    let report = held.release().await.expect("release");
    assert_eq!(
        report,
        ReleaseReport {
            released: 1,
            not_ours: vec![]
        }
    );
    ctx.delete_all_keys().await;
}

#[tokio::test]
async fn deleting_a_key_behind_the_holders_back_cancels_lost() {
    let ctx = Ctx::new().await;
    let held = ctx
        .lock(Duration::from_millis(300), SHORT)
        .acquire(&["p", "q"])
        .await
        .expect("acquire");
    ctx.del(&ctx.key("lock", "p")).await;

    wait_until_cancelled(&held.lost(), Duration::from_secs(2), "lost after DEL").await;
    assert!(held.is_lost());
    let report = held.release().await.expect("release");
    assert_eq!(
        report,
        ReleaseReport {
            released: 1,
            not_ours: vec!["p".to_owned()]
        }
    );
    assert_eq!(
        ctx.get(&ctx.key("lock", "q")).await,
        None,
        "q was not released"
    );
    ctx.delete_all_keys().await;
}

#[tokio::test]
async fn overwriting_a_key_cancels_lost_and_release_leaves_the_intruders_value() {
    let ctx = Ctx::new().await;
    let held = ctx
        .lock(Duration::from_millis(300), SHORT)
        .acquire(&["p"])
        .await
        .expect("acquire");
    let lock_key = ctx.key("lock", "p");
    ctx.set(&lock_key, "someone-else").await;

    wait_until_cancelled(&held.lost(), Duration::from_secs(2), "lost after overwrite").await;
    let report = held.release().await.expect("release");
    assert_eq!(
        report,
        ReleaseReport {
            released: 0,
            not_ours: vec!["p".to_owned()]
        }
    );
    assert_eq!(ctx.get(&lock_key).await.as_deref(), Some("someone-else"));
    ctx.delete_all_keys().await;
}

#[tokio::test]
async fn reseed_lifts_the_fence_above_the_database_value_and_never_lowers_it() {
    let ctx = Ctx::new().await;
    let lock = ctx.lock(Duration::from_secs(5), SHORT);
    let fence_of_next = |lock: StockLock| async move {
        let held = lock.acquire(&["p"]).await.expect("acquire");
        let fence = held.fence("p").expect("fence");
        held.release().await.expect("release");
        fence
    };
    assert_eq!(fence_of_next(lock.clone()).await, 1);
    ctx.delete_all_keys().await;

    lock.reseed_fence("p", 100).await.expect("reseed");
    assert_eq!(fence_of_next(lock.clone()).await, 101);
    lock.reseed_fence("p", 50).await.expect("reseed lower");
    assert_eq!(fence_of_next(lock.clone()).await, 102);
    ctx.delete_all_keys().await;
    lock.reseed_fence("fresh", 7)
        .await
        .expect("reseed a missing counter");
    assert_eq!(ctx.get(&ctx.fence_key()).await.as_deref(), Some("7"));
    assert!(
        ctx.pttl(&ctx.fence_key()).await > 0,
        "a reseeded counter expires too"
    );
    ctx.delete_all_keys().await;
}

/// The fences of all products come from one counter that only rises, so releasing leaves no
/// key of any product behind (a command for a product that does not exist leaves nothing),
/// and the counter itself expires when unused (PostgreSQL's fence makes that safe).
#[tokio::test]
async fn a_released_lock_leaves_no_key_of_its_products_and_the_fence_counter_expires() {
    let ctx = Ctx::new().await;
    let lock = ctx.lock(Duration::from_secs(5), SHORT);
    let first = lock.acquire(&["x", "y"]).await.expect("acquire");
    let (x, y) = (first.fence("x"), first.fence("y"));
    first.release().await.expect("release");
    let second = lock.acquire(&["y", "z"]).await.expect("acquire again");

    assert_eq!((x, y), (Some(1), Some(1)), "one token per acquisition");
    assert_eq!(second.fence("y"), Some(2), "above every earlier token of y");
    second.release().await.expect("release");
    assert_eq!(ctx.keys().await, vec![ctx.fence_key()]);
    let ttl = ctx.pttl(&ctx.fence_key()).await;
    let most = i64::try_from(fulfil::lock::FENCE_TTL.as_millis()).expect("ms");
    assert!(ttl > most - 60_000 && ttl <= most, "counter TTL {ttl} ms");
    ctx.delete_all_keys().await;
}

#[tokio::test]
async fn release_after_the_lease_expired_leaves_the_new_owners_key() {
    let ctx = Ctx::new().await;
    let lock = ctx.lock(Duration::from_secs(5), Duration::from_secs(2));
    let stale = lock.acquire(&["p"]).await.expect("acquire");
    let lock_key = ctx.key("lock", "p");
    let _: bool = ctx
        .conn
        .clone()
        .pexpire(&lock_key, 1)
        .await
        .expect("PEXPIRE");

    let fresh = lock.acquire(&["p"]).await.expect("acquire after expiry");
    let owner = ctx.get(&lock_key).await;
    assert!(fresh.fence("p") > stale.fence("p"));
    let report = stale.release().await.expect("stale release");
    assert_eq!(
        report,
        ReleaseReport {
            released: 0,
            not_ours: vec!["p".to_owned()]
        }
    );
    assert_eq!(
        ctx.get(&lock_key).await,
        owner,
        "the new owner's key was touched"
    );
    assert_eq!(fresh.release().await.expect("release").released, 1);
    ctx.delete_all_keys().await;
}

#[tokio::test]
async fn dropping_without_release_cancels_lost_and_lets_the_lease_run_out() {
    let ctx = Ctx::new().await;
    let lock = ctx.lock(Duration::from_millis(300), Duration::from_secs(3));
    let held = lock.acquire(&["p"]).await.expect("acquire");
    let lost = held.lost();
    drop(held);

    assert!(lost.is_cancelled());
    let ttl: i64 = ctx
        .conn
        .clone()
        .pttl(ctx.key("lock", "p"))
        .await
        .expect("PTTL");
    assert!(
        (1..=300).contains(&ttl),
        "dropping must leave the key to expire, PTTL {ttl}"
    );
    // Were the watchdog still extending, this would time out after 3 s.
    let next = lock
        .acquire(&["p"])
        .await
        .expect("acquire once the lease ran out");
    next.release().await.expect("release");
    ctx.delete_all_keys().await;
}

#[tokio::test]
async fn losing_redis_cancels_lost_once_the_lease_could_have_expired() {
    let ctx = Ctx::new().await;
    let proxy = FaultProxy::start(&upstream_of(&redis_url())).await;
    let via_proxy = crate::harness::redis_at(&proxy.url_through(&redis_url())).await;
    let lease = Duration::from_millis(300);
    let held = ctx
        .lock_on(via_proxy, lease, SHORT)
        .acquire(&["p"])
        .await
        .expect("acquire");

    let cut = Instant::now();
    proxy.set(Fault::Refuse);
    wait_until_cancelled(&held.lost(), Duration::from_secs(3), "lost without Redis").await;
    // Lost by the local clock, not by some Redis error surfacing much later.
    assert!(
        cut.elapsed() <= lease * 2,
        "lost only after {:?}",
        cut.elapsed()
    );
    let release = timeout(lease * 3, held.release())
        .await
        .expect("release outlasted the lease");
    match release {
        Err(
            error @ LockError::Redis {
                operation: "release",
                ..
            },
        ) => assert!(error.is_retryable()),
        other => panic!("expected a release error without Redis, got {other:?}"),
    }
    ctx.delete_all_keys().await;
}
