//! `fulfil relay` as a process: it relays what a worker wrote, serves its ops endpoints,
//! comes back after its database connections are killed, and stops on SIGTERM.

use std::time::Duration;

use super::concurrent::{assert_every_round_arrived_in_order, write_rounds};
use super::support::{append, assert_payloads_match, receive, stock_event, versions_by_aggregate};
use crate::harness::bodies::{cancel, place, restock};
use crate::pipeline::Pipeline;

#[tokio::test]
async fn fulfil_relay_relays_what_a_worker_wrote_and_stops_on_sigterm() {
    let p = Pipeline::new(true).await;
    let _worker = p.worker(&[]).await;
    let relay = p.relay(&[]).await;
    p.publish(&[restock("r1", "bread", 10)]).await;
    p.wait_for_count("SELECT count(*) FROM inbox", 1, Duration::from_secs(60))
        .await;
    p.publish(&[
        place("c1", "o1", &[("bread", 2)]),
        place("c2", "o2", &[("bread", 3)]),
    ])
    .await;
    p.wait_for_count("SELECT count(*) FROM inbox", 3, Duration::from_secs(60))
        .await;
    p.publish(&[cancel("c3", "o1")]).await;
    p.wait_for_count("SELECT count(*) FROM inbox", 4, Duration::from_secs(60))
        .await;

    p.wait_for_count(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL",
        0,
        Duration::from_secs(30),
    )
    .await;
    let events = p.count("SELECT count(*) FROM outbox").await as usize;
    let received = receive(&p, events).await;
    assert_payloads_match(&p.pool, &received).await;
    let versions = versions_by_aggregate(&received);
    assert_eq!(
        versions["order:o1"],
        vec![1, 2],
        "confirmed, then cancelled"
    );
    let bread = &versions["product:bread"];
    assert!(
        bread.windows(2).all(|w| w[0] < w[1]),
        "bread in order: {bread:?}"
    );
    assert_metrics(&relay.log(), events).await;

    let mut relay = relay;
    relay.signal("TERM");
    let status = relay
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the process exits");
    assert!(status.success(), "exit {status}; log:\n{}", relay.log());
    assert!(relay.log().contains("relay stopped"), "{}", relay.log());
}

/// The relay's /readyz says ready and /metrics counts what it published.
async fn assert_metrics(log: &str, events: usize) {
    let addr = log
        .lines()
        .filter(|l| l.contains("relay started"))
        .find_map(|l| {
            l.split("ops=")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .expect("ops address in the relay's log");
    crate::harness::eventually(Duration::from_secs(10), "relay readiness", || async {
        (crate::harness::http_get(&format!("http://{addr}/readyz"))
            .await
            .0
            == 200)
            .then_some(())
    })
    .await;
    let (status, metrics) = crate::harness::http_get(&format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(&format!("fulfil_relay_published_total {events}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("fulfil_relay_step_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("fulfil_outbox_unpublished 0"), "{metrics}");
}

#[tokio::test]
async fn after_its_database_connections_are_killed_the_relay_listens_again_and_relays() {
    let p = Pipeline::new(true).await;
    // A poll so slow that only a NOTIFY can wake the relay within the test's deadline.
    let relay = p.relay(&["--poll-interval-ms", "120000"]).await;
    append(&p.pool, &[stock_event("p", 1)]).await;
    assert_eq!(receive(&p, 1).await[0].event.version, 1);

    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&p.pool)
    .await
    .expect("terminate the relay's connections");
    assert!(!killed.is_empty(), "the relay had connections to kill");
    crate::harness::eventually(Duration::from_secs(15), "the listener back", || async {
        relay.log().contains("NOTIFY listener back").then_some(())
    })
    .await;
    append(&p.pool, &[stock_event("p", 2)]).await;

    let received = receive(&p, 1).await;
    assert_eq!(received[0].event.version, 2);
    assert_eq!(
        relay.log().matches("NOTIFY listener lost").count(),
        1,
        "{}",
        relay.log()
    );
}

#[tokio::test]
async fn fulfil_relay_refuses_to_start_without_its_topic_or_with_a_bad_batch_size() {
    let p = Pipeline::new(true).await;
    let run = |extra: &[&str], prefix: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fulfil"))
            .args(["relay", "--ops-addr", "127.0.0.1:0"])
            .args(extra)
            .env(
                "FULFIL_WRITE_DATABASE_URL",
                p.settings.write_database_url.expose(),
            )
            .env(
                "AWS_ENDPOINT_URL",
                p.settings.aws.endpoint_url.as_deref().unwrap_or_default(),
            )
            .env("FULFIL_QUEUE_PREFIX", prefix)
            .output()
            .expect("run fulfil relay")
    };

    let missing = run(&[], &crate::harness::unique("none"));
    let bad_batch = run(&["--batch-size", "0"], &p.settings.topology.prefix);

    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("run `fulfil setup` first"), "{stderr}");
    assert!(!bad_batch.status.success());
    let stderr = String::from_utf8_lossy(&bad_batch.stderr);
    assert!(
        stderr.contains("FULFIL_RELAY_BATCH (--batch-size): \"0\""),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_relay_with_several_steps_in_flight_publishes_a_backlog_once_each_in_order() {
    let p = Pipeline::new(true).await;
    let written = write_rounds(&p.pool).await;

    let _relay = p
        .relay(&["--steps-in-flight", "4", "--batch-size", "7"])
        .await;

    p.wait_for_count(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL",
        0,
        Duration::from_secs(60),
    )
    .await;
    assert_every_round_arrived_in_order(&p, written).await;
    assert!(
        super::support::receive_batch(&p, 1).await.is_empty(),
        "nothing beyond the 300"
    );
}
