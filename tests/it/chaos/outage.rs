//! The write database, the read database and Redis all gone at once, mid flash sale, for
//! longer than many visibility timeouts (1 s here) with only two receives before the DLQ:
//! a worker that kept receiving would push the waiting orders into the DLQ. Each process
//! reaches its dependency through its own loopback fault proxy (the shared services keep
//! running for the tests beside this one).

use std::time::Duration;

use super::{assert_clean, sale, Run, DRAIN};
use fulfil_testkit::fault_proxy::{upstream_of, Fault, FaultProxy};

const OUTAGE: Duration = Duration::from_secs(15);

#[tokio::test]
async fn databases_and_redis_down_together_mid_sale_send_no_valid_command_to_the_dlq() {
    let run = Run::new(true, 2).await;
    let settings = &run.p.settings;
    let (write, read) = (
        settings.write_database_url.expose(),
        settings.read_database_url.expose(),
    );
    let redis = crate::harness::redis_url();
    let postgres = FaultProxy::start(&upstream_of(write)).await;
    let redis_proxy = FaultProxy::start(&upstream_of(&redis)).await;
    let (write_via, read_via) = (postgres.url_through(write), postgres.url_through(read));
    let redis_via = redis_proxy.url_through(&redis);
    let short = ("FULFIL_VISIBILITY_TIMEOUT", "1");
    let worker_env = [
        ("FULFIL_WRITE_DATABASE_URL", write_via.as_str()),
        ("FULFIL_REDIS_URL", redis_via.as_str()),
        short,
    ];
    let _workers = [
        run.p.worker_with(&[], &worker_env).await,
        run.p.worker_with(&[], &worker_env).await,
    ];
    let relay_env = [("FULFIL_WRITE_DATABASE_URL", write_via.as_str())];
    let _relay = run.p.relay_with(&[], &relay_env).await;
    let _projector = run
        .p
        .projector_with(&[("FULFIL_READ_DATABASE_URL", read_via.as_str()), short])
        .await;
    let (restock, orders) = sale("bread", 100, 150, 1);
    run.publish(&[restock]).await;
    run.p
        .wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;
    run.publish(&orders).await;
    run.p
        .wait_for_count("SELECT least(count(*), 20) FROM orders", 20, DRAIN)
        .await;

    postgres.set(Fault::Reset);
    redis_proxy.set(Fault::BlackHole);
    tokio::time::sleep(Duration::from_secs(1)).await; // the outage itself
    let before = run.p.count("SELECT count(*) FROM orders").await;
    tokio::time::sleep(OUTAGE).await;
    let after = run.p.count("SELECT count(*) FROM orders").await;
    postgres.set(Fault::Pass);
    redis_proxy.set(Fault::Pass);
    assert_eq!(before, after, "nothing was applied during the outage");
    assert!(after < 151, "the outage began before the sale ended");

    let report = run.finish().await;
    assert_clean(&report);
    assert_eq!((report.in_dlq, report.in_projector_dlq), (0, 0));
    assert_eq!(report.applied + report.rejected, 151);
    assert_eq!(
        run.p
            .count("SELECT count(*) FROM orders WHERE status = 'confirmed'")
            .await,
        100
    );
}
