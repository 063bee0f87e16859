//! The read side end to end: commands through SNS/SQS into `fulfil run` (or separate roles),
//! events through the relay and the projector into the read database, read back through the
//! query API, and `fulfil verify` agreeing with the write side's event log.

use std::process::Command;
use std::time::Duration;

use crate::harness::bodies::{place, restock};
use crate::harness::http_get as get;
use crate::pipeline::{Pipeline, RoleProcess};

const DRAIN: Duration = Duration::from_secs(240);

async fn read_count(p: &Pipeline, sql: &str) -> i64 {
    let pool = crate::harness::TestDb::pool_for(&p.settings.read_database_url).await;
    sqlx::query_scalar(sql)
        .fetch_one(&pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Waits until every outbox event is published and projected once.
async fn wait_projected(p: &Pipeline) {
    p.wait_for_count(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL",
        0,
        DRAIN,
    )
    .await;
    let events = p.count("SELECT count(*) FROM outbox").await;
    crate::harness::eventually(
        DRAIN,
        "every event applied to the read database",
        || async {
            (read_count(p, "SELECT events_applied FROM projection_state").await == events)
                .then_some(())
        },
    )
    .await;
}

fn verify(p: &Pipeline) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fulfil"))
        .arg("verify")
        .env(
            "FULFIL_WRITE_DATABASE_URL",
            p.settings.write_database_url.expose(),
        )
        .env(
            "FULFIL_READ_DATABASE_URL",
            p.settings.read_database_url.expose(),
        )
        .output()
        .expect("run fulfil verify");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn sale(p: &Pipeline, buyers: usize) {
    p.publish(&[restock("r-bread", "bread", buyers as i64)])
        .await;
    p.wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;
    let orders: Vec<String> = (0..buyers)
        .map(|i| place(&format!("c{i}"), &format!("o{i}"), &[("bread", 2)]))
        .collect();
    p.publish(&orders).await;
}

fn logged_addr(process: &RoleProcess, after: &str) -> String {
    let line = process
        .log()
        .lines()
        .find(|l| l.contains(after))
        .map(str::to_owned)
        .expect("address logged");
    line.split("addr=")
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .expect("addr=")
        .to_owned()
}

#[tokio::test]
async fn the_seed_flash_sale_through_fulfil_run_reads_back_exactly_and_verifies() {
    let p = Pipeline::new(true).await;
    let args = [
        "run",
        "--ops-addr",
        "127.0.0.1:0",
        "--relay-ops-addr",
        "127.0.0.1:0",
        "--projector-ops-addr",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
    ];
    let mut all = p.role(&args, &[], "all roles started").await;
    all.wait_logged("api started")
        .await
        .expect("the line logged");
    let api = logged_addr(&all, "api started");

    sale(&p, 1000).await;
    p.wait_for_count("SELECT count(*) FROM orders", 1000, DRAIN)
        .await;
    wait_projected(&p).await;

    let (status, product) = get(&format!("http://{api}/v1/products/bread")).await;
    assert_eq!(status, 200, "{product}");
    assert!(
        product.contains(r#""available":0"#) && product.contains(r#""confirmed_units":1000"#),
        "{product}"
    );
    let (_, stats) = get(&format!("http://{api}/v1/stats")).await;
    assert!(
        stats.contains(r#""confirmed":500"#) && stats.contains(r#""rejected":500"#),
        "{stats}"
    );
    assert!(stats.contains("event_lag_seconds"), "{stats}");
    let (_, order) = get(&format!("http://{api}/v1/orders/o7")).await;
    assert!(order.contains(r#""order_id":"o7""#), "{order}");
    let (clean, report) = verify(&p);
    assert!(clean, "{report}");
    assert!(report.contains("1000 orders"), "{report}");
}

#[tokio::test]
async fn two_relays_and_two_projectors_at_once_lose_no_event() {
    let p = Pipeline::new(true).await;
    let _roles = [
        p.worker(&[]).await,
        p.worker(&[]).await,
        p.relay(&[]).await,
        p.relay(&[]).await,
        p.projector(&[]).await,
        p.projector(&[]).await,
    ];

    sale(&p, 400).await;
    p.wait_for_count("SELECT count(*) FROM orders", 400, DRAIN)
        .await;
    wait_projected(&p).await;

    let (clean, report) = verify(&p);
    assert!(clean, "{report}");
}

#[tokio::test]
async fn a_relay_killed_mid_sale_and_restarted_leaves_a_verified_read_model() {
    let p = Pipeline::new(true).await;
    let _roles = [p.worker(&[]).await, p.projector(&[]).await];
    let mut relay = p.relay(&[]).await;
    sale(&p, 400).await;
    p.wait_for_count(
        "SELECT least(count(*), 100) FROM outbox WHERE published_at IS NOT NULL",
        100,
        DRAIN,
    )
    .await;

    relay.signal("KILL");
    relay
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the process exits");
    let _relay = p.relay(&[]).await;

    p.wait_for_count("SELECT count(*) FROM orders", 400, DRAIN)
        .await;
    wait_projected(&p).await;
    let (clean, report) = verify(&p);
    assert!(clean, "{report}");
}
