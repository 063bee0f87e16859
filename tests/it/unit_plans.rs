//! A unit's transaction runs on kept plans (`fulfil::store::UNIT_BEGIN`), made from whatever
//! the statistics said at the time. Against the real PostgreSQL: on tables analyzed while
//! nearly empty, the unit's load and write still find every row by its key and never scan a
//! table (counted by PostgreSQL itself, for the transaction: `pg_stat_xact_user_tables`).

use std::collections::HashMap;

use fulfil::domain::Product;
use fulfil::store::changes::{self, Changes};
use fulfil::store::{orders, products::ProductWrite, UNIT_BEGIN};
use sqlx::{Connection, PgConnection};

use crate::harness::bodies::{cancel, place, restock};
use crate::harness::TestWorker;

/// Sequential scans of each write-side table by `conn`'s backend not yet reported to the
/// statistics system (PostgreSQL 15 counts since the last report, which happens only between
/// transactions): compared within one transaction, the difference is the transaction's.
async fn scans_in_transaction(conn: &mut PgConnection) -> HashMap<String, i64> {
    sqlx::query_as(
        "SELECT relname::text, seq_scan FROM pg_stat_xact_user_tables
         WHERE relname IN ('products', 'orders', 'inbox', 'pending_cancels', 'outbox')",
    )
    .fetch_all(conn)
    .await
    .expect("read the transaction's table statistics")
    .into_iter()
    .collect()
}

/// A unit's write of one product (no change: the version guard is all it does).
fn unchanged(product_id: &str, version: i64) -> ProductWrite {
    ProductWrite {
        product_id: product_id.into(),
        product: Product {
            name: None,
            available: 9,
            restocked: 10,
            confirmed: 1,
            cancelled: 0,
        },
        read_version: Some(version),
        fence: i64::MAX,
        changed: false,
    }
}

#[tokio::test]
async fn on_tables_analyzed_nearly_empty_a_unit_finds_every_row_by_its_key() {
    let w = TestWorker::new().await;
    w.batch(&[restock("r-1", "p", 10)]).await;
    w.batch(&[place("c-1", "o-1", &[("p", 1)]), cancel("x-2", "o-2")])
        .await;
    sqlx::query("ANALYZE")
        .execute(&w.pool)
        .await
        .expect("ANALYZE");
    let version: i64 = sqlx::query_scalar("SELECT version FROM products WHERE product_id = 'p'")
        .fetch_one(&w.pool)
        .await
        .expect("read the product's version");

    let mut conn = w.pool.acquire().await.expect("a connection");
    let mut tx = conn.begin_with(UNIT_BEGIN).await.expect("a unit's BEGIN");
    let before = scans_in_transaction(&mut tx).await;
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for _ in 0..3 {
        let load = orders::lock_and_load(
            &mut *tx,
            &ids(&["o-1", "o-2", "o-3"]),
            &ids(&["c-1", "c-9"]),
        )
        .await
        .expect("the unit's load");
        assert!(load.orders.contains_key("o-1") && load.pending.contains_key("o-2"));
        assert_eq!(load.inbox.keys().collect::<Vec<_>>(), ["c-1"]);
        let write = [unchanged("p", version)];
        let traces = HashMap::new();
        let nothing = Changes {
            inbox: &[],
            orders: &[],
            events: &[],
            traces: &traces,
            products: &write,
        };
        changes::write(&mut tx, &nothing)
            .await
            .expect("the unit's write");
    }
    let after = scans_in_transaction(&mut tx).await;
    assert_eq!(after.len(), 5, "every table counted: {after:?}");
    assert_eq!(before, after, "sequential scans in a unit (before, after)");
}
