//! A stuck first shutdown and a hung batch, made with the `consumer::hang_batch` failpoint.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use super::LONG_VISIBILITY;
use crate::chaos::{counter, metrics};
use crate::harness::bodies::restock;
use crate::pipeline::{Pipeline, RoleProcess};

/// Starts a worker whose every batch hangs, and waits until one does.
async fn worker_with_a_stuck_batch(p: &Pipeline, extra: &[&str]) -> RoleProcess {
    let mut worker = p
        .worker_with(extra, &[("FAILPOINTS", "consumer::hang_batch=return")])
        .await;
    p.publish(&[restock("r1", "bread", 5)]).await;
    worker
        .wait_logged("failpoint consumer::hang_batch: holding the batch")
        .await
        .expect("the line logged");
    worker
}

async fn second_signal_exits_at_once(first: &str, second: &str) {
    let p = Pipeline::new(true).await;
    let mut worker = worker_with_a_stuck_batch(&p, &[]).await;

    worker.signal(first);
    worker
        .wait_logged(&format!("SIG{first}: stopping"))
        .await
        .expect("the line logged");
    let stuck = worker.try_wait();
    assert!(
        stuck.is_none(),
        "the first shutdown waits for the stuck batch"
    );
    worker.signal(second);
    let status = worker
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("the process exits");

    assert_eq!(status.code(), Some(130), "{status}; log:\n{}", worker.log());
    assert_eq!(status.signal(), None, "exited, not killed");
    assert!(
        worker.log().contains("second signal: exiting now"),
        "{}",
        worker.log()
    );
}

#[tokio::test]
async fn a_second_sigterm_exits_at_once_while_the_first_shutdown_waits_for_a_stuck_batch() {
    second_signal_exits_at_once("TERM", "TERM").await;
}

#[tokio::test]
async fn a_sigint_after_a_sigterm_exits_at_once_too() {
    second_signal_exits_at_once("TERM", "INT").await;
}

#[tokio::test]
async fn a_batch_hung_past_the_processing_deadline_is_abandoned_returned_and_counted() {
    let p = Pipeline::new(true).await;
    let worker = p
        .worker_with(
            &[
                "--visibility-timeout",
                LONG_VISIBILITY,
                "--processing-deadline-ms",
                "3000",
            ],
            &[("FAILPOINTS", "consumer::hang_batch=1*return")],
        )
        .await;

    p.publish(&[restock("r1", "bread", 5)]).await;
    p.wait_for_count("SELECT count(*) FROM inbox", 1, Duration::from_secs(30))
        .await;

    let metrics = metrics(&worker).await;
    assert_eq!(
        counter(&metrics, "fulfil_messages_abandoned_total", ""),
        1.0,
        "{metrics}"
    );
    assert!(
        worker.log().contains("batch past its processing deadline"),
        "{}",
        worker.log()
    );
    p.wait_drained(Duration::from_secs(10)).await;
}
