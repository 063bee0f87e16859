//! `rebuild`: from truncated tables and from a dropped schema back to a verified read
//! model; from a log lacking a version, each aggregate at its highest; catching up on what
//! the projector applied during the rebuild; readers answered throughout; one rebuild at a
//! time; the CLI.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use fulfil::projector::rebuild::{RebuildError, REBUILD_LOCK};
use fulfil::projector::sample::history;
use fulfil::projector::{log, swap};

use super::{cli, Dbs};

async fn projected(orders: usize) -> (Dbs, usize) {
    let dbs = Dbs::new().await;
    let log = history(orders, 2, 5);
    dbs.log(&log).await;
    dbs.project(&log).await;
    (dbs, log.len())
}

async fn execute(dbs: &Dbs, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(&dbs.read)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The live tables' index names: the migration's, whatever `LIKE` called the copies.
async fn index_names(dbs: &Dbs) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes
         WHERE tablename IN ('read_orders', 'read_products') ORDER BY 1",
    )
    .fetch_all(&dbs.read)
    .await
    .expect("pg_indexes")
}

#[tokio::test]
async fn rebuild_after_the_read_tables_were_truncated_restores_a_verified_model() {
    let (dbs, events) = projected(30).await;
    let indexes = index_names(&dbs).await;
    execute(
        &dbs,
        "TRUNCATE read_orders, read_products, projection_state",
    )
    .await;
    assert!(!dbs.verify().await.is_clean());
    let report = fulfil::projector::rebuild(&dbs.write, &dbs.read)
        .await
        .expect("rebuild");
    assert_eq!((report.orders, report.products), (30, 2));
    assert_eq!(
        (report.events_read, report.events_applied),
        (events as u64, events as u64)
    );
    assert_eq!(report.migrations_applied, 0);
    dbs.assert_verified().await;
    assert_eq!(
        dbs.scalar("SELECT events_applied FROM projection_state")
            .await,
        events as i64
    );
    assert_eq!(index_names(&dbs).await, indexes);
    let readable = "SELECT count(*) FROM unnest(ARRAY['read_orders', 'read_products']) t
                    WHERE has_table_privilege('fulfil_api_reader', t, 'SELECT')";
    assert_eq!(
        dbs.scalar(readable).await,
        2,
        "the API's role reads the new tables"
    );
    let leftovers = dbs.scalar(
        "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%_rebuild' OR tablename LIKE '%_old'",
    );
    assert_eq!(leftovers.await, 0);
}

#[tokio::test]
async fn rebuild_after_the_schema_was_dropped_migrates_and_restores_a_verified_model() {
    let (dbs, events) = projected(30).await;
    execute(&dbs, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;").await;
    let report = fulfil::projector::rebuild(&dbs.write, &dbs.read)
        .await
        .expect("rebuild");
    assert!(report.migrations_applied >= 1, "{report:?}");
    assert_eq!(report.events_applied, events as u64);
    dbs.assert_verified().await;
}

#[tokio::test]
async fn rebuild_from_a_log_lacking_a_version_restores_each_aggregate_at_its_highest() {
    let dbs = Dbs::new().await;
    let mut log = history(6, 1, 1);
    log.retain(|e| !(e.aggregate_id == "p-0" && e.version == 3));
    dbs.log(&log).await;
    let report = fulfil::projector::rebuild(&dbs.write, &dbs.read)
        .await
        .expect("rebuild");
    assert_eq!(report.events_applied, log.len() as u64);
    assert_eq!(
        dbs.scalar("SELECT version FROM read_products WHERE product_id = 'p-0'")
            .await,
        7
    );
    dbs.assert_verified().await;
}

#[tokio::test]
async fn rebuild_catches_up_on_events_the_projector_applied_during_it() {
    let dbs = Dbs::new().await;
    let full = history(30, 2, 5);
    let (before, during) = full.split_at(full.len() * 2 / 3);
    dbs.log(before).await;
    dbs.project(before).await;
    let mut conn = dbs.read.acquire().await.expect("connection");
    let mut model = log::read(&dbs.write).await.expect("log").replayed.model;
    swap::prepare(&mut conn, &model).await.expect("prepare");
    dbs.log(during).await;
    dbs.project(during).await;
    let caught_up = swap::swap(&dbs.write, &mut conn, &mut model)
        .await
        .expect("swap");
    assert_eq!(caught_up, during.len() as u64);
    dbs.assert_verified().await;
}

#[tokio::test]
async fn readers_keep_getting_answers_while_rebuilds_swap_the_tables() {
    let (dbs, _) = projected(60).await;
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(AtomicU64::new(0));
    let reader = tokio::spawn({
        let (read, stop, answers) = (dbs.read.clone(), stop.clone(), answers.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                let counted: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM read_orders WHERE user_id = $1")
                        .bind("u-1")
                        .fetch_one(&read)
                        .await
                        .expect("a reader's query fails during the rebuild");
                assert!(counted > 0);
                answers.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    for _ in 0..3 {
        fulfil::projector::rebuild(&dbs.write, &dbs.read)
            .await
            .expect("rebuild");
    }
    stop.store(true, Ordering::Relaxed);
    reader.await.expect("reader");
    assert!(answers.load(Ordering::Relaxed) > 0);
    dbs.assert_verified().await;
}

#[tokio::test]
async fn a_second_rebuild_at_the_same_time_is_refused() {
    let (dbs, _) = projected(5).await;
    let mut holder = dbs.read.acquire().await.expect("connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(REBUILD_LOCK)
        .execute(&mut *holder)
        .await
        .expect("take the rebuild lock");
    let refused = fulfil::projector::rebuild(&dbs.write, &dbs.read).await;
    assert!(matches!(refused, Err(RebuildError::Busy)), "{refused:?}");
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(REBUILD_LOCK)
        .execute(&mut *holder)
        .await
        .expect("release the rebuild lock");
}

#[tokio::test]
async fn fulfil_rebuild_restores_a_dropped_schema_and_says_what_it_did() {
    let (dbs, events) = projected(20).await;
    execute(&dbs, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;").await;
    let out = cli(&dbs, &["rebuild"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("read schema: "), "{stdout}");
    assert!(
        stdout.contains(&format!("replayed {events} events")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "rebuilt 20 orders and 2 products from {events} events"
        )),
        "{stdout}"
    );
    dbs.assert_verified().await;
}
