//! The suite against deliberately broken builds: each test switches one bug on (a failpoint
//! switch, see `src/worker/bugs.rs`), runs the scenario that should catch it, and passes
//! only if that scenario reports the broken promise.

use super::crash::crash_mid_sale;
use super::duplicates::three_times_and_late;

/// The version check and the fencing token keep the stock right even then (defence in
/// depth), so the checker alone cannot see this bug; the crash scenario can: a worker
/// killed just before its commit must still hold the product's lock.
#[tokio::test]
async fn a_lock_released_before_the_commit_is_caught_by_the_crash_before_commit_scenario() {
    let crash = crash_mid_sale(
        "worker::before_commit",
        "worker::bug_release_lock_before_commit=return",
    )
    .await;
    assert!(
        !crash.lock_held_after_crash,
        "the scenario should have found the lock already released"
    );
}

#[tokio::test]
async fn skipping_the_inbox_check_is_caught_by_the_duplicates_scenario() {
    let (_run, report) = three_times_and_late("worker::bug_skip_inbox_check=return").await;
    assert!(
        !report.is_clean(),
        "the checker should have found second effects"
    );
    assert!(
        report.broke("restocked units match the restocks") && report.broke("inbox replay"),
        "{report}"
    );
}
