//! The read model as pure data, and the one rule that decides whether an event applies: its
//! version against the aggregate's current version (absent = 0). Every event carries its
//! aggregate's whole snapshot, so the newest version wins and arrival order does not matter.
//! The read database follows the same rule in SQL (`store`, planned here by [`plan`]);
//! `verify` and `rebuild` fold the event log through this code. No I/O here.
//!
//! The views ([`OrderView`], [`ProductView`]) are the one type per read table: the
//! projector writes them, `verify` compares them, the query API (`api::read`) reads and
//! serves them. The API depends on this module, never the other way round.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::contract::event::{AggregateType, ChangeEvent, EventData, OrderSnapshot, StockSnapshot};
use crate::contract::OrderLine;

/// The projection rule's verdict on one event: whether it changed the read model. Either
/// way the event is done with (the projector's handler deletes it: its message's
/// [`Disposition`](crate::queue::consumer::Disposition) is `Delete`); the verdict only says
/// whether it counts as applied (`events_applied`, the lag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The event was newer than the view: its snapshot replaced it.
    Applied,
    /// The view already holds this version or a later one (a copy, or an older event that
    /// came late): no effect.
    AlreadyApplied,
}

/// The rule shared by the in-memory model and the database: `current` is the aggregate's
/// version in the read model (0 when absent), `version` the event's. Versions skipped or
/// still to come do not matter: the event's snapshot is the whole aggregate.
pub fn decide(current: i64, version: i64) -> Verdict {
    if version > current {
        Verdict::Applied
    } else {
        Verdict::AlreadyApplied
    }
}

/// An aggregate: its table and id.
pub type Key = (AggregateType, String);

/// What one receive writes to the read database: per aggregate the view of its newest
/// event, where that is newer than the view there. Sorted by key, so concurrent projectors
/// take rows in one order and one set-based upsert per table never touches a row twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One per event, in the order given.
    pub verdicts: Vec<Verdict>,
    pub orders: Vec<OrderView>,
    pub products: Vec<ProductView>,
}

/// Plans a receive against `current`, each aggregate's version in the read database
/// (absent = 0). The verdicts are those of applying the events one by one in version order:
/// an event applies when it is newer than the view and is not a copy of an earlier event of
/// the receive. So a receive holding v1..v3 of one aggregate counts three events applied,
/// as the fold of the log does, though only v3 is written.
pub fn plan(events: &[ChangeEvent], current: &BTreeMap<Key, i64>) -> Plan {
    let mut copies = BTreeSet::new();
    let mut newest: BTreeMap<Key, View> = BTreeMap::new();
    let mut verdicts = Vec::with_capacity(events.len());
    for view in events.iter().map(View::of) {
        let (aggregate, id) = view.key();
        let key = (aggregate, id.to_owned());
        let now = current.get(&key).copied().unwrap_or(0);
        let verdict = match copies.insert((key.clone(), view.version())) {
            true => decide(now, view.version()),
            false => Verdict::AlreadyApplied,
        };
        verdicts.push(verdict);
        if newest.get(&key).map_or(now, View::version) < view.version() {
            newest.insert(key, view);
        }
    }
    Plan::of(verdicts, newest.into_values())
}

impl Plan {
    fn of(verdicts: Vec<Verdict>, views: impl Iterator<Item = View>) -> Plan {
        let mut plan = Plan {
            verdicts,
            ..Plan::default()
        };
        for view in views {
            match view {
                View::Order(o) => plan.orders.push(o),
                View::Product(p) => plan.products.push(p),
            }
        }
        plan
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

// The two views below are the rows of `read_orders` and `read_products`, and the one
// definition of them: the projector folds events into them and writes them, `verify`
// compares them, `rebuild` restores them, and the query API reads and serves them (their
// JSON is its response shape, their `ToSchema` its OpenAPI schema). Plain `//` comments,
// because utoipa would publish a `///` comment as a description in the served document.

// An order as the query API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub user_id: String,
    pub status: String,
    pub reason: Option<String>,
    #[sqlx(json)]
    pub lines: Vec<OrderLine>,
    pub version: i64,
    /// Orders the listing and its cursor; not part of the response shape.
    #[serde(skip)]
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

// A product's stock as the query API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, ToSchema)]
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
    /// Applies `event` if it is newer than its aggregate's view (see [`decide`]).
    pub fn apply(&mut self, event: &ChangeEvent) -> Verdict {
        let view = View::of(event);
        let (aggregate, id) = view.key();
        let verdict = decide(self.version(aggregate, id), event.version);
        if verdict == Verdict::Applied {
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
