//! The projection rule in the read database: verdicts per event, the progress row, older
//! versions after newer ones, and projectors racing on the same aggregates.

use fulfil::contract::event::ChangeEvent;
use fulfil::projector::sample::history;
use fulfil::projector::{Projector, Verdict};

use super::{shuffled_with_duplicates, Dbs};

fn find<'a>(log: &'a [ChangeEvent], id: &str, version: i64) -> &'a ChangeEvent {
    log.iter()
        .find(|e| e.aggregate_id == id && e.version == version)
        .unwrap_or_else(|| panic!("{id} v{version} in the sample log"))
}

async fn status_of(dbs: &Dbs, order_id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM read_orders WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&dbs.read)
        .await
        .unwrap_or_else(|e| panic!("{order_id}: {e}"))
}

#[tokio::test]
async fn given_a_batch_with_a_version_2_first_and_a_copy_when_applied_then_each_event_gets_its_verdict(
) {
    let dbs = Dbs::new().await;
    let log = history(4, 1, 1);
    let projector = Projector::new(dbs.read.clone());
    let batch = [
        find(&log, "o-3", 2).clone(),
        find(&log, "p-0", 1).clone(),
        find(&log, "p-0", 1).clone(),
        find(&log, "o-0", 1).clone(),
    ];
    let verdicts = projector.apply(&batch).await.expect("apply");
    assert_eq!(
        verdicts,
        vec![
            Verdict::Applied,
            Verdict::Applied,
            Verdict::AlreadyApplied,
            Verdict::Applied
        ]
    );
    assert_eq!(
        dbs.scalar("SELECT events_applied FROM projection_state")
            .await,
        3
    );
    assert_eq!(status_of(&dbs, "o-3").await, "cancelled");
    let lag_mark: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT last_occurred_at FROM projection_state")
            .fetch_one(&dbs.read)
            .await
            .expect("last_occurred_at");
    assert_eq!(
        lag_mark,
        fulfil::projector::model::micros(batch[0].occurred_at)
    );
}

#[tokio::test]
async fn given_a_later_version_first_in_a_batch_when_applied_then_both_apply_in_version_order() {
    let dbs = Dbs::new().await;
    let log = history(4, 1, 1);
    let projector = Projector::new(dbs.read.clone());
    let batch = [find(&log, "o-3", 2).clone(), find(&log, "o-3", 1).clone()];
    let verdicts = projector.apply(&batch).await.expect("apply");
    assert_eq!(verdicts, vec![Verdict::Applied, Verdict::Applied]);
    assert_eq!(status_of(&dbs, "o-3").await, "cancelled");
    let again = projector.apply(&batch).await.expect("apply again");
    assert_eq!(again, vec![Verdict::AlreadyApplied; 2]);
    assert_eq!(
        dbs.scalar("SELECT events_applied FROM projection_state")
            .await,
        2
    );
}

#[tokio::test]
async fn given_a_newer_view_when_older_versions_arrive_in_later_batches_then_nothing_changes() {
    let dbs = Dbs::new().await;
    let log = history(4, 1, 1);
    let projector = Projector::new(dbs.read.clone());
    let newest = [find(&log, "p-0", 5).clone(), find(&log, "o-3", 2).clone()];
    projector.apply(&newest).await.expect("apply");
    let older = [
        find(&log, "p-0", 2).clone(),
        find(&log, "o-3", 1).clone(),
        find(&log, "p-0", 4).clone(),
    ];
    let verdicts = projector.apply(&older).await.expect("apply older");
    assert_eq!(verdicts, vec![Verdict::AlreadyApplied; 3]);
    assert_eq!(status_of(&dbs, "o-3").await, "cancelled");
    assert_eq!(
        dbs.scalar("SELECT version FROM read_products WHERE product_id = 'p-0'")
            .await,
        5
    );
    assert_eq!(
        dbs.scalar("SELECT events_applied FROM projection_state")
            .await,
        2
    );
}

/// Four projectors applying the same arrivals at once, ten events per transaction.
async fn race(dbs: &Dbs, arrivals: impl Fn() -> Vec<ChangeEvent>) {
    let racers = (0..4).map(|_| {
        let (dbs, arrivals) = (dbs.clone(), arrivals());
        tokio::spawn(async move { dbs.project(&arrivals).await })
    });
    for racer in futures::future::join_all(racers).await {
        racer.expect("racer");
    }
}

#[tokio::test]
async fn racing_projectors_given_the_log_in_order_count_every_event_applied_exactly_once() {
    let dbs = Dbs::new().await;
    let log = history(80, 2, 4);
    dbs.log(&log).await;
    race(&dbs, || log.clone()).await;
    let applied = dbs
        .scalar("SELECT events_applied FROM projection_state")
        .await;
    assert_eq!(applied, log.len() as i64, "each event applied once in all");
    dbs.assert_verified().await;
}

#[tokio::test]
async fn racing_projectors_given_shuffled_copies_end_in_a_verified_model_applying_no_event_twice() {
    let dbs = Dbs::new().await;
    let log = history(80, 2, 4);
    dbs.log(&log).await;
    race(&dbs, || shuffled_with_duplicates(&log, 20)).await;
    let applied = dbs
        .scalar("SELECT events_applied FROM projection_state")
        .await;
    assert!(
        (1..=log.len() as i64).contains(&applied),
        "{applied} of {}",
        log.len()
    );
    dbs.assert_verified().await;
}
