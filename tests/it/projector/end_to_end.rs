//! The projector on what really reaches it: the events a `fulfil worker` wrote, and a body
//! that is not an event at all.

use std::time::Duration;

use fulfil::contract::event::ChangeEvent;
use fulfil::db::Database;
use fulfil::projector::sample::history;

use super::{depth, send, start, wait_applied, wait_drained, wait_verified, Dbs};
use crate::harness::{self, bodies};
use crate::pipeline::Pipeline;

#[tokio::test]
async fn events_a_worker_wrote_project_to_a_verified_read_model() {
    let p = Pipeline::new(true).await;
    let dbs = Dbs::of(&p).await;
    let _worker = p.worker(&[]).await;
    let mut commands = vec![bodies::restock("c-r", "p-1", 30)];
    commands.extend(
        (0..40).map(|i| bodies::place(&format!("c-{i}"), &format!("o-{i}"), &[("p-1", 1)])),
    );
    commands.extend(
        (0..40)
            .step_by(4)
            .map(|i| bodies::cancel(&format!("c-x{i}"), &format!("o-{i}"))),
    );
    p.publish(&commands).await;
    let inbox = commands.len() as i64;
    p.wait_for_count("SELECT count(*) FROM inbox", inbox, Duration::from_secs(60))
        .await;
    let payloads: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT payload FROM outbox ORDER BY id")
            .fetch_all(&dbs.write)
            .await
            .expect("outbox");
    let events: Vec<ChangeEvent> = payloads
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("the worker's events parse"))
        .collect();
    send(&p, &events).await;
    let projector = start(&p, &dbs.read);
    wait_applied(&dbs, events.len(), Duration::from_secs(60)).await;
    wait_drained(&p, Duration::from_secs(30)).await;
    projector.stop().await;
    let report = dbs.assert_verified().await;
    assert_eq!((report.orders, report.products), (40, 1));
}

/// A pipeline whose queues send a message to the DLQ after 3 receives.
async fn impatient_pipeline() -> Pipeline {
    let settings = harness::setup_settings(false).await;
    let provisioned = fulfil::setup::run(&settings)
        .await
        .expect("setup")
        .provisioned;
    let write = fulfil::db::connect(Database::Write, &settings.write_database_url, 4)
        .await
        .expect("write database");
    Pipeline {
        settings,
        provisioned,
        aws: harness::aws().await,
        pool: write,
        key_prefix: String::new(),
    }
}

#[tokio::test]
async fn a_dropped_read_schema_holds_events_until_a_rebuild_restores_it() {
    let p = impatient_pipeline().await;
    let dbs = Dbs::of(&p).await;
    let log = history(20, 1, 5);
    let (first, rest) = log.split_at(log.len() / 2);
    dbs.log(&log).await;
    dbs.project(first).await;
    sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .execute(&dbs.read)
        .await
        .expect("drop the read schema");
    send(&p, rest).await;
    let projector = start(&p, &dbs.read);
    harness::eventually(Duration::from_secs(20), "the batch held", || async {
        (projector.stats.held_for_outage() >= 1).then_some(())
    })
    .await;
    let report = fulfil::projector::rebuild(&dbs.write, &dbs.read)
        .await
        .expect("rebuild");
    assert_eq!(report.events_applied, log.len() as u64);
    wait_drained(&p, Duration::from_secs(30)).await;
    projector.stop().await;
    assert_eq!(depth(&p, &p.provisioned.projector_dlq.url).await.0, 0);
    dbs.assert_verified().await;
}

#[tokio::test]
async fn an_unreadable_body_ends_in_the_projector_dlq_while_the_events_beside_it_apply() {
    let p = impatient_pipeline().await;
    let dbs = Dbs::of(&p).await;
    let log = history(3, 1, 3);
    dbs.log(&log).await;
    let garbage = r#"{"event_type":"OrderConfirmed","not":"an event"}"#;
    p.aws
        .sqs
        .send_message()
        .queue_url(&p.provisioned.projector_queue.url)
        .message_body(garbage)
        .send()
        .await
        .expect("SendMessage");
    send(&p, &log).await;
    let projector = start(&p, &dbs.read);
    wait_verified(&dbs, Duration::from_secs(30)).await;
    let dlq = &p.provisioned.projector_dlq.url;
    harness::eventually(Duration::from_secs(60), "the body in the DLQ", || async {
        (depth(&p, dlq).await.0 == 1).then_some(())
    })
    .await;
    projector.stop().await;
    let received = p.aws.sqs.receive_message().queue_url(dlq).send().await;
    let messages = received
        .expect("receive from the DLQ")
        .messages
        .unwrap_or_default();
    assert_eq!(messages.first().and_then(|m| m.body()), Some(garbage));
    dbs.assert_verified().await;
}
