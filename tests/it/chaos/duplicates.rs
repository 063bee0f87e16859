//! Every command published three times at once, then some again long after they were
//! applied (straight into the queue, as a redelivery past SNS's dedup window would come),
//! on standard queues where nothing but the inbox stands between a copy and a second
//! effect. Restocks, orders and cancels all come three times: a second effect of any of
//! them breaks the stock arithmetic, the events per change, or the inbox replay.

use fulfil_testkit::check::CheckReport;

use super::{assert_clean, Run, DRAIN};
use crate::harness::bodies::{cancel, place, restock};

const PRODUCTS: usize = 4;
const ORDERS: usize = 40;
const CANCELS: usize = 10;
const LATE_EVERY: usize = 5;

fn commands() -> (Vec<String>, Vec<String>) {
    let restocks = (0..PRODUCTS)
        .map(|p| restock(&format!("r-{p}"), &format!("p-{p}"), 30))
        .collect();
    let mut rest: Vec<String> = (0..ORDERS)
        .map(|i| {
            let lines = [
                (format!("p-{}", i % PRODUCTS), 2),
                (format!("p-{}", (i + 1) % PRODUCTS), 1),
            ];
            let lines: Vec<(&str, i64)> = lines.iter().map(|(p, q)| (p.as_str(), *q)).collect();
            place(&format!("c-{i}"), &format!("o-{i}"), &lines)
        })
        .collect();
    rest.extend((0..CANCELS).map(|i| cancel(&format!("x-{i}"), &format!("o-{}", i * 3))));
    (restocks, rest)
}

/// The scenario; `failpoints` goes to the workers (for the deliberately broken builds).
pub async fn three_times_and_late(failpoints: &str) -> (Run, CheckReport) {
    let mut run = Run::new(false, 10).await;
    run.start_read_side().await;
    let env = [("FAILPOINTS", failpoints)];
    let _workers = [
        run.p.worker_with(&[], &env).await,
        run.p.worker_with(&[], &env).await,
    ];
    let (restocks, rest) = commands();
    for _ in 0..3 {
        run.publish(&restocks).await;
    }
    let products = "SELECT count(*) FROM products";
    run.p.wait_for_count(products, PRODUCTS as i64, DRAIN).await;
    for _ in 0..3 {
        run.publish(&rest).await;
    }
    let distinct = (PRODUCTS + ORDERS + CANCELS) as i64;
    run.p
        .wait_for_count("SELECT count(*) FROM inbox", distinct, DRAIN)
        .await;
    run.drain(DRAIN).await;
    for body in restocks.iter().chain(&rest).step_by(LATE_EVERY) {
        run.send_late(body).await;
    }
    let report = run.finish().await;
    (run, report)
}

#[tokio::test]
async fn every_command_three_times_and_again_long_after_has_exactly_one_effect() {
    let (run, report) = three_times_and_late("").await;
    assert_clean(&report);
    let distinct = PRODUCTS + ORDERS + CANCELS;
    let late = distinct.div_ceil(LATE_EVERY);
    assert_eq!(report.published, 3 * distinct + late);
    assert_eq!(report.duplicates, 2 * distinct + late);
    assert_eq!(report.applied + report.rejected, distinct);
    assert_eq!(
        run.p
            .count("SELECT sum(restocked)::int8 FROM products")
            .await,
        30 * PRODUCTS as i64,
        "each restock counted once"
    );
}
