//! The projection rule in the read database: verdicts per event, the progress row, and
//! projectors racing on the same aggregates.

use fulfil::contract::event::ChangeEvent;
use fulfil::projector::sample::history;
use fulfil::projector::{Applied, Projector};

use super::{shuffled_with_duplicates, Dbs};

fn find<'a>(log: &'a [ChangeEvent], id: &str, version: i64) -> &'a ChangeEvent {
    log.iter()
        .find(|e| e.aggregate_id == id && e.version == version)
        .unwrap_or_else(|| panic!("{id} v{version} in the sample log"))
}

#[tokio::test]
async fn given_a_batch_with_a_gap_and_a_duplicate_when_applied_then_each_event_gets_its_verdict() {
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
            Applied::Gap {
                expected: 1,
                got: 2
            },
            Applied::Applied,
            Applied::AlreadyApplied,
            Applied::Applied
        ]
    );
    assert_eq!(
        dbs.scalar("SELECT events_applied FROM projection_state")
            .await,
        2
    );
    assert_eq!(
        dbs.scalar("SELECT count(*) FROM read_orders WHERE order_id = 'o-3'")
            .await,
        0
    );
    let lag_mark: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT last_occurred_at FROM projection_state")
            .fetch_one(&dbs.read)
            .await
            .expect("last_occurred_at");
    assert_eq!(
        lag_mark,
        fulfil::projector::model::micros(batch[3].occurred_at)
    );
}

#[tokio::test]
async fn given_a_later_version_first_in_a_batch_when_applied_then_both_apply_in_version_order() {
    let dbs = Dbs::new().await;
    let log = history(4, 1, 1);
    let projector = Projector::new(dbs.read.clone());
    let batch = [find(&log, "o-3", 2).clone(), find(&log, "o-3", 1).clone()];
    let verdicts = projector.apply(&batch).await.expect("apply");
    assert_eq!(verdicts, vec![Applied::Applied, Applied::Applied]);
    let status: String =
        sqlx::query_scalar("SELECT status FROM read_orders WHERE order_id = 'o-3'")
            .fetch_one(&dbs.read)
            .await
            .expect("o-3");
    assert_eq!(status, "cancelled");
    let again = projector.apply(&batch).await.expect("apply again");
    assert_eq!(again, vec![Applied::AlreadyApplied; 2]);
    assert_eq!(
        dbs.scalar("SELECT events_applied FROM projection_state")
            .await,
        2
    );
}

#[tokio::test]
async fn racing_projectors_apply_every_event_exactly_once() {
    let dbs = Dbs::new().await;
    let log = history(80, 2, 4);
    dbs.log(&log).await;
    let racers = (0..4).map(|_| {
        let arrivals = shuffled_with_duplicates(&log, 20);
        let dbs = dbs.clone();
        tokio::spawn(async move { dbs.project(&arrivals).await })
    });
    for racer in futures::future::join_all(racers).await {
        racer.expect("racer");
    }
    let applied = dbs
        .scalar("SELECT events_applied FROM projection_state")
        .await;
    assert_eq!(applied, log.len() as i64, "each event applied once in all");
    dbs.assert_verified().await;
}
