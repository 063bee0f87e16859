//! Change events, schema version 1: what the write side tells the read side.
//!
//! Each event carries the whole state of its aggregate after the change (a snapshot, not a
//! delta), so applying one is an upsert guarded by the per-aggregate version: a duplicate is
//! recognised by its version, and a read model can be rebuilt from the log alone. The JSON
//! schema lives in `contract/change-events.v1.schema.json` (a test keeps the two in step).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::OrderLine;

/// The only event schema version this code writes and reads.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// Namespace for deterministic event ids: the same change always gets the same id.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6465_722d_6576_656e_7473_2d66_756c);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AggregateType {
    Order,
    Product,
}

impl AggregateType {
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateType::Order => "order",
            AggregateType::Product => "product",
        }
    }
}

/// One change to one aggregate, with its place in that aggregate's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub schema_version: u32,
    pub event_id: Uuid,
    pub aggregate_type: AggregateType,
    pub aggregate_id: String,
    /// 1 for the aggregate's first event, then +1 per event: the projector's ordering key.
    pub version: i64,
    pub occurred_at: DateTime<Utc>,
    /// The command that caused the change.
    pub command_id: String,
    #[serde(flatten)]
    pub data: EventData,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "data")]
pub enum EventData {
    OrderConfirmed(OrderSnapshot),
    OrderRejected(OrderSnapshot),
    OrderCancelled(OrderSnapshot),
    StockChanged(StockSnapshot),
}

impl EventData {
    pub fn event_type(&self) -> &'static str {
        match self {
            EventData::OrderConfirmed(_) => "OrderConfirmed",
            EventData::OrderRejected(_) => "OrderRejected",
            EventData::OrderCancelled(_) => "OrderCancelled",
            EventData::StockChanged(_) => "StockChanged",
        }
    }
}

/// An order as it stands after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSnapshot {
    pub order_id: String,
    pub user_id: String,
    /// `confirmed`, `rejected` or `cancelled`.
    pub status: String,
    pub reason: Option<String>,
    pub lines: Vec<OrderLine>,
    pub placed_at: DateTime<Utc>,
}

/// A product's stock as it stands after the change, with the totals that explain it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockSnapshot {
    pub product_id: String,
    pub name: Option<String>,
    pub available: i64,
    pub restocked: i64,
    pub confirmed: i64,
    pub cancelled: i64,
}

impl ChangeEvent {
    /// Builds an event whose id is derived from its aggregate and version, so writing the
    /// same change twice can never produce two different events.
    pub fn new(
        aggregate_type: AggregateType,
        aggregate_id: &str,
        version: i64,
        command_id: &str,
        occurred_at: DateTime<Utc>,
        data: EventData,
    ) -> Self {
        let key = format!("{}/{aggregate_id}/{version}", aggregate_type.as_str());
        Self {
            schema_version: EVENT_SCHEMA_VERSION,
            event_id: Uuid::new_v5(&EVENT_ID_NAMESPACE, key.as_bytes()),
            aggregate_type,
            aggregate_id: aggregate_id.to_owned(),
            version,
            occurred_at,
            command_id: command_id.to_owned(),
            data,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock_event(version: i64) -> ChangeEvent {
        let data = EventData::StockChanged(StockSnapshot {
            product_id: "p-1".into(),
            name: Some("Bread".into()),
            available: 8,
            restocked: 10,
            confirmed: 2,
            cancelled: 0,
        });
        ChangeEvent::new(
            AggregateType::Product,
            "p-1",
            version,
            "c-1",
            Utc::now(),
            data,
        )
    }

    #[test]
    fn an_event_serialises_with_its_type_and_data_side_by_side_and_reads_back() {
        let event = stock_event(3);
        let json: serde_json::Value = serde_json::from_str(&event.to_json()).unwrap();
        assert_eq!(json["event_type"], "StockChanged");
        assert_eq!(json["aggregate_type"], "product");
        assert_eq!(json["data"]["available"], 8);
        assert_eq!(json["schema_version"], 1);
        let back: ChangeEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    /// The committed JSON schema and the code agree on every required field.
    #[test]
    fn events_carry_every_field_the_committed_schema_requires() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../contract/change-events.v1.schema.json"))
                .unwrap();
        let required = |v: &serde_json::Value| -> Vec<String> {
            v["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .collect()
        };
        let order = OrderSnapshot {
            order_id: "o".into(),
            user_id: "u".into(),
            status: "confirmed".into(),
            reason: None,
            lines: vec![],
            placed_at: Utc::now(),
        };
        let events = [
            stock_event(1),
            ChangeEvent::new(
                AggregateType::Order,
                "o",
                1,
                "c",
                Utc::now(),
                EventData::OrderConfirmed(order),
            ),
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            for field in required(&schema) {
                assert!(json.get(&field).is_some(), "{field} missing from {json}");
            }
            let def = if event.aggregate_type == AggregateType::Order {
                "order"
            } else {
                "stock"
            };
            for field in required(&schema["$defs"][def]) {
                assert!(
                    json["data"].get(&field).is_some(),
                    "data.{field} missing from {json}"
                );
            }
        }
    }

    #[test]
    fn the_same_aggregate_version_always_gets_the_same_event_id() {
        assert_eq!(stock_event(3).event_id, stock_event(3).event_id);
        assert_ne!(stock_event(3).event_id, stock_event(4).event_id);
    }
}
