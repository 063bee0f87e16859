//! PlaceOrder: one order per id, an early cancel wins, and stock is taken for all lines or
//! none. Every order is recorded, rejected ones too, so the same id is never decided twice.

use std::collections::BTreeMap;

use super::outcome::{NoEffect, Outcome, RejectReason};
use super::state::{Order, OrderStatus, Product, State};
use crate::contract::{OrderLine, PlaceOrder};

/// The recorded reason when the early cancel gave none.
const CANCELLED_BEFORE_PLACED: &str = "cancelled before it was placed";

pub(super) fn place_order(state: &mut State, command: &PlaceOrder) -> Outcome {
    let order_id = command.order_id.clone();
    if state.orders.contains_key(&order_id) {
        let reason = NoEffect::DuplicateOrder;
        return Outcome::NoEffect { reason };
    }
    if let Some(cancel) = state.pending_cancels.remove(&order_id) {
        let reason = cancel
            .reason
            .unwrap_or_else(|| CANCELLED_BEFORE_PLACED.to_owned());
        record(state, command, OrderStatus::Cancelled, Some(reason));
        return Outcome::CancelledBeforePlace { order_id };
    }
    if let Some((reason, product_id)) = first_problem(&state.products, &command.lines) {
        record(
            state,
            command,
            OrderStatus::Rejected,
            Some(reason.code().to_owned()),
        );
        return Outcome::Rejected {
            order_id,
            reason,
            product_id,
        };
    }
    take_stock(&mut state.products, &command.lines);
    record(state, command, OrderStatus::Confirmed, None);
    Outcome::Confirmed { order_id }
}

/// Unknown products are reported before shortages, each as the first such line, so the
/// reason does not depend on how much stock happens to be left elsewhere.
fn first_problem(
    products: &BTreeMap<String, Product>,
    lines: &[OrderLine],
) -> Option<(RejectReason, String)> {
    let unknown = lines
        .iter()
        .find(|line| !products.contains_key(&line.product_id));
    if let Some(line) = unknown {
        return Some((RejectReason::UnknownProduct, line.product_id.clone()));
    }
    first_short_line(products, lines)
        .map(|line| (RejectReason::OutOfStock, line.product_id.clone()))
}

/// Demand is summed per product: the contract makes product ids distinct within an order, but
/// a hand-built command must still never drive stock below zero.
fn first_short_line<'a>(
    products: &BTreeMap<String, Product>,
    lines: &'a [OrderLine],
) -> Option<&'a OrderLine> {
    let mut demand: BTreeMap<&str, i64> = BTreeMap::new();
    lines.iter().find(|line| {
        let wanted = demand.entry(line.product_id.as_str()).or_insert(0);
        *wanted = wanted.saturating_add(i64::from(line.quantity));
        let product = products.get(&line.product_id);
        !product.is_some_and(|product| product.has(*wanted))
    })
}

/// Only called once every line is known to be servable.
fn take_stock(products: &mut BTreeMap<String, Product>, lines: &[OrderLine]) {
    for line in lines {
        if let Some(product) = products.get_mut(&line.product_id) {
            product.take(line.quantity);
        }
    }
}

fn record(state: &mut State, command: &PlaceOrder, status: OrderStatus, reason: Option<String>) {
    let order = Order {
        user_id: command.user_id.clone(),
        status,
        reason,
        lines: command.lines.clone(),
    };
    state.orders.insert(command.order_id.clone(), order);
}

#[cfg(test)]
#[path = "place_tests.rs"]
mod tests;
