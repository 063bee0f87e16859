//! Cancels racing their orders on standard queues: each order's cancel is published in the
//! same batch as, or before, its PlaceOrder, and three workers take them in any order, even
//! at the same moment. Whichever comes first, every order must end cancelled and every unit
//! back on the shelf: a cancel that arrives first is remembered, one that arrives second
//! gives the stock back, and the two never both miss each other. And a cancel that comes
//! long before its order: remembered, never failed into the DLQ.

use fulfil_testkit::check::{drain, CheckReport};

use super::{assert_clean, Run, DRAIN};
use crate::harness::bodies::{cancel, place, restock};
use crate::harness::eventually;

const ORDERS: usize = 60;
const STOCK: i64 = 1000;

#[tokio::test]
async fn cancels_racing_their_orders_always_end_cancelled_with_every_unit_back() {
    let mut run = Run::new(false, 10).await;
    run.start_read_side().await;
    let _workers = [
        run.p.worker(&[]).await,
        run.p.worker(&[]).await,
        run.p.worker(&[]).await,
    ];
    run.publish(&[restock("r-0", "p-0", STOCK)]).await;
    run.p
        .wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;

    let mut bodies = Vec::new();
    for i in 0..ORDERS {
        let quantity = 1 + (i % 3) as i64;
        let cancel = cancel(&format!("x-{i}"), &format!("o-{i}"));
        let place = place(&format!("c-{i}"), &format!("o-{i}"), &[("p-0", quantity)]);
        match i % 2 {
            0 => bodies.extend([cancel, place]),
            _ => bodies.extend([place, cancel]),
        }
    }
    run.publish(&bodies).await;

    let report = run.finish().await;
    assert_clean(&report);
    assert_eq!(report.applied, 2 * ORDERS + 1);
    assert_eq!(
        run.p
            .count("SELECT count(*) FROM orders WHERE status = 'cancelled'")
            .await,
        ORDERS as i64
    );
    assert_eq!(
        run.p
            .count("SELECT available FROM products WHERE product_id = 'p-0'")
            .await,
        STOCK
    );
    let decided_in_either_order = run
        .p
        .count(
            "SELECT count(*) FROM inbox WHERE outcome IN ('CANCELLED', 'CANCELLED_BEFORE_PLACE')",
        )
        .await;
    assert_eq!(decided_in_either_order, ORDERS as i64);
    assert_eq!(
        run.p.count("SELECT count(*) FROM pending_cancels").await,
        0,
        "no cancel is left waiting for an order that exists"
    );
}

/// A cancel published alone, its order only once the cancel was decided or dead-lettered,
/// on a queue that dead-letters after two receives; `failpoints` goes to the worker (for a
/// deliberately broken build).
pub async fn cancel_long_before_its_order(failpoints: &str) -> (Run, CheckReport) {
    let mut run = Run::new(false, 2).await;
    run.start_read_side().await;
    let _worker = run.p.worker_with(&[], &[("FAILPOINTS", failpoints)]).await;
    run.publish(&[restock("r-0", "p-0", 10)]).await;
    run.p
        .wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;
    run.publish(&[cancel("x-early", "o-late")]).await;
    let dlq = &run.p.provisioned.commands_dlq.url;
    eventually(
        DRAIN,
        "the early cancel decided or dead-lettered",
        || async {
            let decided = run
                .p
                .count("SELECT count(*) FROM inbox WHERE command_id = 'x-early'")
                .await;
            let (dead, _) = drain::depth(&run.p.aws, dlq).await.expect("DLQ depth");
            (decided + dead > 0).then_some(())
        },
    )
    .await;
    run.publish(&[place("c-late", "o-late", &[("p-0", 2)])])
        .await;
    let report = run.finish().await;
    (run, report)
}

#[tokio::test]
async fn a_cancel_long_before_its_order_is_remembered_and_the_order_ends_cancelled() {
    let (run, report) = cancel_long_before_its_order("").await;
    assert_clean(&report);
    assert!(report.dead_letters.is_empty(), "{report}");
    assert_eq!(
        run.p
            .count("SELECT count(*) FROM orders WHERE order_id = 'o-late' AND status = 'cancelled'")
            .await,
        1
    );
    assert_eq!(run.p.count("SELECT available FROM products").await, 10);
}
