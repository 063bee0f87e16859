//! An outage during an invocation, through a fault proxy in front of Redis or the write
//! database: the handler waits for the dependency within the invocation's time, so a 10 s
//! outage fails no record (nothing burns a receive towards the DLQ); an outage that outlasts
//! the invocation reports the records failed, for SQS to redeliver, with nothing applied.

use std::time::Duration;

use fulfil::config::validate_url;
use fulfil::db::Database;
use fulfil::lambda::handle_sqs_event;
use fulfil::lock::{LockConfig, StockLock};
use fulfil::stock_cache::StockCache;
use fulfil::worker::Worker;
use tokio::time::Instant;

use super::{deadline_in, event, failed_ids, plenty};
use crate::harness::bodies::{place, restock};
use crate::harness::{redis_url, TestWorker};
use fulfil_testkit::fault_proxy::{upstream_of, Fault, FaultProxy};

const OUTAGE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
enum Dependency {
    Redis,
    WriteDatabase,
}

/// A test worker, and a second worker on the same database and keys whose `dependency` is
/// reached through `proxy`; the test reads the outcome through the first, never cut off.
struct BehindAProxy {
    w: TestWorker,
    worker: Worker,
    proxy: FaultProxy,
}

impl BehindAProxy {
    async fn start(dependency: Dependency) -> BehindAProxy {
        let w = TestWorker::new().await;
        let real = match dependency {
            Dependency::Redis => redis_url(),
            Dependency::WriteDatabase => w.db.url.expose().to_owned(),
        };
        let proxy = FaultProxy::start(&upstream_of(&real)).await;
        let through = proxy.url_through(&real);
        let (pool, redis) = match dependency {
            Dependency::Redis => {
                let url = validate_url("redis", &through, &["redis"]).expect("Redis URL");
                let redis = fulfil::run::connect_redis(&url.into())
                    .await
                    .expect("Redis");
                (w.pool.clone(), redis)
            }
            Dependency::WriteDatabase => {
                let url = validate_url("db", &through, &["postgres", "postgresql"]).expect("URL");
                let pool = fulfil::db::connect(Database::Write, &url, 6)
                    .await
                    .expect("write database");
                (pool, w.redis.clone().into())
            }
        };
        let lock_config = LockConfig {
            key_prefix: w.key_prefix.clone(),
            ..LockConfig::default()
        };
        let locks = StockLock::new(redis.clone(), lock_config);
        let cache = StockCache::new(redis, &w.key_prefix);
        let worker = Worker::new(pool, locks, cache, Default::default());
        BehindAProxy { w, worker, proxy }
    }

    async fn restocked(&self) {
        let restock = event(&[restock("r", "bread", 100)], 100);
        let response = handle_sqs_event(&self.worker, restock, true, plenty()).await;
        assert!(failed_ids(&response).is_empty(), "precondition: restocked");
    }
}

fn ten_orders() -> Vec<String> {
    (0..10)
        .map(|i| place(&format!("c{i}"), &format!("o{i}"), &[("bread", 1)]))
        .collect()
}

/// A 10 s outage inside a 30 s invocation: held, then every record applied, none failed.
async fn rides_out_a_10_s_outage_of(dependency: Dependency, fault: Fault) {
    let o = BehindAProxy::start(dependency).await;
    o.restocked().await;

    o.proxy.set(fault);
    let started = Instant::now();
    let worker = o.worker.clone();
    let invocation = tokio::spawn(async move {
        handle_sqs_event(&worker, event(&ten_orders(), 0), true, deadline_in(30)).await
    });
    tokio::time::sleep(OUTAGE).await;
    let during = o.w.count("SELECT count(*) FROM orders").await;
    o.proxy.set(Fault::Pass);
    let response = invocation.await.expect("the handler does not panic");

    assert_eq!(
        during, 0,
        "nothing applied during the {dependency:?} outage"
    );
    assert!(
        failed_ids(&response).is_empty(),
        "no record failed: {:?}",
        failed_ids(&response)
    );
    assert!(
        started.elapsed() >= OUTAGE,
        "the invocation waited the outage out"
    );
    assert!(
        started.elapsed() < Duration::from_secs(28),
        "and answered in time"
    );
    let confirmed = "SELECT count(*) FROM orders WHERE status = 'confirmed'";
    assert_eq!(o.w.count(confirmed).await, 10);
    assert_eq!(o.w.available("bread").await, Some(90));
}

#[tokio::test]
async fn a_10_s_redis_outage_inside_the_invocation_fails_no_record() {
    rides_out_a_10_s_outage_of(Dependency::Redis, Fault::Refuse).await;
}

#[tokio::test]
async fn a_10_s_write_database_outage_inside_the_invocation_fails_no_record() {
    rides_out_a_10_s_outage_of(Dependency::WriteDatabase, Fault::Reset).await;
}

/// A 10 s outage in a 5 s invocation: every record reported failed before the deadline,
/// none applied; the redelivery after the outage applies each exactly once.
#[tokio::test]
async fn an_outage_longer_than_the_invocation_reports_every_record_failed_and_loses_none() {
    let o = BehindAProxy::start(Dependency::Redis).await;
    o.restocked().await;
    let ids: Vec<String> = (0..10).map(|i| format!("m-{i}")).collect();

    o.proxy.set(Fault::Refuse);
    let started = Instant::now();
    let response =
        handle_sqs_event(&o.worker, event(&ten_orders(), 0), false, deadline_in(5)).await;
    let answered_in = started.elapsed();

    assert_eq!(failed_ids(&response), ids, "every record reported failed");
    assert!(
        answered_in < Duration::from_secs(5),
        "answered before the deadline: {answered_in:?}"
    );
    assert_eq!(
        o.w.count("SELECT count(*) FROM orders").await,
        0,
        "none applied"
    );

    tokio::time::sleep(OUTAGE.saturating_sub(answered_in)).await;
    o.proxy.set(Fault::Pass);
    let redelivered = handle_sqs_event(&o.worker, event(&ten_orders(), 0), false, plenty()).await;

    assert!(
        failed_ids(&redelivered).is_empty(),
        "{:?}",
        failed_ids(&redelivered)
    );
    assert_eq!(o.w.count("SELECT count(*) FROM orders").await, 10);
    assert_eq!(o.w.available("bread").await, Some(90));
}
