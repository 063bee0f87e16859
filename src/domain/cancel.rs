//! CancelOrder: a confirmed order gives its stock back; cancelling a cancelled or rejected
//! order changes nothing; a cancel for an order not seen yet is remembered for its PlaceOrder.

use std::collections::BTreeMap;

use super::outcome::{DomainError, NoEffect, Outcome};
use super::state::{Order, OrderStatus, PendingCancel, Product, State};
use crate::contract::{CancelOrder, OrderLine};

pub(super) fn cancel_order(
    state: &mut State,
    command_id: &str,
    command: &CancelOrder,
) -> Result<Outcome, DomainError> {
    let Some(order) = state.orders.get_mut(&command.order_id) else {
        return Ok(remember(&mut state.pending_cancels, command_id, command));
    };
    let reason = match order.status {
        OrderStatus::Confirmed => return give_back(&mut state.products, order, command),
        OrderStatus::Cancelled => NoEffect::AlreadyCancelled,
        OrderStatus::Rejected => NoEffect::OrderRejected,
    };
    Ok(Outcome::NoEffect { reason })
}

/// Only the first early cancel is kept: its reason is the one the order will carry.
fn remember(
    pending: &mut BTreeMap<String, PendingCancel>,
    command_id: &str,
    command: &CancelOrder,
) -> Outcome {
    if pending.contains_key(&command.order_id) {
        let reason = NoEffect::CancelAlreadyPending;
        return Outcome::NoEffect { reason };
    }
    let cancel = PendingCancel {
        command_id: command_id.to_owned(),
        reason: command.reason.clone(),
    };
    pending.insert(command.order_id.clone(), cancel);
    let order_id = command.order_id.clone();
    Outcome::CancelRemembered { order_id }
}

/// Every product is checked before any is touched, so a missing one leaves the state as it was.
fn give_back(
    products: &mut BTreeMap<String, Product>,
    order: &mut Order,
    command: &CancelOrder,
) -> Result<Outcome, DomainError> {
    let order_id = command.order_id.clone();
    check_loaded(products, &order_id, &order.lines)?;
    for line in &order.lines {
        if let Some(product) = products.get_mut(&line.product_id) {
            product.give_back(line.quantity);
        }
    }
    order.status = OrderStatus::Cancelled;
    order.reason.clone_from(&command.reason);
    Ok(Outcome::Cancelled { order_id })
}

fn check_loaded(
    products: &BTreeMap<String, Product>,
    order_id: &str,
    lines: &[OrderLine],
) -> Result<(), DomainError> {
    let missing = lines
        .iter()
        .find(|line| !products.contains_key(&line.product_id));
    match missing {
        None => Ok(()),
        Some(line) => Err(DomainError::ProductNotLoaded {
            order_id: order_id.to_owned(),
            product_id: line.product_id.clone(),
        }),
    }
}

#[cfg(test)]
#[path = "cancel_tests.rs"]
mod tests;
