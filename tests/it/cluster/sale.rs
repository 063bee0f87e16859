//! Flash sales with `fulfil worker` processes on the Redis Cluster (`FULFIL_REDIS_URL` set to
//! the cluster's URL list): the seed scenario of `flash_sale.rs` on one hot product, and a
//! sale whose every order spans products in two slots (served by different masters), so
//! every group is acquired per slot with rollback under contention. The invariant check
//! decides: nothing oversold, nothing lost, one effect per command.

use crate::flash_sale::{assert_sale_outcome, flash_sale, DRAIN};
use crate::harness::bodies::{place, restock};
use crate::harness::{redis_cluster, redis_cluster_urls};
use crate::pipeline::{Pipeline, RoleProcess};

use super::spread;

/// Two workers whose Redis is the cluster.
async fn cluster_workers(p: &Pipeline) -> [RoleProcess; 2] {
    let urls = redis_cluster_urls();
    let env = [("FULFIL_REDIS_URL", urls.as_str())];
    [
        p.worker_with(&[], &env).await,
        p.worker_with(&[], &env).await,
    ]
}

/// The stock-cache entry the workers left on the cluster: proof they worked there.
async fn cached_on_cluster(p: &Pipeline, product: &str) -> Option<String> {
    let mut get = redis::cmd("GET");
    get.arg(format!("{}stock:{{{product}}}", p.key_prefix));
    get.query_async(&mut redis_cluster().await)
        .await
        .expect("GET")
}

#[tokio::test]
async fn cluster_the_seed_flash_sale_with_workers_on_the_cluster_confirms_exactly_the_stock() {
    redis_cluster().await;
    let p = Pipeline::new(true).await;
    let _workers = cluster_workers(&p).await;

    flash_sale(&p, 400, 400).await;

    assert_sale_outcome(&p, 400, 400).await;
    let entry = cached_on_cluster(&p, "bread").await.expect("bread cached");
    assert!(entry.contains(r#""available":0"#), "{entry}");
}

#[tokio::test]
async fn cluster_orders_over_products_in_several_slots_oversell_nothing_and_lose_nothing() {
    redis_cluster().await;
    let p = Pipeline::new(false).await;
    let _workers = cluster_workers(&p).await;
    let products = spread(4);
    let restocks: Vec<String> = products
        .iter()
        .map(|id| restock(&format!("r-{id}"), id, 30))
        .collect();
    p.publish(&restocks).await;
    p.wait_for_count("SELECT count(*) FROM products", 4, DRAIN)
        .await;

    // 120 orders of one unit each of two neighbours: 60 units wanted of each product's 30.
    let orders: Vec<String> = (0..120)
        .map(|i| {
            let lines = [
                (products[i % 4].as_str(), 1),
                (products[(i + 1) % 4].as_str(), 1),
            ];
            place(&format!("c-{i}"), &format!("o-{i}"), &lines)
        })
        .collect();
    p.publish(&orders).await;
    p.wait_for_count("SELECT count(*) FROM orders", 120, DRAIN)
        .await;
    p.wait_drained(DRAIN).await;

    let confirmed = p
        .count("SELECT count(*) FROM orders WHERE status = 'confirmed'")
        .await;
    let taken = p
        .count("SELECT sum(30 - available)::bigint FROM products")
        .await;
    assert_eq!(taken, 2 * confirmed, "two units per confirmed order");
    // Every pair touches product 0 or 2: those two sold out is the least that can stop all.
    assert!((30..=60).contains(&confirmed), "{confirmed} confirmed");
    let rejected = p
        .count("SELECT count(*) FROM orders WHERE reason = 'OUT_OF_STOCK'")
        .await;
    assert_eq!(confirmed + rejected, 120);
    assert_eq!(p.count("SELECT count(*) FROM inbox").await, 124);
    p.assert_invariants().await;
    assert!(cached_on_cluster(&p, &products[0]).await.is_some());
}
