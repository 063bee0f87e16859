//! What the core decides against: products, orders, early cancels and the inbox.
//!
//! The caller loads only what a batch needs; a product or order missing from a map is one the
//! core treats as unknown, so loading too little shows up as a wrong answer, not a crash.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::contract::OrderLine;

/// One product's stock. The four counters keep `restocked - confirmed + cancelled == available`
/// so that an audit can prove no unit was oversold or lost.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Product {
    pub name: Option<String>,
    pub available: i64,
    pub restocked: i64,
    pub confirmed: i64,
    pub cancelled: i64,
}

impl Product {
    /// Restocked units become available. Saturating: a total past `i64::MAX` would need ~9e9
    /// maximal restocks, and wrapping to a negative stock would be far worse than sticking.
    pub(super) fn add(&mut self, quantity: u32) {
        let quantity = i64::from(quantity);
        self.available = self.available.saturating_add(quantity);
        self.restocked = self.restocked.saturating_add(quantity);
    }

    /// Whether `quantity` units can be taken; callers take nothing unless this holds.
    pub(super) fn has(&self, quantity: i64) -> bool {
        self.available >= quantity
    }

    /// A confirmed line's units leave the shelf; the caller has checked [`Product::has`].
    pub(super) fn take(&mut self, quantity: u32) {
        let quantity = i64::from(quantity);
        self.available = self.available.saturating_sub(quantity);
        self.confirmed = self.confirmed.saturating_add(quantity);
    }

    /// A cancelled line's units come back.
    pub(super) fn give_back(&mut self, quantity: u32) {
        let quantity = i64::from(quantity);
        self.available = self.available.saturating_add(quantity);
        self.cancelled = self.cancelled.saturating_add(quantity);
    }
}

/// Where an order ended up; an order is recorded even when rejected, so a second PlaceOrder for
/// the same id is recognised as a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Confirmed,
    Rejected,
    Cancelled,
}

/// A stored status that is none of the three; names the text so an operator can find the row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an order status (confirmed, rejected, cancelled)")]
pub struct UnknownOrderStatus(pub String);

impl OrderStatus {
    /// The stored and published spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = UnknownOrderStatus;

    /// The inverse of [`OrderStatus::as_str`], for reading the status column back.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "confirmed" => Ok(Self::Confirmed),
            "rejected" => Ok(Self::Rejected),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(UnknownOrderStatus(other.to_owned())),
        }
    }
}

/// An order as recorded; `lines` are kept so a later cancel knows what stock to give back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub user_id: String,
    pub status: OrderStatus,
    /// Why it was rejected (the reject code) or cancelled (the cancel's reason, if any).
    pub reason: Option<String>,
    pub lines: Vec<OrderLine>,
}

/// A CancelOrder that arrived before its PlaceOrder, kept until the order shows up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCancel {
    pub command_id: String,
    pub reason: Option<String>,
}

/// Everything one batch decides against, keyed by id; `BTreeMap` keeps iteration (and thus the
/// order of writes the caller derives from it) deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    /// Absent means the product is unknown.
    pub products: BTreeMap<String, Product>,
    pub orders: BTreeMap<String, Order>,
    /// order_id -> the cancel that came before its order.
    pub pending_cancels: BTreeMap<String, PendingCancel>,
    /// command_id -> fingerprint of every command already decided.
    pub inbox: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_each_status_when_spelled_and_read_back_then_it_is_the_same_status() {
        for status in [
            OrderStatus::Confirmed,
            OrderStatus::Rejected,
            OrderStatus::Cancelled,
        ] {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
        }
    }

    #[test]
    fn given_an_unknown_spelling_when_read_then_it_is_an_error_naming_it() {
        let error = "Confirmed".parse::<OrderStatus>();
        assert_eq!(error, Err(UnknownOrderStatus("Confirmed".to_owned())));
        let message = UnknownOrderStatus("shipped".to_owned()).to_string();
        assert_eq!(
            message,
            r#""shipped" is not an order status (confirmed, rejected, cancelled)"#
        );
    }
}
