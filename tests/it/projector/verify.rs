//! `verify`: a projected log verifies clean, also when the read database skipped versions
//! the log holds; missing, extra, changed and stale rows are named; the CLI exits 1 on a
//! difference and says which order.

use fulfil::contract::event::ChangeEvent;
use fulfil::projector::sample::history;

use super::{cli, Dbs};

/// Two fresh databases holding `history(orders, 1, 5)` in the log and the read tables.
async fn projected(orders: usize) -> (Dbs, usize) {
    let dbs = Dbs::new().await;
    let log = history(orders, 1, 5);
    dbs.log(&log).await;
    dbs.project(&log).await;
    (dbs, log.len())
}

async fn execute(dbs: &Dbs, sql: &str) {
    sqlx::query(sql)
        .execute(&dbs.read)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test]
async fn verify_counts_what_it_compared_and_finds_nothing_on_a_projected_log() {
    let (dbs, events) = projected(10).await;
    let report = dbs.assert_verified().await;
    assert_eq!(
        report.summary(),
        format!("verified 10 orders, 1 product, {events} events: no differences")
    );
}

/// The sample product's events: versions 1, 2 and 3.
fn three_versions() -> Vec<ChangeEvent> {
    let stock: Vec<ChangeEvent> = history(2, 1, 1)
        .into_iter()
        .filter(|e| e.aggregate_id == "p-0")
        .collect();
    assert_eq!(stock.len(), 3);
    stock
}

#[tokio::test]
async fn given_a_log_of_versions_1_to_3_when_the_read_db_got_only_3_then_verify_is_clean() {
    let dbs = Dbs::new().await;
    let stock = three_versions();
    dbs.log(&stock).await;
    dbs.project(&stock[2..]).await;
    let report = dbs.assert_verified().await;
    assert_eq!((report.products, report.events), (1, 3));
}

#[tokio::test]
async fn given_a_log_of_versions_1_to_3_when_the_read_db_stopped_at_2_then_verify_names_it() {
    let dbs = Dbs::new().await;
    let stock = three_versions();
    dbs.log(&stock).await;
    dbs.project(&stock[..2]).await;
    let found: Vec<String> = dbs
        .verify()
        .await
        .differences
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert!(
        found.contains(&"product p-0: version 3 (expected) vs 2 (read db)".to_owned()),
        "{found:?}"
    );
}

#[tokio::test]
async fn verify_names_missing_extra_and_changed_rows() {
    let (dbs, _) = projected(10).await;
    execute(&dbs, "DELETE FROM read_orders WHERE order_id = 'o-2'").await;
    execute(
        &dbs,
        "UPDATE read_orders SET status = 'rejected' WHERE order_id = 'o-3'",
    )
    .await;
    execute(&dbs, "UPDATE read_products SET available = available - 1").await;
    execute(
        &dbs,
        "INSERT INTO read_orders SELECT 'o-99', user_id, status, reason, lines, version, placed_at, updated_at
         FROM read_orders WHERE order_id = 'o-1'",
    )
    .await;
    // Only the rows differ here; the counters' own check is the next test.
    execute(&dbs, RECOUNT).await;
    let report = dbs.verify().await;
    let found: Vec<String> = report.differences.iter().map(|d| d.to_string()).collect();
    let available: i64 = sqlx::query_scalar("SELECT available FROM read_products")
        .fetch_one(&dbs.read)
        .await
        .expect("available");
    assert_eq!(
        found,
        vec![
            "order o-2: missing from the read db".to_owned(),
            "order o-3: status cancelled (expected) vs rejected (read db)".to_owned(),
            "order o-99: in the read db but not in the event log".to_owned(),
            format!(
                "product p-0: available {} (expected) vs {available} (read db)",
                available + 1
            ),
        ]
    );
    assert!(!report.is_clean());
    assert!(
        report.summary().ends_with(": 4 differences"),
        "{}",
        report.summary()
    );
}

/// Sets the order counters to what the read tables hold.
const RECOUNT: &str = "UPDATE projection_state SET
    orders_confirmed = (SELECT count(*) FROM read_orders WHERE status = 'confirmed'),
    orders_rejected = (SELECT count(*) FROM read_orders WHERE status = 'rejected'),
    orders_cancelled = (SELECT count(*) FROM read_orders WHERE status = 'cancelled')";

#[tokio::test]
async fn the_projector_keeps_the_order_counts_and_verify_names_a_count_that_drifted() {
    let (dbs, _) = projected(40).await;
    let counted = |status: &'static str| {
        let read = dbs.read.clone();
        async move {
            let sql = "SELECT count(*) FROM read_orders WHERE status = $1";
            let n: i64 = sqlx::query_scalar(sql)
                .bind(status)
                .fetch_one(&read)
                .await
                .expect("count");
            n
        }
    };
    let (confirmed, rejected, cancelled) = (
        counted("confirmed").await,
        counted("rejected").await,
        counted("cancelled").await,
    );
    assert!(
        confirmed > 0 && rejected > 0 && cancelled > 0,
        "the sample has every status"
    );
    let kept: (i64, i64, i64) = sqlx::query_as(
        "SELECT orders_confirmed, orders_rejected, orders_cancelled FROM projection_state",
    )
    .fetch_one(&dbs.read)
    .await
    .expect("counters");
    assert_eq!(
        kept,
        (confirmed, rejected, cancelled),
        "kept by the projector"
    );
    dbs.assert_verified().await;

    execute(
        &dbs,
        "UPDATE projection_state SET orders_rejected = orders_rejected + 2",
    )
    .await;
    let report = dbs.verify().await;
    let found: Vec<String> = report.differences.iter().map(|d| d.to_string()).collect();
    let expected = format!(
        "stats orders: rejected {rejected} (expected) vs {} (read db)",
        rejected + 2
    );
    assert_eq!(found, vec![expected]);
}

#[tokio::test]
async fn fulfil_verify_exits_0_when_clean_and_1_naming_a_corrupted_order() {
    let (dbs, events) = projected(10).await;
    let clean = cli(&dbs, &["verify"]).await;
    let stdout = String::from_utf8_lossy(&clean.stdout);
    assert_eq!(clean.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout.trim(),
        format!("verified 10 orders, 1 product, {events} events: no differences")
    );
    execute(
        &dbs,
        "UPDATE read_orders SET status = 'rejected' WHERE order_id = 'o-6'",
    )
    .await;
    execute(&dbs, RECOUNT).await;
    let corrupted = cli(&dbs, &["verify"]).await;
    let stdout = String::from_utf8_lossy(&corrupted.stdout);
    assert_eq!(corrupted.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("order o-6: status confirmed (expected) vs rejected (read db)"),
        "{stdout}"
    );
    assert!(stdout.contains(": 1 difference"), "{stdout}");
}
