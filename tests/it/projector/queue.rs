//! Through the projector queue: deliveries shuffled, reversed and duplicated, an event never
//! delivered, and two `fulfil projector` processes sharing one FIFO queue.

use std::process::Command;
use std::time::Duration;

use fulfil::contract::event::ChangeEvent;
use fulfil::projector::sample::history;
use rand::seq::SliceRandom;

use super::{
    depth, send, shuffled_with_duplicates, start, wait_applied, wait_drained, wait_verified, Dbs,
};
use crate::harness;
use crate::pipeline::{Pipeline, RoleProcess};

#[tokio::test]
async fn shuffled_and_duplicated_events_on_a_standard_queue_end_in_a_verified_read_model() {
    let p = Pipeline::new(false).await;
    let dbs = Dbs::of(&p).await;
    let log = history(40, 2, 10);
    dbs.log(&log).await;
    let arrivals = shuffled_with_duplicates(&log, 20);
    send(&p, &arrivals).await;
    let projector = start(&p, &dbs.read);
    wait_verified(&dbs, Duration::from_secs(90)).await;
    wait_drained(&p, Duration::from_secs(30)).await;
    projector.stop().await;
    let report = dbs.assert_verified().await;
    assert_eq!((report.orders, report.products), (40, 2));
    assert_eq!(depth(&p, &p.provisioned.projector_dlq.url).await.0, 0);
    let applied = dbs
        .scalar("SELECT events_applied FROM projection_state")
        .await;
    assert!(applied <= log.len() as i64, "{applied} of {}", log.len());
}

/// The events of the one sample product, v1 to v55: a restock, then a version per order
/// confirmed (every tenth is rejected).
fn one_product() -> Vec<ChangeEvent> {
    let stock: Vec<ChangeEvent> = history(60, 1, 1)
        .into_iter()
        .filter(|e| e.aggregate_id == "p-0")
        .collect();
    assert_eq!(stock.len(), 55);
    stock
}

async fn product_version(dbs: &Dbs) -> i64 {
    dbs.scalar("SELECT coalesce(max(version), 0) FROM read_products WHERE product_id = 'p-0'")
        .await
}

async fn wait_product_version(dbs: &Dbs, version: i64) {
    let what = format!("p-0 at version {version} in the read database");
    harness::eventually(Duration::from_secs(60), &what, || async {
        (product_version(dbs).await == version).then_some(())
    })
    .await;
}

#[tokio::test]
async fn one_products_events_reversed_then_shuffled_on_a_standard_queue_end_at_its_last_version() {
    let p = Pipeline::new(false).await;
    let dbs = Dbs::of(&p).await;
    let stock = one_product();
    dbs.log(&stock).await;
    let mut arrivals: Vec<ChangeEvent> = stock.iter().rev().cloned().collect();
    let mut shuffled = stock.clone();
    shuffled.shuffle(&mut rand::rng());
    arrivals.extend(shuffled);
    send(&p, &arrivals).await;
    let projector = start(&p, &dbs.read);
    wait_product_version(&dbs, 55).await;
    wait_drained(&p, Duration::from_secs(30)).await;
    let retried = projector.stats.retried();
    projector.stop().await;
    assert_eq!(retried, 0, "no event waited for another");
    assert_eq!(depth(&p, &p.provisioned.projector_dlq.url).await.0, 0);
    dbs.assert_verified().await;
}

#[tokio::test]
async fn an_event_never_delivered_does_not_hold_back_the_versions_after_it() {
    let p = Pipeline::new(false).await;
    let dbs = Dbs::of(&p).await;
    let stock = one_product();
    dbs.log(&stock).await;
    let projector = start(&p, &dbs.read);
    send(&p, &stock[..2]).await;
    wait_product_version(&dbs, 2).await;
    send(&p, &stock[3..4]).await;
    wait_product_version(&dbs, 4).await;
    send(&p, &stock[4..]).await;
    wait_product_version(&dbs, 55).await;
    wait_drained(&p, Duration::from_secs(30)).await;
    let retried = projector.stats.retried();
    projector.stop().await;
    assert_eq!(retried, 0, "no event waited for version 3");
    assert_eq!(depth(&p, &p.provisioned.projector_dlq.url).await.0, 0);
    dbs.assert_verified().await;
}

#[tokio::test]
async fn two_projector_processes_on_one_fifo_queue_build_a_verified_read_model() {
    let p = Pipeline::new(true).await;
    let dbs = Dbs::of(&p).await;
    let log = history(150, 3, 10);
    dbs.log(&log).await;
    let mut projectors = vec![start_projector(&p).await, start_projector(&p).await];
    send(&p, &log).await;
    wait_applied(&dbs, log.len(), Duration::from_secs(90)).await;
    wait_drained(&p, Duration::from_secs(30)).await;
    dbs.assert_verified().await;
    let mut applied = 0;
    for (_, ops) in &projectors {
        let (_, metrics) = harness::http_get(&format!("http://{ops}/metrics")).await;
        assert!(
            metrics.contains("fulfil_projection_lag_seconds_bucket"),
            "{metrics}"
        );
        applied += counter(
            &metrics,
            r#"fulfil_projector_events_total{result="applied"}"#,
        );
    }
    assert_eq!(
        applied,
        log.len() as u64,
        "each event applied once, by one of the two"
    );
    for (projector, _) in &mut projectors {
        projector.signal("TERM");
        let status = projector
            .wait_exit(Duration::from_secs(30))
            .await
            .expect("the process exits");
        assert!(status.success(), "{status}:\n{}", projector.log());
    }
}

/// The value of a counter in a Prometheus text exposition (0 when absent).
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// A `fulfil projector` (2 polls) on the pipeline's read database and queue, and the ops
/// address its start line names.
async fn start_projector(p: &Pipeline) -> (RoleProcess, String) {
    let endpoint = p.settings.aws.endpoint_url.clone().unwrap_or_default();
    let mut command = Command::new(env!("CARGO_BIN_EXE_fulfil"));
    command
        .args([
            "projector",
            "--ops-addr",
            "127.0.0.1:0",
            "--concurrency",
            "2",
        ])
        .env(
            "FULFIL_READ_DATABASE_URL",
            p.settings.read_database_url.expose(),
        )
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("FULFIL_QUEUE_PREFIX", &p.settings.topology.prefix)
        .env(
            "FULFIL_STANDARD_QUEUES",
            (!p.settings.topology.fifo).to_string(),
        )
        .env("FULFIL_VISIBILITY_TIMEOUT", "5")
        .env("RUST_LOG", "info");
    let mut process = RoleProcess::spawn(command, "fulfil-projector").expect("start the process");
    let ops = process
        .logged_field("projector started", "ops")
        .await
        .expect("the start line");
    (process, ops)
}
