//! Redis at `maxmemory` under `noeviction` (a server of the test's own): writes are refused
//! with `OOM` while PING still answers. The worker must read that as an outage of Redis (hold,
//! never fail the messages), say so, and report itself unhealthy until memory is back.

use std::time::Duration;

use fulfil::worker::{Incoming, WorkerError};

use super::confirmed;
use super::own_redis::OwnRedis;
use crate::chaos::ops_addr;
use crate::harness::bodies::{place, restock};
use crate::harness::http_get as get;
use crate::harness::{eventually, TestWorker};
use crate::pipeline::Pipeline;

#[tokio::test]
async fn out_of_memory_is_an_outage_that_says_so_and_unhealthy_until_memory_is_back() {
    let redis = OwnRedis::start().await;
    let w = TestWorker::on(redis.conn().await).await;
    w.batch(&[restock("r1", "bread", 5)]).await;
    assert!(w.worker.healthy().await, "precondition: healthy");

    redis.fill_past_maxmemory().await;
    let order = Incoming {
        message_id: "m1".into(),
        body: place("c1", "o1", &[("bread", 2)]),
        traceparent: None,
    };
    let refused = w.worker.process(std::slice::from_ref(&order)).await;

    match refused {
        Err(WorkerError::Outage { dependency, detail }) => {
            assert_eq!(dependency, "redis");
            assert!(detail.contains("out of memory"), "{detail}");
        }
        other => panic!("expected a Redis outage, got {other:?}"),
    }
    assert!(
        !w.worker.healthy().await,
        "PING answers, but writes are refused"
    );
    assert_eq!(w.available("bread").await, Some(5), "nothing applied");

    redis.free_memory().await;
    assert!(w.worker.healthy().await, "healthy once memory is back");
    let records = w.worker.process(&[order]).await.expect("applied now");
    assert_eq!(records, vec![confirmed()]);
    assert_eq!(w.available("bread").await, Some(3));
}

async fn ready(addr: &str) -> u16 {
    get(&format!("http://{addr}/readyz")).await.0
}

#[tokio::test]
async fn a_worker_on_a_redis_out_of_memory_turns_unready_holds_the_order_and_applies_it_after() {
    let redis = OwnRedis::start().await;
    let p = Pipeline::new(true).await;
    let worker = p
        .worker_with(&[], &[("FULFIL_REDIS_URL", redis.url.as_str())])
        .await;
    let addr = ops_addr(&worker);
    p.publish(&[restock("r1", "bread", 5)]).await;
    p.wait_for_count("SELECT count(*) FROM inbox", 1, Duration::from_secs(60))
        .await;
    let within = Duration::from_secs(15);
    eventually(within, "ready", || async {
        (ready(&addr).await == 200).then_some(())
    })
    .await;

    redis.fill_past_maxmemory().await;
    eventually(within, "unready", || async {
        (ready(&addr).await == 503).then_some(())
    })
    .await;
    p.publish(&[place("c1", "o1", &[("bread", 2)])]).await;
    eventually(Duration::from_secs(30), "the outage logged", || async {
        worker.log().contains("out of memory").then_some(())
    })
    .await;
    assert_eq!(
        p.count("SELECT count(*) FROM inbox").await,
        1,
        "held, not applied"
    );

    redis.free_memory().await;
    eventually(within, "ready again", || async {
        (ready(&addr).await == 200).then_some(())
    })
    .await;
    p.wait_for_count("SELECT count(*) FROM inbox", 2, Duration::from_secs(60))
        .await;
    p.wait_drained(Duration::from_secs(30)).await;
    p.assert_invariants().await;
    assert_eq!(
        p.count("SELECT available FROM products WHERE product_id = 'bread'")
            .await,
        3
    );
}
