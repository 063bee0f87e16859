//! CancelOrder's rules, one test per rule and per edge.

use super::super::testing::{cancel, decide_err, decided, given, place, restock, stock};
use super::*;

fn no_effect(reason: NoEffect) -> Outcome {
    Outcome::NoEffect { reason }
}

fn confirmed_order_of_2() -> State {
    given(&[restock("c-1", "p-1", 5), place("c-2", "o-1", &[("p-1", 2)])])
}

#[test]
fn given_a_confirmed_order_when_cancelled_then_its_stock_is_given_back_and_it_is_cancelled() {
    let mut state = confirmed_order_of_2();
    let outcome = decided(&mut state, &cancel("c-3", "o-1", Some("changed mind")));
    assert_eq!(
        outcome,
        Outcome::Cancelled {
            order_id: "o-1".into()
        }
    );
    assert_eq!(stock(&state, "p-1"), (5, 5, 2, 2));
    let order = state.orders.get("o-1");
    let recorded = order.map(|o| (o.status, o.reason.as_deref()));
    assert_eq!(
        recorded,
        Some((OrderStatus::Cancelled, Some("changed mind")))
    );
}

#[test]
fn given_a_two_line_order_when_cancelled_then_every_line_is_given_back() {
    let history = [
        restock("c-1", "p-1", 5),
        restock("c-2", "p-2", 5),
        place("c-3", "o-1", &[("p-1", 2), ("p-2", 3)]),
    ];
    let mut state = given(&history);
    decided(&mut state, &cancel("c-4", "o-1", None));
    assert_eq!(stock(&state, "p-1"), (5, 5, 2, 2));
    assert_eq!(stock(&state, "p-2"), (5, 5, 3, 3));
}

#[test]
fn given_place_then_cancel_when_cancelled_again_then_already_cancelled_and_nothing_changes() {
    let mut state = confirmed_order_of_2();
    decided(&mut state, &cancel("c-3", "o-1", None));
    let before = state.clone();
    let outcome = decided(&mut state, &cancel("c-4", "o-1", Some("again")));
    assert_eq!(outcome, no_effect(NoEffect::AlreadyCancelled));
    assert_eq!(state.products, before.products);
    assert_eq!(state.orders, before.orders);
    assert!(state.inbox.contains_key("c-4"));
}

#[test]
fn given_a_rejected_order_when_cancelled_then_order_rejected_and_nothing_changes() {
    let mut state = given(&[restock("c-1", "p-1", 1), place("c-2", "o-1", &[("p-1", 2)])]);
    let before = state.clone();
    let outcome = decided(&mut state, &cancel("c-3", "o-1", None));
    assert_eq!(outcome, no_effect(NoEffect::OrderRejected));
    assert_eq!(stock(&state, "p-1"), (1, 1, 0, 0));
    assert_eq!(state.orders, before.orders);
}

#[test]
fn given_no_such_order_when_cancelled_then_the_cancel_is_remembered() {
    let mut state = State::default();
    let outcome = decided(&mut state, &cancel("c-1", "o-1", Some("too late")));
    assert_eq!(
        outcome,
        Outcome::CancelRemembered {
            order_id: "o-1".into()
        }
    );
    let expected = PendingCancel {
        command_id: "c-1".to_owned(),
        reason: Some("too late".to_owned()),
    };
    assert_eq!(state.pending_cancels.get("o-1"), Some(&expected));
    assert!(state.orders.is_empty());
}

#[test]
fn given_a_remembered_cancel_when_another_cancel_comes_then_cancel_already_pending_and_the_first_is_kept(
) {
    let mut state = given(&[cancel("c-1", "o-1", Some("first"))]);
    let outcome = decided(&mut state, &cancel("c-2", "o-1", Some("second")));
    assert_eq!(outcome, no_effect(NoEffect::CancelAlreadyPending));
    let kept = state
        .pending_cancels
        .get("o-1")
        .map(|c| c.command_id.as_str());
    assert_eq!(kept, Some("c-1"));
}

#[test]
fn given_cancel_then_place_when_cancelled_again_then_already_cancelled_and_no_stock_moves() {
    let history = [
        restock("c-1", "p-1", 5),
        cancel("c-2", "o-1", None),
        place("c-3", "o-1", &[("p-1", 2)]),
    ];
    let mut state = given(&history);
    let outcome = decided(&mut state, &cancel("c-4", "o-1", None));
    assert_eq!(outcome, no_effect(NoEffect::AlreadyCancelled));
    assert_eq!(stock(&state, "p-1"), (5, 5, 0, 0));
}

#[test]
fn given_a_confirmed_order_whose_product_was_not_loaded_when_cancelled_then_an_error_and_nothing_changes(
) {
    let history = [
        restock("c-1", "p-1", 5),
        restock("c-2", "p-2", 5),
        place("c-3", "o-1", &[("p-1", 2), ("p-2", 1)]),
    ];
    let mut state = given(&history);
    state.products.remove("p-2");
    let before = state.clone();
    let error = decide_err(&mut state, &cancel("c-4", "o-1", None));
    let expected = DomainError::ProductNotLoaded {
        order_id: "o-1".to_owned(),
        product_id: "p-2".to_owned(),
    };
    assert_eq!(error, expected);
    assert_eq!(state, before);
}
