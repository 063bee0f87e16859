//! A dependency outage stops the worker from receiving, so receive counts are not burnt and
//! no valid command reaches the DLQ; when the dependency is back the worker resumes alone.

use std::time::Duration;

use crate::harness::bodies::{place, restock};
use crate::harness::TestRole;
use crate::pipeline::{Pipeline, RoleProcess};
use fulfil_testkit::fault_proxy::{upstream_of, Fault, FaultProxy};

const DRAIN: Duration = Duration::from_secs(120);

/// How a test takes the dependency away and gives it back.
enum Switch<'a> {
    /// The worker's traffic through a proxy fails as the fault says.
    Proxy(&'a FaultProxy, Fault),
    /// The worker's database role is refused every new connection (SQLSTATE 53300,
    /// too_many_connections) and its open sessions are ended: a server out of connections.
    NoConnections(&'a TestRole),
}

impl Switch<'_> {
    async fn down(&self) {
        match self {
            Switch::Proxy(proxy, fault) => proxy.set(*fault),
            Switch::NoConnections(role) => {
                role.limit_connections(0).await;
                role.end_sessions().await;
            }
        }
    }

    async fn up(&self) {
        match self {
            Switch::Proxy(proxy, _) => proxy.set(Fault::Pass),
            Switch::NoConnections(role) => role.limit_connections(-1).await,
        }
    }
}

/// With 2 receives before the DLQ and a 5 s visibility timeout, a worker that kept
/// receiving through a 12 s outage would push the waiting commands into the DLQ.
async fn sale_through_an_outage(p: &Pipeline, worker: &RoleProcess, outage: Switch<'_>) {
    p.publish(&[restock("r", "bread", 100)]).await;
    p.wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;

    outage.down().await;
    let orders: Vec<String> = (0..20)
        .map(|i| place(&format!("c{i}"), &format!("o{i}"), &[("bread", 1)]))
        .collect();
    p.publish(&orders).await;
    tokio::time::sleep(Duration::from_secs(12)).await; // the outage itself
    assert_eq!(
        p.count("SELECT count(*) FROM orders").await,
        0,
        "nothing applied during the outage"
    );
    outage.up().await;

    p.wait_for_count(
        "SELECT count(*) FROM orders WHERE status = 'confirmed'",
        20,
        DRAIN,
    )
    .await;
    p.wait_drained(DRAIN).await;
    p.assert_invariants().await;
    assert!(
        worker.log().contains("outage: receiving paused"),
        "the outage was logged:\n{}",
        worker.log()
    );
}

async fn survives_an_outage_of(dependency: &str, fault: Fault) {
    let p = Pipeline::with_receive_count(true, 2).await;
    let real = match dependency {
        "redis" => crate::harness::redis_url(),
        _ => p.settings.write_database_url.expose().to_owned(),
    };
    let proxy = FaultProxy::start(&upstream_of(&real)).await;
    let through = proxy.url_through(&real);
    let var = if dependency == "redis" {
        "FULFIL_REDIS_URL"
    } else {
        "FULFIL_WRITE_DATABASE_URL"
    };
    let worker = p.worker_with(&[], &[(var, through.as_str())]).await;
    sale_through_an_outage(&p, &worker, Switch::Proxy(&proxy, fault)).await;
}

#[tokio::test]
async fn a_redis_outage_holds_the_work_and_sends_nothing_to_the_dlq() {
    survives_an_outage_of("redis", Fault::Refuse).await;
}

#[tokio::test]
async fn a_write_database_outage_holds_the_work_and_sends_nothing_to_the_dlq() {
    survives_an_outage_of("postgres", Fault::Reset).await;
}

#[tokio::test]
async fn a_black_holed_redis_is_an_outage_too() {
    survives_an_outage_of("redis", Fault::BlackHole).await;
}

/// Too many connections is an outage like any other: the batch is held, never split and
/// dead-lettered, and the sale completes once connections are allowed again.
#[tokio::test]
async fn too_many_connections_hold_the_work_and_send_nothing_to_the_dlq() {
    let p = Pipeline::with_receive_count(true, 2).await;
    let role = TestRole::create().await;
    let url = role.url(&p.settings.write_database_url);
    let worker = p
        .worker_with(&[], &[("FULFIL_WRITE_DATABASE_URL", url.expose())])
        .await;
    sale_through_an_outage(&p, &worker, Switch::NoConnections(&role)).await;
    drop(worker);
    role.drop_role().await;
}
