//! The foundation: setup builds the topology idempotently, commands flow from the topic to
//! the queue unchanged, and every service the product needs answers.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sns::types::MessageAttributeValue as SnsAttribute;
use aws_sdk_sqs::types::QueueAttributeName as Attr;
use fulfil::db::Database;
use fulfil::queue::topology::QueueRef;
use fulfil::queue::{AwsClients, ChangeKind};
use redis::AsyncCommands;

use crate::harness::{self, TestDb};

async fn attributes(aws: &AwsClients, queue: &QueueRef) -> HashMap<Attr, String> {
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&queue.url)
        .attribute_names(Attr::All)
        .send()
        .await;
    out.expect("GetQueueAttributes")
        .attributes()
        .cloned()
        .unwrap_or_default()
}

async fn setup_twice_then_check(fifo: bool) {
    let aws = harness::aws().await;
    let settings = harness::setup_settings(fifo).await;

    let first = fulfil::setup::run(&settings).await.expect("first setup");
    let second = fulfil::setup::run(&settings).await.expect("second setup");

    assert!(
        first
            .changes
            .iter()
            .all(|c| c.kind != ChangeKind::Unchanged),
        "{:#?}",
        first.changes
    );
    assert!(
        !second.changed(),
        "second run changed something: {:#?}",
        second.changes
    );
    assert_eq!(first.changes.len(), second.changes.len());

    let p = &second.provisioned;
    for (queue, dlq) in [
        (&p.commands_queue, &p.commands_dlq),
        (&p.projector_queue, &p.projector_dlq),
    ] {
        let attrs = attributes(&aws, queue).await;
        let redrive: serde_json::Value =
            serde_json::from_str(&attrs[&Attr::RedrivePolicy]).expect("redrive JSON");
        assert_eq!(redrive["deadLetterTargetArn"], dlq.arn.as_str());
        assert_eq!(
            redrive["maxReceiveCount"].to_string().trim_matches('"'),
            "3"
        );
        assert_eq!(
            attrs.get(&Attr::FifoQueue).map(String::as_str),
            fifo.then_some("true")
        );
        assert_eq!(queue.name.ends_with(".fifo"), fifo);
        let allow = attributes(&aws, dlq).await;
        assert!(
            allow[&Attr::RedriveAllowPolicy].contains(&queue.arn),
            "{allow:?}"
        );
    }
    for (topic, queue) in [
        (&p.commands_topic_arn, &p.commands_queue),
        (&p.events_topic_arn, &p.projector_queue),
    ] {
        let subs = aws
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .send()
            .await
            .expect("subscriptions");
        let sub = subs
            .subscriptions()
            .iter()
            .find(|s| s.endpoint() == Some(queue.arn.as_str()))
            .expect("subscription exists");
        let arn = sub.subscription_arn().expect("subscription ARN");
        let attrs = aws
            .sns
            .get_subscription_attributes()
            .subscription_arn(arn)
            .send()
            .await
            .expect("attributes");
        assert_eq!(
            attrs
                .attributes()
                .and_then(|a| a.get("RawMessageDelivery"))
                .map(String::as_str),
            Some("true")
        );
    }
}

#[tokio::test]
async fn fifo_setup_builds_every_queue_dlq_and_subscription_and_a_second_run_changes_nothing() {
    setup_twice_then_check(true).await;
}

#[tokio::test]
async fn standard_setup_builds_every_queue_dlq_and_subscription_and_a_second_run_changes_nothing() {
    setup_twice_then_check(false).await;
}

async fn publish_then_receive(fifo: bool) {
    let aws = harness::aws().await;
    let report = fulfil::setup::run(&harness::setup_settings(fifo).await)
        .await
        .expect("setup");
    let p = &report.provisioned;
    // Odd spacing and an extra field: raw delivery must hand over these exact bytes.
    let body = r#"{"version":1, "command_id":"c-0002","type":"PlaceOrder","order_id":"o-1","user_id":"u-1","lines":[{"product_id":"pokemon-bread","quantity":2}],  "extra":true}"#;
    let attribute = SnsAttribute::builder()
        .data_type("String")
        .string_value("PlaceOrder")
        .build()
        .expect("attribute");
    let mut publish = aws
        .sns
        .publish()
        .topic_arn(&p.commands_topic_arn)
        .message(body)
        .message_attributes("command_type", attribute);
    if fifo {
        publish = publish
            .message_group_id("o-1")
            .message_deduplication_id("c-0002");
    }
    publish.send().await.expect("publish");

    let received = harness::eventually(
        Duration::from_secs(30),
        "the message on the commands queue",
        || async {
            let out = aws
                .sqs
                .receive_message()
                .queue_url(&p.commands_queue.url)
                .wait_time_seconds(2)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive");
            out.messages().first().cloned()
        },
    )
    .await;
    assert_eq!(received.body(), Some(body));
    let command_type = received
        .message_attributes()
        .and_then(|a| a.get("command_type"))
        .and_then(|v| v.string_value());
    assert_eq!(command_type, Some("PlaceOrder"));
}

