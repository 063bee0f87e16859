//! kill -9 at an exact step: a worker configured with `<step>=return(crash)` aborts in its
//! first batch of a flash sale at that step; clean workers take over, the redelivered
//! messages are absorbed, and the sale ends exactly as without the crash. Where the crash
//! leaves locks behind they must still be held (to expire by their lease): a lock gone
//! before the commit would be the bug ARCHITECTURE.md step 6 forbids.

use std::time::Duration;

use fulfil_testkit::check::CheckReport;

use super::{aborted, assert_clean, sale, Run, DRAIN};

const STOCK: i64 = 100;
const BUYERS: usize = 120;

/// What a crash scenario saw.
pub struct Crash {
    pub report: CheckReport,
    /// Whether the product's lock key was there, with a lease, right after the crash.
    pub lock_held_after_crash: bool,
}

/// The sale with the victim crashing at `step`; `more_failpoints` joins the victim's spec.
pub async fn crash_mid_sale(step: &str, more_failpoints: &str) -> Crash {
    let mut run = Run::new(true, 10).await;
    run.start_read_side().await;
    let (restock, orders) = sale("bread", STOCK, BUYERS, 2);
    let mut first = run.p.worker(&[]).await;
    run.publish(&[restock]).await;
    run.p
        .wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;
    first.signal("TERM");
    first
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("the process exits");

    // One batch at a time, so the lock seen after the crash can only be the crashed batch's.
    let spec = format!("{step}=return(crash);{more_failpoints}");
    let env = [
        ("FAILPOINTS", spec.as_str()),
        ("FULFIL_LOCK_LEASE_MS", "3000"),
    ];
    let mut victim = run.p.worker_with(&["--concurrency", "1"], &env).await;
    run.publish(&orders).await;
    let status = victim.wait_exit(DRAIN).await.expect("the process exits");
    let lock_held_after_crash = lock_held(&run, "bread").await;
    assert!(aborted(status), "{status}:\n{}", victim.log());
    assert!(
        victim.log().contains(&format!("failpoint {step}: crash")),
        "{}",
        victim.log()
    );

    let _clean = [run.p.worker(&[]).await, run.p.worker(&[]).await];
    let report = run.finish().await;
    assert_sale_outcome(&run).await;
    Crash {
        report,
        lock_held_after_crash,
    }
}

/// The product's lock key exists and will expire on its own.
async fn lock_held(run: &Run, product: &str) -> bool {
    let mut redis = crate::harness::redis().await;
    let key = format!("{}lock:{{{product}}}", run.p.key_prefix);
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("PTTL");
    ttl > 0
}

async fn assert_sale_outcome(run: &Run) {
    let confirmed = STOCK / 2;
    let count = |sql| run.p.count(sql);
    assert_eq!(
        count("SELECT count(*) FROM orders WHERE status = 'confirmed'").await,
        confirmed
    );
    assert_eq!(
        count("SELECT count(*) FROM orders WHERE reason = 'OUT_OF_STOCK'").await,
        BUYERS as i64 - confirmed
    );
    assert_eq!(count("SELECT available FROM products").await, 0);
}

/// The crash scenario as the suite runs it: clean, and the lock held when `held` says so.
async fn crash_at(step: &str, held: bool) {
    let crash = crash_mid_sale(step, "").await;
    assert_clean(&crash.report);
    assert_eq!(crash.report.applied + crash.report.rejected, BUYERS + 1);
    // A crash inside the lock must leave it held (until its lease runs out). A crash outside
    // it says nothing: another poller of the same process may hold the lock at that instant.
    if held {
        assert!(
            crash.lock_held_after_crash,
            "after a crash at {step} the product's lock should be held"
        );
    }
}

#[tokio::test]
async fn a_worker_killed_right_after_receiving_loses_nothing() {
    crash_at("worker::after_receive", false).await;
}

#[tokio::test]
async fn a_worker_killed_holding_its_locks_blocks_no_one_past_the_lease() {
    crash_at("worker::after_lock", true).await;
}

#[tokio::test]
async fn a_worker_killed_just_before_its_commit_still_holds_the_lock_and_changes_nothing() {
    crash_at("worker::before_commit", true).await;
}

#[tokio::test]
async fn a_worker_killed_after_its_commit_before_the_cache_write_has_its_effects_once() {
    crash_at("worker::after_commit_before_cache", true).await;
}

#[tokio::test]
async fn a_worker_killed_before_unlocking_leaves_its_lock_to_the_lease() {
    crash_at("worker::before_unlock", true).await;
}

#[tokio::test]
async fn a_worker_killed_before_deleting_its_messages_has_their_redelivery_absorbed() {
    crash_at("consumer::before_delete", false).await;
}
