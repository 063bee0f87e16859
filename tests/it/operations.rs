//! What an operator sees of a running worker: health, readiness and metrics over HTTP, and
//! the kept invalid commands through `fulfil invalid list` and `replay`.

use std::process::Command;
use std::time::Duration;

use crate::harness::bodies::restock;
use crate::harness::http_get as get;
use crate::pipeline::Pipeline;

#[tokio::test]
async fn a_running_worker_reports_health_readiness_and_its_counters() {
    let p = Pipeline::new(true).await;
    let worker = p.worker(&[]).await;
    let addr = worker
        .log()
        .lines()
        .find_map(|l| {
            l.split("ops=")
                .nth(1)
                .map(|a| a.split_whitespace().next().unwrap_or("").to_owned())
        })
        .expect("ops address in the log");
    p.publish(&[restock("r1", "bread", 5), "{broken".to_owned()])
        .await;
    p.wait_for_count(
        "SELECT count(*) FROM invalid_commands",
        1,
        Duration::from_secs(60),
    )
    .await;

    assert_eq!(get(&format!("http://{addr}/healthz")).await.0, 200);
    crate::harness::eventually(Duration::from_secs(10), "readiness", || async {
        (get(&format!("http://{addr}/readyz")).await.0 == 200).then_some(())
    })
    .await;
    // The two may come in separate receives: the restock's count can trail the invalid one.
    crate::harness::eventually(Duration::from_secs(10), "the restock counted", || async {
        let (_, metrics) = get(&format!("http://{addr}/metrics")).await;
        metrics
            .contains("fulfil_commands_total{outcome=\"RESTOCKED\"} 1")
            .then_some(())
    })
    .await;
    let (status, metrics) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("fulfil_invalid_total 1"), "{metrics}");
    assert!(
        metrics.contains("fulfil_batch_duration_seconds_bucket"),
        "{metrics}"
    );
    let url = &p.provisioned.commands_queue.url;
    let queue = format!("queue=\"{}\"", url.rsplit('/').next().expect("a name"));
    assert!(series(&metrics, "fulfil_consumer_receive_calls_total", &[&queue]) >= 1);
    // Deleted after their commit: the scrape may come a moment before.
    crate::harness::eventually(Duration::from_secs(10), "both messages deleted", || async {
        let (_, metrics) = get(&format!("http://{addr}/metrics")).await;
        let deleted = series(
            &metrics,
            "fulfil_consumer_messages_total",
            &[&queue, "event=\"deleted\""],
        );
        (deleted == 2).then_some(())
    })
    .await;
}

/// The value of the one series of `name` whose labels hold every one of `labels` (0 if none).
fn series(metrics: &str, name: &str, labels: &[&str]) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_kept_invalid_command_is_listed_and_replayed_corrected() {
    let p = Pipeline::new(true).await;
    let _worker = p.worker(&[]).await;
    p.publish(&[
        r#"{"version":1,"command_id":"r1","type":"Restock","product_id":"bread","quantity":0}"#
            .to_owned(),
    ])
    .await;
    p.wait_for_count(
        "SELECT count(*) FROM invalid_commands",
        1,
        Duration::from_secs(60),
    )
    .await;
    let fulfil = |args: &[&str]| {
        let (ok, stdout, stderr) = p.cli(args);
        assert!(ok, "{stderr}");
        stdout
    };

    let table = fulfil(&["invalid", "list"]);
    assert!(
        table.contains("quantity: 0 is below the minimum 1"),
        "{table}"
    );
    let id = fulfil(&["invalid", "list", "--format", "json"]);
    let id = serde_json::from_str::<serde_json::Value>(&id).unwrap()[0]["id"].to_string();
    let fixed = std::env::temp_dir().join(format!("{}.json", crate::harness::unique("fixed")));
    std::fs::write(&fixed, restock("r1", "bread", 3)).unwrap();
    let replayed = fulfil(&[
        "invalid",
        "replay",
        &id,
        "--body-file",
        fixed.to_str().unwrap(),
    ]);

    assert!(
        replayed.starts_with(&format!("replayed invalid command {id}")),
        "{replayed}"
    );
    p.wait_for_count("SELECT available FROM products", 3, Duration::from_secs(60))
        .await;
    assert_eq!(
        p.count("SELECT count(*) FROM invalid_commands WHERE replayed_at IS NOT NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn healthcheck_exits_0_against_a_live_worker_and_1_against_nothing() {
    let p = Pipeline::new(true).await;
    let worker = p.worker(&[]).await;
    let addr = worker
        .log()
        .lines()
        .find_map(|l| {
            l.split("ops=")
                .nth(1)
                .map(|a| a.split_whitespace().next().unwrap_or("").to_owned())
        })
        .expect("ops address in the log");
    let check = |addr: &str| {
        Command::new(env!("CARGO_BIN_EXE_fulfil"))
            .args(["healthcheck", "--ops-addr", addr])
            .output()
            .expect("run fulfil")
    };

    let live = check(&addr);
    let dead = check("127.0.0.1:9");

    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    assert!(!dead.status.success());
    assert!(String::from_utf8_lossy(&dead.stderr).contains("127.0.0.1:9"));
}