#[tokio::test]
async fn a_command_published_to_the_fifo_topic_arrives_unchanged_on_the_fifo_queue() {
    publish_then_receive(true).await;
}

#[tokio::test]
async fn a_command_published_to_the_standard_topic_arrives_unchanged_on_the_standard_queue() {
    publish_then_receive(false).await;
}

#[tokio::test]
async fn both_databases_take_their_migrations_and_answer() {
    for kind in [Database::Write, Database::Read] {
        let (_db, pool) = TestDb::migrated(kind).await;
        let table = if kind == Database::Write {
            "outbox"
        } else {
            "read_orders"
        };
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .expect("query");
        assert_eq!(count, 0);
    }
}

/// Migration 0008 moves each order's lines from `order_lines` into the order's row: an
/// order written before it keeps its lines, in line order, and is read back whole.
#[tokio::test]
async fn orders_written_before_migration_8_keep_their_lines_in_order() {
    let test_db = TestDb::empty(Database::Write).await;
    let pool = test_db.pool(Database::Write, 2).await;
    for m in fulfil::db::WRITE_MIGRATIONS
        .iter()
        .filter(|m| m.version < 8)
    {
        sqlx::raw_sql(&m.sql)
            .execute(&pool)
            .await
            .expect("an earlier migration");
    }
    sqlx::raw_sql(
        "INSERT INTO orders (order_id, user_id, status, command_id, version)
             VALUES ('o-1', 'u', 'confirmed', 'c-1', 1), ('o-2', 'u', 'rejected', 'c-2', 1);
         INSERT INTO order_lines VALUES ('o-1', 1, 'jam', 3), ('o-1', 0, 'bread', 2), ('o-2', 0, 'tea', 1);",
    )
    .execute(&pool)
    .await
    .expect("orders in the old shape");
    let eighth = fulfil::db::WRITE_MIGRATIONS
        .iter()
        .find(|m| m.version == 8)
        .expect("migration 8 exists");
    sqlx::raw_sql(&eighth.sql)
        .execute(&pool)
        .await
        .expect("migration 8");

    let ids = ["o-1".to_owned(), "o-2".to_owned()];
    let orders = fulfil::store::orders::load(&pool, &ids)
        .await
        .expect("load");
    let lines = |id: &str| -> Vec<(String, u32)> {
        orders[id]
            .order
            .lines
            .iter()
            .map(|l| (l.product_id.clone(), l.quantity))
            .collect()
    };
    assert_eq!(lines("o-1"), vec![("bread".into(), 2), ("jam".into(), 3)]);
    assert_eq!(lines("o-2"), vec![("tea".into(), 1)]);
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('order_lines')::text")
        .fetch_one(&pool)
        .await
        .expect("look for the old table");
    assert_eq!(table, None, "order_lines is gone");
}

#[tokio::test]
async fn redis_answers_under_a_test_prefix() {
    let mut conn = harness::redis().await;
    let key = format!("{}:probe", harness::unique("redis"));
    let () = conn.set_ex(&key, "here", 60).await.expect("SET");
    let value: String = conn.get(&key).await.expect("GET");
    assert_eq!(value, "here");
}

#[test]
fn a_bad_setting_fails_at_start_naming_the_setting_and_the_value() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fulfil"))
        .args([
            "setup",
            "--write-database-url",
            "mysql://db/orders",
            "--read-database-url",
            "postgres://h/r",
        ])
        .output()
        .expect("run fulfil");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FULFIL_WRITE_DATABASE_URL"), "{stderr}");
    assert!(stderr.contains("mysql://db/orders"), "{stderr}");
}
