//! Through the projector queue: deliveries shuffled, reversed and duplicated, an event never
//! delivered, and two `fulfil projector` processes sharing one FIFO queue.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fulfil::contract::event::ChangeEvent;
use fulfil::projector::sample::history;
use rand::seq::SliceRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    depth, send, shuffled_with_duplicates, start, wait_applied, wait_drained, wait_verified, Dbs,
};
use crate::harness;
use crate::pipeline::Pipeline;

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
    let mut projectors = vec![
        ProjectorProcess::start(&p).await,
        ProjectorProcess::start(&p).await,
    ];
    send(&p, &log).await;
    wait_applied(&dbs, log.len(), Duration::from_secs(90)).await;
    wait_drained(&p, Duration::from_secs(30)).await;
    dbs.assert_verified().await;
    let mut applied = 0;
    for projector in &projectors {
        let metrics = projector.metrics().await;
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
    for projector in &mut projectors {
        projector.signal("TERM");
        let status = projector.wait_exit(Duration::from_secs(30)).await;
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

/// A running `fulfil projector`; killed when dropped so no test leaves one behind.
struct ProjectorProcess {
    child: Child,
    log_path: std::path::PathBuf,
    ops: String,
}

impl ProjectorProcess {
    async fn start(p: &Pipeline) -> ProjectorProcess {
        let log_path = std::env::temp_dir().join(format!("{}.log", harness::unique("projector")));
        let log = std::fs::File::create(&log_path).expect("projector log file");
        let endpoint = p.settings.aws.endpoint_url.clone().unwrap_or_default();
        let child = Command::new(env!("CARGO_BIN_EXE_fulfil"))
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
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start fulfil projector");
        let mut process = ProjectorProcess {
            child,
            log_path,
            ops: String::new(),
        };
        process.ops = process.wait_started().await;
        process
    }

    /// Waits for the start line and returns the ops address it names.
    async fn wait_started(&mut self) -> String {
        let what = "fulfil projector to start";
        harness::eventually(Duration::from_secs(30), what, || {
            let log = self.log();
            let exited = self.child.try_wait().expect("try_wait");
            assert!(exited.is_none(), "fulfil projector exited at start:\n{log}");
            let line = log
                .lines()
                .find(|l| l.contains("projector started"))
                .map(str::to_owned);
            async move { line }
        })
        .await
        .split_whitespace()
        .find_map(|word| word.strip_prefix("ops="))
        .expect("the start line names the ops address")
        .to_owned()
    }

    async fn metrics(&self) -> String {
        let mut stream = tokio::net::TcpStream::connect(&self.ops)
            .await
            .expect("connect ops");
        let request = format!("GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n", self.ops);
        stream.write_all(request.as_bytes()).await.expect("request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("response");
        response
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    async fn wait_exit(&mut self, deadline: Duration) -> std::process::ExitStatus {
        let what = "fulfil projector to exit";
        harness::eventually(deadline, what, || {
            let status = self.child.try_wait().expect("try_wait");
            async move { status }
        })
        .await
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for ProjectorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
