//! `fulfil relay` while a dependency is down: it backs off and keeps trying, says so once
//! per outage, reports not ready while the database is gone, and relays what waited once the
//! dependency is back.

use std::time::Duration;

use sqlx::Connection;

use super::support::{append, receive, stock_event};
use crate::harness::eventually;
use crate::harness::http_get as get;
use crate::pipeline::Pipeline;
use fulfil_testkit::fault_proxy::{upstream_of, Fault, FaultProxy};

fn ops_addr(log: &str) -> String {
    log.lines()
        .filter(|l| l.contains("relay started"))
        .find_map(|l| {
            l.split("ops=")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .expect("ops address in the relay's log")
}

/// `ALTER DATABASE … ALLOW_CONNECTIONS` (binding for superusers too) and, when closing,
/// every open connection to it terminated: the database is gone for its clients.
async fn set_reachable(p: &Pipeline, reachable: bool) {
    let url = p.settings.write_database_url.expose();
    let mut admin_url = url::Url::parse(url).expect("database URL");
    let name = admin_url.path().trim_start_matches('/').to_owned();
    admin_url.set_path("/postgres");
    let mut admin = sqlx::PgConnection::connect(admin_url.as_str())
        .await
        .expect("connect to the maintenance database");
    sqlx::query(&format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS {reachable}"
    ))
    .execute(&mut admin)
    .await
    .expect("ALTER DATABASE");
    if !reachable {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&name)
            .execute(&mut admin)
            .await
            .expect("terminate connections");
    }
}

#[tokio::test]
async fn a_write_database_outage_pauses_the_relay_once_and_it_resumes_after() {
    let p = Pipeline::new(true).await;
    let relay = p.relay(&["--poll-interval-ms", "100"]).await;
    let addr = ops_addr(&relay.log());
    eventually(Duration::from_secs(10), "ready", || async {
        (get(&format!("http://{addr}/readyz")).await.0 == 200).then_some(())
    })
    .await;

    set_reachable(&p, false).await;
    eventually(Duration::from_secs(15), "the outage noticed", || async {
        relay
            .log()
            .contains("relay paused: write database unavailable")
            .then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "not ready", || async {
        (get(&format!("http://{addr}/readyz")).await.0 == 503).then_some(())
    })
    .await;
    set_reachable(&p, true).await;
    append(&p.pool, &[stock_event("p", 1)]).await;

    assert_eq!(receive(&p, 1).await[0].event.version, 1);
    let log = relay.log();
    assert_eq!(
        log.matches("relay paused").count(),
        1,
        "one warning per outage:\n{log}"
    );
    eventually(Duration::from_secs(10), "the recovery logged", || async {
        relay.log().contains("relay resumed").then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_sns_outage_pauses_the_relay_once_and_what_waited_arrives_in_order_after() {
    let p = Pipeline::new(true).await;
    let localstack = p
        .settings
        .aws
        .endpoint_url
        .clone()
        .expect("LocalStack endpoint");
    let proxy = FaultProxy::start(&upstream_of(&localstack)).await;
    let through_proxy = format!("http://{}", proxy.addr);
    let relay = p
        .relay(&[
            "--poll-interval-ms",
            "100",
            "--aws-endpoint-url",
            &through_proxy,
        ])
        .await;
    append(&p.pool, &[stock_event("p", 1)]).await;
    assert_eq!(receive(&p, 1).await[0].event.version, 1);

    proxy.set(Fault::Refuse);
    append(&p.pool, &[stock_event("p", 2), stock_event("p", 3)]).await;
    eventually(Duration::from_secs(30), "the outage noticed", || async {
        relay
            .log()
            .contains("relay paused: SNS unavailable")
            .then_some(())
    })
    .await;
    assert_eq!(
        p.count("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .await,
        2,
        "nothing marked while SNS is down"
    );
    proxy.set(Fault::Pass);

    let received = receive(&p, 2).await;
    let versions: Vec<i64> = received.iter().map(|r| r.event.version).collect();
    assert_eq!(versions, vec![2, 3]);
    let log = relay.log();
    assert_eq!(
        log.matches("relay paused").count(),
        1,
        "one warning per outage:\n{log}"
    );
}
