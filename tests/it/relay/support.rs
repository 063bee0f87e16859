//! Helpers for the relay tests: change events written straight into a pipeline's outbox
//! (as the worker writes them, in a transaction), relay steps driven until quiet, and the
//! projector queue read back.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use fulfil::contract::event::{
    AggregateType, ChangeEvent, EventData, OrderSnapshot, StockSnapshot,
};
use fulfil::contract::OrderLine;
use fulfil::relay::{self, RelayStep};
use sqlx::PgPool;

use crate::pipeline::Pipeline;

pub fn stock_event(product_id: &str, version: i64) -> ChangeEvent {
    let data = EventData::StockChanged(StockSnapshot {
        product_id: product_id.into(),
        name: Some(format!("Product {product_id}")),
        available: version * 10,
        restocked: version * 10,
        confirmed: 0,
        cancelled: 0,
    });
    let command = format!("c-{product_id}-{version}");
    ChangeEvent::new(
        AggregateType::Product,
        product_id,
        version,
        &command,
        Utc::now(),
        data,
    )
}

/// Version 1 confirms the order, later versions cancel it (the payload changes each time).
pub fn order_event(order_id: &str, version: i64) -> ChangeEvent {
    let snapshot = OrderSnapshot {
        order_id: order_id.into(),
        user_id: format!("u-{order_id}"),
        status: if version == 1 {
            "confirmed"
        } else {
            "cancelled"
        }
        .into(),
        reason: (version > 1).then(|| format!("cancel #{version}")),
        lines: vec![OrderLine {
            product_id: "p".into(),
            quantity: 2,
        }],
        placed_at: Utc::now(),
    };
    let data = match version {
        1 => EventData::OrderConfirmed(snapshot),
        _ => EventData::OrderCancelled(snapshot),
    };
    let command = format!("c-{order_id}-{version}");
    ChangeEvent::new(
        AggregateType::Order,
        order_id,
        version,
        &command,
        Utc::now(),
        data,
    )
}

/// Appends `events` to the outbox in one committed transaction, as the worker does.
pub async fn append(pool: &PgPool, events: &[ChangeEvent]) {
    let mut tx = pool.begin().await.expect("begin");
    crate::harness::write_changes(&mut tx, &[], events)
        .await
        .expect("append to the outbox");
    tx.commit().await.expect("commit");
}

pub async fn step(p: &Pipeline, pool: &PgPool, limit: i64) -> RelayStep {
    relay::relay_once(
        pool,
        &p.aws.sns,
        &p.provisioned.events_topic_arn,
        p.settings.topology.fifo,
        limit,
    )
    .await
    .expect("relay step")
}

pub async fn unpublished(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
        .expect("count unpublished")
}

/// The stored payload text of `event_id`: what the relay must send byte for byte.
pub async fn payload(pool: &PgPool, event_id: uuid::Uuid) -> String {
    sqlx::query_scalar("SELECT payload::text FROM outbox WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(pool)
        .await
        .expect("payload of an event")
}

/// A message as the projector receives it.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub event_type: Option<String>,
    pub event: ChangeEvent,
}

impl Received {
    pub fn aggregate(&self) -> String {
        format!(
            "{}:{}",
            self.event.aggregate_type.as_str(),
            self.event.aggregate_id
        )
    }
}

/// Receives (and deletes) from the projector queue until `expected` messages arrived, in
/// arrival order; fails after 60 s with what it got.
pub async fn receive(p: &Pipeline, expected: usize) -> Vec<Received> {
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut received = Vec::new();
    while received.len() < expected {
        assert!(
            tokio::time::Instant::now() < until,
            "the projector queue gave {} of {expected} messages in 60 s",
            received.len()
        );
        received.extend(receive_batch(p, 1).await);
    }
    received
}

/// One receive of up to ten messages, deleted before the next receive so a FIFO group's
/// next message can follow.
pub async fn receive_batch(p: &Pipeline, wait_secs: i32) -> Vec<Received> {
    let queue = &p.provisioned.projector_queue.url;
    let out = p
        .aws
        .sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_secs)
        .message_attribute_names("All")
        .send()
        .await
        .expect("ReceiveMessage from the projector queue");
    let mut received = Vec::new();
    for message in out.messages() {
        let handle = message.receipt_handle().expect("receipt handle");
        p.aws
            .sqs
            .delete_message()
            .queue_url(queue)
            .receipt_handle(handle)
            .send()
            .await
            .expect("DeleteMessage");
        received.push(parse(message));
    }
    received
}

fn parse(message: &aws_sdk_sqs::types::Message) -> Received {
    let body = message.body().expect("a body").to_owned();
    let event: ChangeEvent =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not a change event ({e}): {body}"));
    let event_type = message
        .message_attributes()
        .and_then(|a| a.get("event_type"))
        .and_then(|v| v.string_value())
        .map(str::to_owned);
    Received {
        body,
        event_type,
        event,
    }
}

/// Per aggregate ("type:id"), the versions in the order they arrived.
pub fn versions_by_aggregate(received: &[Received]) -> BTreeMap<String, Vec<i64>> {
    let mut versions: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in received {
        versions
            .entry(r.aggregate())
            .or_default()
            .push(r.event.version);
    }
    versions
}

/// Every message is the stored payload byte for byte, with its `event_type` attribute.
pub async fn assert_payloads_match(pool: &PgPool, received: &[Received]) {
    for r in received {
        assert_eq!(r.body, payload(pool, r.event.event_id).await);
        assert_eq!(r.event_type.as_deref(), Some(r.event.data.event_type()));
    }
}
