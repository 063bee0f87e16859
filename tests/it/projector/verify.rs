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
    let corrupted = cli(&dbs, &["verify"]).await;
    let stdout = String::from_utf8_lossy(&corrupted.stdout);
    assert_eq!(corrupted.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("order o-6: status confirmed (expected) vs rejected (read db)"),
        "{stdout}"
    );
    assert!(stdout.contains(": 1 difference"), "{stdout}");
}
