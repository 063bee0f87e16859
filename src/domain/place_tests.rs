//! PlaceOrder's rules, one test per rule and per edge.

use super::super::testing::{cancel, decided, envelope, given, place, restock, stock};
use super::*;
use crate::contract::{Command, Envelope};

fn rejected(order_id: &str, reason: RejectReason, product_id: &str) -> Outcome {
    Outcome::Rejected {
        order_id: order_id.to_owned(),
        reason,
        product_id: product_id.to_owned(),
    }
}

fn status_and_reason<'a>(
    state: &'a State,
    order_id: &str,
) -> Option<(OrderStatus, Option<&'a str>)> {
    let order = state.orders.get(order_id)?;
    Some((order.status, order.reason.as_deref()))
}

#[test]
fn given_stock_3_when_an_order_for_2_then_it_is_confirmed_and_stock_is_taken() {
    let mut state = given(&[restock("c-1", "p-1", 3)]);
    let outcome = decided(&mut state, &place("c-2", "o-1", &[("p-1", 2)]));
    assert_eq!(
        outcome,
        Outcome::Confirmed {
            order_id: "o-1".into()
        }
    );
    assert_eq!(stock(&state, "p-1"), (1, 3, 2, 0));
    let order = state.orders.get("o-1");
    assert_eq!(
        order.map(|o| (o.status, o.user_id.as_str(), o.lines.len())),
        Some((OrderStatus::Confirmed, "u-1", 1))
    );
    assert_eq!(order.and_then(|o| o.reason.clone()), None);
}

#[test]
fn given_stock_2_when_an_order_for_exactly_2_then_it_is_confirmed_and_nothing_is_left() {
    let mut state = given(&[restock("c-1", "p-1", 2)]);
    let outcome = decided(&mut state, &place("c-2", "o-1", &[("p-1", 2)]));
    assert_eq!(outcome.code(), "CONFIRMED");
    assert_eq!(stock(&state, "p-1"), (0, 2, 2, 0));
}

#[test]
fn given_stock_1_when_an_order_for_2_then_it_is_rejected_out_of_stock_and_stock_is_untouched() {
    let mut state = given(&[restock("c-1", "p-1", 1)]);
    let outcome = decided(&mut state, &place("c-2", "o-1", &[("p-1", 2)]));
    assert_eq!(outcome, rejected("o-1", RejectReason::OutOfStock, "p-1"));
    assert_eq!(stock(&state, "p-1"), (1, 1, 0, 0));
    let recorded = status_and_reason(&state, "o-1");
    assert_eq!(
        recorded,
        Some((OrderStatus::Rejected, Some("OUT_OF_STOCK")))
    );
}

#[test]
fn given_no_such_product_when_ordered_then_it_is_rejected_unknown_product_and_recorded() {
    let mut state = State::default();
    let outcome = decided(&mut state, &place("c-1", "o-1", &[("p-9", 1)]));
    assert_eq!(
        outcome,
        rejected("o-1", RejectReason::UnknownProduct, "p-9")
    );
    let recorded = status_and_reason(&state, "o-1");
    assert_eq!(
        recorded,
        Some((OrderStatus::Rejected, Some("UNKNOWN_PRODUCT")))
    );
    assert!(state.products.is_empty());
}

#[test]
fn given_two_stocked_products_when_a_three_line_order_names_an_unknown_one_then_nothing_is_taken() {
    let mut state = given(&[restock("c-1", "p-1", 5), restock("c-2", "p-2", 5)]);
    let lines = [("p-1", 1), ("p-9", 1), ("p-2", 1)];
    let outcome = decided(&mut state, &place("c-3", "o-1", &lines));
    assert_eq!(
        outcome,
        rejected("o-1", RejectReason::UnknownProduct, "p-9")
    );
    assert_eq!(stock(&state, "p-1"), (5, 5, 0, 0));
    assert_eq!(stock(&state, "p-2"), (5, 5, 0, 0));
}

#[test]
fn given_a_short_line_before_an_unknown_one_when_ordered_then_the_unknown_product_is_reported() {
    let mut state = given(&[restock("c-1", "p-1", 1)]);
    let outcome = decided(&mut state, &place("c-2", "o-1", &[("p-1", 5), ("p-9", 1)]));
    assert_eq!(
        outcome,
        rejected("o-1", RejectReason::UnknownProduct, "p-9")
    );
}

