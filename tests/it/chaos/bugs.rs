//! The suite against deliberately broken builds: each test switches one bug on (a failpoint
//! switch, see `src/worker/bugs.rs`), runs the scenario that should catch it, and passes
//! only if that scenario reports the broken promise.

use fulfil_testkit::check::dead_letters::NO_VALID_COMMAND_IN_DLQ;

use super::crash::crash_mid_sale;
use super::duplicates::three_times_and_late;
use super::races::cancel_long_before_its_order;

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

/// Every other invariant holds (the order is simply confirmed, the cancel accounted for in
/// the DLQ), so only the strict checker's DLQ rule can see this one.
#[tokio::test]
async fn a_valid_cancel_failed_into_the_dlq_is_caught_by_the_strict_checker() {
    let (_run, report) =
        cancel_long_before_its_order("worker::bug_cancel_before_order_fails=return").await;
    assert!(report.broke(NO_VALID_COMMAND_IN_DLQ), "{report}");
    assert!(
        report
            .violations
            .iter()
            .all(|v| v.invariant == NO_VALID_COMMAND_IN_DLQ),
        "{report}"
    );
    let listed = &report.dead_letters;
    assert_eq!(listed.len(), 1, "{report}");
    assert_eq!(
        (listed[0].id.as_deref(), listed[0].kind.as_deref()),
        (Some("x-early"), Some("CancelOrder"))
    );
    assert_eq!(report.lost, 0, "{report}");
}
