//! `fulfil worker` as a process at its end: a SIGTERM during a long poll gives back at once
//! what the poll still brings, a second signal exits at once while the first shutdown waits
//! for a stuck batch, and a batch hung past the processing deadline is abandoned, returned
//! and counted.

// The scenarios that hang a batch with a failpoint need a `--features failpoints` build.
#[cfg(feature = "failpoints")]
mod stuck;

use std::time::Duration;

use crate::chaos::{counter, metrics};
use crate::harness::bodies::restock;
use crate::harness::eventually;
use crate::pipeline::Pipeline;

/// Far longer than any wait below: a message seen again within the test was given back.
pub const LONG_VISIBILITY: &str = "120";

#[tokio::test]
async fn messages_arriving_while_a_sigterm_waits_out_the_long_poll_are_visible_again_at_once() {
    let p = Pipeline::new(false).await;
    let mut worker = p.worker(&["--visibility-timeout", LONG_VISIBILITY]).await;
    eventually(Duration::from_secs(10), "a long poll in flight", || async {
        let metrics = metrics(&worker).await;
        (counter(&metrics, "fulfil_receive_requests_total", "") >= 1.0).then_some(())
    })
    .await;

    worker.signal("TERM");
    worker
        .wait_logged("shutdown: waiting out the long poll in flight")
        .await
        .expect("the line logged");
    let bodies: Vec<String> = (0..3)
        .map(|i| restock(&format!("late-{i}"), "bread", 1))
        .collect();
    for body in &bodies {
        p.send_to_queue(body).await;
    }
    let status = worker
        .wait_exit(Duration::from_secs(40))
        .await
        .expect("the process exits");

    assert!(status.success(), "exit {status}; log:\n{}", worker.log());
    assert_eq!(
        p.queue_depth().await,
        (3, 0),
        "all visible again, long before their {LONG_VISIBILITY} s visibility timeout"
    );
    assert_eq!(
        p.count("SELECT count(*) FROM inbox").await,
        0,
        "none handled"
    );
    assert!(
        worker
            .log()
            .contains("messages a long poll brought after shutdown returned"),
        "{}",
        worker.log()
    );
}

/// A worker killed outright leaves its long polls open on the queue's side (SQS does not
/// notice the closed connection): each takes what arrives within its wait and spends a
/// receive of it. Polls no longer than half the visibility timeout take a given message once
/// at most, so with 2 receives before the DLQ a command sent right after the kill is still
/// applied. With 20 s polls on a 4 s visibility timeout, the four left open take it again
/// each time it comes back, until SQS dead-letters it.
#[tokio::test]
async fn polls_left_open_by_a_killed_worker_spend_at_most_one_receive_of_a_command() {
    let p = Pipeline::with_receive_count(false, 2).await;
    let visibility = ["--visibility-timeout", "4"];
    let victim = p.worker(&visibility).await;
    eventually(
        Duration::from_secs(10),
        "its four long polls in flight",
        || async {
            let metrics = metrics(&victim).await;
            (counter(&metrics, "fulfil_receive_requests_total", "") >= 4.0).then_some(())
        },
    )
    .await;

    victim.signal("KILL");
    p.send_to_queue(&restock("after-kill", "bread", 1)).await;
    let _next = p.worker(&visibility).await;

    let applied = "SELECT count(*) FROM inbox WHERE command_id = 'after-kill'";
    p.wait_for_count(applied, 1, Duration::from_secs(40)).await;
    p.assert_invariants().await;
}

#[tokio::test]
async fn a_processing_deadline_not_above_the_lock_lease_is_refused_naming_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fulfil"))
        .args(["worker", "--lock-lease-ms", "5000"])
        .args(["--processing-deadline-ms", "4000"])
        .env("FULFIL_WRITE_DATABASE_URL", "postgres://u@127.0.0.1:1/db")
        .env("FULFIL_REDIS_URL", "redis://127.0.0.1:1")
        .output()
        .expect("run fulfil worker");

    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FULFIL_PROCESSING_DEADLINE_MS (--processing-deadline-ms): \"4000\""),
        "{stderr}"
    );
}
