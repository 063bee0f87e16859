//! The entry point: the inbox check that makes every command take effect once, then the
//! command's own rule. Restock lives here because it is one short rule; orders have files.

use std::collections::BTreeMap;

use super::outcome::{DomainError, Outcome};
use super::state::{Product, State};
use super::{cancel, place};
use crate::contract::{Command, Envelope, Restock};

/// Applies one command to `state` and says what happened.
///
/// A command whose `command_id` is already in the inbox changes nothing (a redelivery is a
/// `Duplicate`, a reused id with another body a `Conflict`). Every other outcome records the
/// command in the inbox, so a repeat later in the same batch is caught too. On error nothing
/// at all has changed, inbox included, so the caller can load more and decide again.
pub fn decide(state: &mut State, envelope: &Envelope) -> Result<Outcome, DomainError> {
    decide_fingerprinted(state, envelope, &envelope.fingerprint())
}

/// [`decide`] with the envelope's [`Envelope::fingerprint`] already at hand: the worker
/// computes it once per message on receipt, outside any lock, and it is the costliest part
/// of deciding a command.
pub fn decide_fingerprinted(
    state: &mut State,
    envelope: &Envelope,
    fingerprint: &str,
) -> Result<Outcome, DomainError> {
    if let Some(seen) = state.inbox.get(&envelope.command_id) {
        let same = seen == fingerprint;
        return Ok(if same {
            Outcome::Duplicate
        } else {
            Outcome::Conflict
        });
    }
    let outcome = match &envelope.command {
        Command::Restock(command) => restock(&mut state.products, command),
        Command::PlaceOrder(command) => place::place_order(state, command),
        Command::CancelOrder(command) => {
            cancel::cancel_order(state, &envelope.command_id, command)?
        }
    };
    state
        .inbox
        .insert(envelope.command_id.clone(), fingerprint.to_owned());
    Ok(outcome)
}

/// Creates an unknown product (with the command's name) or adds to a known one; a name on the
/// command replaces the old one, an absent name keeps it.
fn restock(products: &mut BTreeMap<String, Product>, command: &Restock) -> Outcome {
    let created = !products.contains_key(&command.product_id);
    let product = products.entry(command.product_id.clone()).or_default();
    product.add(command.quantity);
    if command.name.is_some() {
        product.name.clone_from(&command.name);
    }
    Outcome::Restocked {
        product_id: command.product_id.clone(),
        quantity: command.quantity,
        created,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{decided, given, place, restock, restock_named, stock};
    use super::*;

    fn restocked(product_id: &str, quantity: u32, created: bool) -> Outcome {
        let product_id = product_id.to_owned();
        Outcome::Restocked {
            product_id,
            quantity,
            created,
        }
    }

    #[test]
    fn given_a_decided_command_when_it_comes_again_then_it_is_a_duplicate_and_nothing_changes() {
        let mut state = given(&[restock("c-1", "p-1", 5)]);
        let before = state.clone();
        assert_eq!(
            decided(&mut state, &restock("c-1", "p-1", 5)),
            Outcome::Duplicate
        );
        assert_eq!(state, before);
    }

    #[test]
    fn given_a_decided_command_id_when_another_body_reuses_it_then_it_is_a_conflict_and_nothing_changes(
    ) {
        let mut state = given(&[restock("c-1", "p-1", 5)]);
        let before = state.clone();
        let reuse = place("c-1", "o-1", &[("p-1", 1)]);
        assert_eq!(decided(&mut state, &reuse), Outcome::Conflict);
        assert_eq!(state, before);
    }

    #[test]
    fn given_a_command_when_decided_then_its_fingerprint_is_in_the_inbox_and_a_repeat_in_the_batch_is_a_duplicate(
    ) {
        let command = place("c-1", "o-1", &[("p-1", 1)]);
        let mut state = State::default();
        decided(&mut state, &command);
        assert_eq!(state.inbox.get("c-1"), Some(&command.fingerprint()));
        assert_eq!(decided(&mut state, &command), Outcome::Duplicate);
    }

    #[test]
    fn given_a_redelivery_with_another_issue_time_when_decided_then_it_is_still_a_duplicate() {
        let mut state = given(&[restock("c-1", "p-1", 5)]);
        let mut later = restock("c-1", "p-1", 5);
        later.issued_at = chrono::DateTime::from_timestamp(1_700_000_000, 0);
        assert_eq!(decided(&mut state, &later), Outcome::Duplicate);
    }

    #[test]
    fn given_no_product_when_restocked_then_it_is_created_with_its_name_and_quantity() {
        let mut state = State::default();
        let outcome = decided(&mut state, &restock_named("c-1", "p-1", 7, "Bread"));
        assert_eq!(outcome, restocked("p-1", 7, true));
        let expected = Product {
            name: Some("Bread".to_owned()),
            available: 7,
            restocked: 7,
            ..Product::default()
        };
        assert_eq!(state.products.get("p-1"), Some(&expected));
    }

    #[test]
    fn given_a_product_when_restocked_then_stock_adds_up_and_a_new_name_replaces_the_old() {
        let mut state = given(&[restock_named("c-1", "p-1", 3, "Bread")]);
        let outcome = decided(&mut state, &restock_named("c-2", "p-1", 4, "Pokemon bread"));
        assert_eq!(outcome, restocked("p-1", 4, false));
        assert_eq!(stock(&state, "p-1"), (7, 7, 0, 0));
        let name = state.products.get("p-1").and_then(|p| p.name.as_deref());
        assert_eq!(name, Some("Pokemon bread"));
    }

    #[test]
    fn given_a_named_product_when_restocked_without_a_name_then_the_name_is_kept() {
        let mut state = given(&[restock_named("c-1", "p-1", 3, "Bread")]);
        decided(&mut state, &restock("c-2", "p-1", 1));
        let name = state.products.get("p-1").and_then(|p| p.name.as_deref());
        assert_eq!(name, Some("Bread"));
    }

    #[test]
    fn given_stock_near_the_i64_limit_when_restocked_then_it_saturates_instead_of_wrapping() {
        let mut state = State::default();
        let full = Product {
            available: i64::MAX - 1,
            restocked: i64::MAX - 1,
            ..Product::default()
        };
        state.products.insert("p-1".to_owned(), full);
        decided(&mut state, &restock("c-1", "p-1", 1_000_000_000));
        assert_eq!(stock(&state, "p-1"), (i64::MAX, i64::MAX, 0, 0));
    }
}
