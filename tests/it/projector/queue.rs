//! Through the projector queue: deliveries shuffled and duplicated, a gap that waits for its
//! predecessor, and two `fulfil projector` processes sharing one FIFO queue.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fulfil::projector::sample::history;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{depth, send, shuffled_with_duplicates, start, wait_applied, wait_drained, Dbs};
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
    wait_applied(&dbs, log.len(), Duration::from_secs(90)).await;
    wait_drained(&p, Duration::from_secs(30)).await;
    projector.stop().await;
    let report = dbs.assert_verified().await;
    assert_eq!((report.orders, report.products), (40, 2));
    assert_eq!(depth(&p, &p.provisioned.projector_dlq.url).await.0, 0);
}

#[tokio::test]
async fn a_gap_waits_for_redelivery_and_is_applied_once_its_predecessor_arrives() {
    let p = Pipeline::new(false).await;
    let dbs = Dbs::of(&p).await;
    let order: Vec<_> = history(4, 1, 1)
        .into_iter()
        .filter(|e| e.aggregate_id == "o-3")
        .collect();
    assert_eq!(order.len(), 2, "o-3 is confirmed, then cancelled");
    dbs.log(&order).await;
    send(&p, &order[1..]).await;
    let projector = start(&p, &dbs.read);
    harness::eventually(Duration::from_secs(20), "the gap to be retried", || async {
        (projector.stats.retried() >= 1).then_some(())
    })
    .await;
    assert_eq!(dbs.scalar("SELECT count(*) FROM read_orders").await, 0);
    send(&p, &order[..1]).await;
    wait_applied(&dbs, 2, Duration::from_secs(30)).await;
    wait_drained(&p, Duration::from_secs(30)).await;
    projector.stop().await;
    let status: String =
        sqlx::query_scalar("SELECT status FROM read_orders WHERE order_id = 'o-3'")
            .fetch_one(&dbs.read)
            .await
            .expect("o-3");
    assert_eq!(status, "cancelled");
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
