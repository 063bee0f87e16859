//! Cancels racing their orders on standard queues: each order's cancel is published in the
//! same batch as, or before, its PlaceOrder, and three workers take them in any order, even
//! at the same moment. Whichever comes first, every order must end cancelled and every unit
//! back on the shelf: a cancel that arrives first is remembered, one that arrives second
//! gives the stock back, and the two never both miss each other.

use super::{assert_clean, Run, DRAIN};
use crate::harness::bodies::{cancel, place, restock};

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
