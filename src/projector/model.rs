//! The read model as pure data, and the one rule that decides whether an event applies: its
//! version against the aggregate's current version (absent = 0). The read database follows
//! the same rule in SQL (`store`); `verify` and `rebuild` fold the event log through this
//! code. No I/O here.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};

use crate::contract::event::{AggregateType, ChangeEvent, EventData, OrderSnapshot, StockSnapshot};
use crate::contract::OrderLine;

/// What became of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The event was the aggregate's next version: its snapshot replaced the view.
    Applied,
    /// The view already holds this version or a later one: a duplicate, no effect.
    AlreadyApplied,
    /// An earlier version is missing: the event must wait for it.
    Gap { expected: i64, got: i64 },
}

/// The rule shared by the in-memory model and the database: `current` is the aggregate's
/// version in the read model (0 when absent), `version` the event's.
pub fn decide(current: i64, version: i64) -> Applied {
    match version {
        v if v <= current => Applied::AlreadyApplied,
        v if v == current + 1 => Applied::Applied,
        got => Applied::Gap {
            expected: current + 1,
            got,
        },
    }
}

/// Which table an event's aggregate lives in, by the data it carries (the same as its
/// `aggregate_type` for every event the worker writes).
pub fn table_of(event: &ChangeEvent) -> AggregateType {
    match event.data {
        EventData::StockChanged(_) => AggregateType::Product,
        _ => AggregateType::Order,
    }
}

/// An order as the query API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    pub order_id: String,
    pub user_id: String,
    pub status: String,
    pub reason: Option<String>,
    pub lines: Vec<OrderLine>,
    pub version: i64,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A product's stock as the query API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductView {
    pub product_id: String,
    pub name: Option<String>,
    pub available: i64,
    pub confirmed_units: i64,
    pub cancelled_units: i64,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// The row one event leaves behind: its aggregate's whole view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Order(OrderView),
    Product(ProductView),
}

impl View {
    /// The view `event` sets. Keyed by the event's aggregate id; which table it belongs to
    /// follows from the data it carries.
    pub fn of(event: &ChangeEvent) -> View {
        match &event.data {
            EventData::OrderConfirmed(o)
            | EventData::OrderRejected(o)
            | EventData::OrderCancelled(o) => View::Order(order_view(event, o)),
            EventData::StockChanged(s) => View::Product(product_view(event, s)),
        }
    }

    pub fn version(&self) -> i64 {
        match self {
            View::Order(o) => o.version,
            View::Product(p) => p.version,
        }
    }

    /// Which aggregate this view is: its table and id.
    pub fn key(&self) -> (AggregateType, &str) {
        match self {
            View::Order(o) => (AggregateType::Order, &o.order_id),
            View::Product(p) => (AggregateType::Product, &p.product_id),
        }
    }
}

/// The read database keeps microseconds; so does the model, or a fold of the log would
/// never equal the tables.
pub fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

fn order_view(event: &ChangeEvent, o: &OrderSnapshot) -> OrderView {
    OrderView {
        order_id: event.aggregate_id.clone(),
        user_id: o.user_id.clone(),
        status: o.status.clone(),
        reason: o.reason.clone(),
        lines: o.lines.clone(),
        version: event.version,
        placed_at: micros(o.placed_at),
        updated_at: micros(event.occurred_at),
    }
}

fn product_view(event: &ChangeEvent, s: &StockSnapshot) -> ProductView {
    ProductView {
        product_id: event.aggregate_id.clone(),
        name: s.name.clone(),
        available: s.available,
        confirmed_units: s.confirmed,
        cancelled_units: s.cancelled,
        version: event.version,
        updated_at: micros(event.occurred_at),
    }
}

/// Every order and product view, and how many events built them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadModel {
    pub orders: BTreeMap<String, OrderView>,
    pub products: BTreeMap<String, ProductView>,
    pub events_applied: u64,
}

impl ReadModel {
    /// Applies `event` if it is its aggregate's next version (see [`decide`]).
    pub fn apply(&mut self, event: &ChangeEvent) -> Applied {
        let view = View::of(event);
        let (aggregate, id) = view.key();
        let verdict = decide(self.version(aggregate, id), event.version);
        if verdict == Applied::Applied {
            self.events_applied += 1;
            match view {
                View::Order(o) => {
                    self.orders.insert(o.order_id.clone(), o);
                }
                View::Product(p) => {
                    self.products.insert(p.product_id.clone(), p);
                }
            }
        }
        verdict
    }

    /// The current version of an aggregate (0 when absent).
    pub fn version(&self, aggregate: AggregateType, id: &str) -> i64 {
        match aggregate {
            AggregateType::Order => self.orders.get(id).map_or(0, |v| v.version),
            AggregateType::Product => self.products.get(id).map_or(0, |v| v.version),
        }
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