#[test]
fn given_two_short_lines_when_ordered_then_the_first_short_line_is_named_and_nothing_is_taken() {
    let history = [
        restock("c-1", "p-1", 9),
        restock("c-2", "p-2", 1),
        restock("c-3", "p-3", 1),
    ];
    let mut state = given(&history);
    let lines = [("p-1", 2), ("p-3", 2), ("p-2", 2)];
    let outcome = decided(&mut state, &place("c-4", "o-1", &lines));
    assert_eq!(outcome, rejected("o-1", RejectReason::OutOfStock, "p-3"));
    assert_eq!(stock(&state, "p-1"), (9, 9, 0, 0));
}

#[test]
fn given_a_confirmed_order_when_placed_again_with_a_new_command_id_then_duplicate_order_and_no_stock_taken(
) {
    let mut state = given(&[restock("c-1", "p-1", 5), place("c-2", "o-1", &[("p-1", 2)])]);
    let outcome = decided(&mut state, &place("c-3", "o-1", &[("p-1", 2)]));
    assert_eq!(
        outcome,
        Outcome::NoEffect {
            reason: NoEffect::DuplicateOrder
        }
    );
    assert_eq!(stock(&state, "p-1"), (3, 5, 2, 0));
    assert!(state.inbox.contains_key("c-3"));
}

#[test]
fn given_a_rejected_order_when_placed_again_after_a_restock_then_it_stays_a_duplicate_order() {
    let history = [place("c-1", "o-1", &[("p-1", 2)]), restock("c-2", "p-1", 5)];
    let mut state = given(&history);
    let outcome = decided(&mut state, &place("c-3", "o-1", &[("p-1", 2)]));
    assert_eq!(outcome.code(), "DUPLICATE_ORDER");
    assert_eq!(stock(&state, "p-1"), (5, 5, 0, 0));
}

#[test]
fn given_a_cancel_before_its_order_when_placed_then_it_is_cancelled_before_place_and_no_stock_taken(
) {
    let history = [
        restock("c-1", "p-1", 5),
        cancel("c-2", "o-1", Some("changed mind")),
    ];
    let mut state = given(&history);
    let outcome = decided(&mut state, &place("c-3", "o-1", &[("p-1", 2)]));
    assert_eq!(
        outcome,
        Outcome::CancelledBeforePlace {
            order_id: "o-1".into()
        }
    );
    assert_eq!(stock(&state, "p-1"), (5, 5, 0, 0));
    let recorded = status_and_reason(&state, "o-1");
    assert_eq!(
        recorded,
        Some((OrderStatus::Cancelled, Some("changed mind")))
    );
    assert!(state.pending_cancels.is_empty());
}

#[test]
fn given_a_cancel_without_reason_before_its_order_when_placed_then_the_default_reason_is_recorded()
{
    let mut state = given(&[cancel("c-1", "o-1", None)]);
    decided(&mut state, &place("c-2", "o-1", &[("p-9", 2)]));
    let recorded = status_and_reason(&state, "o-1");
    assert_eq!(
        recorded,
        Some((OrderStatus::Cancelled, Some(CANCELLED_BEFORE_PLACED)))
    );
}

#[test]
fn given_a_hand_built_order_repeating_a_product_when_placed_then_its_demand_is_summed() {
    let mut state = given(&[restock("c-1", "p-1", 3)]);
    let mut command: Envelope = place("c-2", "o-1", &[("p-1", 2)]);
    if let Command::PlaceOrder(order) = &mut command.command {
        order.lines.push(order.lines[0].clone());
    }
    let outcome = decided(&mut state, &command);
    assert_eq!(outcome, rejected("o-1", RejectReason::OutOfStock, "p-1"));
    assert_eq!(stock(&state, "p-1"), (3, 3, 0, 0));
}

#[test]
fn given_a_user_when_an_order_is_placed_then_the_order_records_that_user() {
    let body = serde_json::json!({"version": 1, "command_id": "c-1", "type": "PlaceOrder",
        "order_id": "o-1", "user_id": "u-7", "lines": [{"product_id": "p-1", "quantity": 1}]});
    let mut state = State::default();
    decided(&mut state, &envelope(body));
    assert_eq!(
        state.orders.get("o-1").map(|o| o.user_id.as_str()),
        Some("u-7")
    );
}
