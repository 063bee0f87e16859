//! The projection rule, the views an event produces, the log fold, and the property that
//! makes the projector safe on a queue that duplicates and reorders: any arrival order,
//! with redeliveries, ends in the model of the log in order.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::projector::replay::{replay, LogGap};
use crate::projector::sample::history;

fn in_order(log: &[ChangeEvent]) -> ReadModel {
    let mut model = ReadModel::default();
    for event in log {
        assert_eq!(model.apply(event), Applied::Applied, "{event:?}");
    }
    model
}

/// Applies `arrivals` the way the projector sees them: a gap goes back to the queue and is
/// tried again on the next pass, until nothing is left.
fn with_requeue(arrivals: Vec<ChangeEvent>) -> ReadModel {
    let mut model = ReadModel::default();
    let mut queue = arrivals;
    while !queue.is_empty() {
        let before = queue.len();
        queue.retain(|e| matches!(model.apply(e), Applied::Gap { .. }));
        assert!(queue.len() < before, "a pass made no progress: {queue:?}");
    }
    model
}

#[test]
fn given_no_view_when_its_first_event_arrives_then_it_is_applied() {
    let log = history(1, 1, 1);
    let mut model = ReadModel::default();
    assert_eq!(model.apply(&log[1]), Applied::Applied);
    assert_eq!(model.orders["o-0"].status, "confirmed");
    assert_eq!(model.events_applied, 1);
}

#[test]
fn given_an_applied_version_when_it_or_an_older_one_arrives_then_nothing_changes() {
    let log = history(4, 1, 1);
    let mut model = in_order(&log);
    let before = model.clone();
    for event in &log {
        assert_eq!(model.apply(event), Applied::AlreadyApplied);
    }
    assert_eq!(model, before);
}

#[test]
fn given_version_1_when_version_3_arrives_then_it_is_a_gap_expecting_2() {
    let log = history(4, 1, 1);
    let stock: Vec<&ChangeEvent> = log.iter().filter(|e| e.aggregate_id == "p-0").collect();
    let mut model = ReadModel::default();
    model.apply(stock[0]);
    let verdict = model.apply(stock[2]);
    assert_eq!(
        verdict,
        Applied::Gap {
            expected: 2,
            got: 3
        }
    );
    assert_eq!(model.products["p-0"].version, 1);
}

#[test]
fn an_order_view_is_the_snapshot_with_the_event_time_in_microseconds() {
    let log = history(4, 1, 1);
    let cancel = log
        .iter()
        .find(|e| e.version == 2 && e.aggregate_id == "o-3");
    let view = match View::of(cancel.expect("o-3 is cancelled")) {
        View::Order(o) => o,
        other => panic!("{other:?}"),
    };
    assert_eq!(view.status, "cancelled");
    assert_eq!(view.reason.as_deref(), Some("changed mind"));
    assert_eq!(view.version, 2);
    assert_eq!(view.updated_at.timestamp_subsec_nanos() % 1000, 0);
    assert!(view.updated_at > view.placed_at);
}

#[test]
fn a_product_view_counts_confirmed_and_cancelled_units() {
    let model = in_order(&history(4, 1, 4));
    let p = &model.products["p-0"];
    assert_eq!((p.confirmed_units, p.cancelled_units), (1 + 2 + 3 + 1, 1));
    assert_eq!(p.available, 1000 - 7 + 1);
    assert_eq!(p.version, 2);
    assert_eq!(p.name.as_deref(), Some("Product 0"));
}

#[test]
fn given_a_log_missing_a_version_when_replayed_then_the_gap_is_reported() {
    let mut log = history(6, 1, 1);
    let missing = log
        .iter()
        .position(|e| e.aggregate_id == "p-0" && e.version == 3);
    log.remove(missing.expect("p-0 has a version 3"));
    let replayed = replay(log);
    assert_eq!(
        replayed.gaps,
        vec![LogGap {
            aggregate: AggregateType::Product,
            aggregate_id: "p-0".into(),
            expected: 3,
            got: 4
        }]
    );
    assert_eq!(replayed.model.products["p-0"].version, 2);
}

/// A sample log and an arrival order of it: shuffled, with up to half of it redelivered.
fn log_and_arrivals() -> impl Strategy<Value = (Vec<ChangeEvent>, Vec<ChangeEvent>)> {
    (0..16usize, 1..4usize, 1..6usize)
        .prop_map(|(orders, products, batch)| history(orders, products, batch))
        .prop_flat_map(|log| {
            let n = log.len();
            (Just(log), vec(0..n, 0..=n / 2))
        })
        .prop_flat_map(|(log, again)| {
            let mut arrivals = log.clone();
            arrivals.extend(again.iter().map(|&i| log[i].clone()));
            (Just(log), Just(arrivals).prop_shuffle())
        })
}

proptest! {
    #[test]
    fn any_arrival_order_with_duplicates_ends_in_the_model_of_the_log_in_order(
        (log, arrivals) in log_and_arrivals()
    ) {
        let expected = in_order(&log);
        prop_assert_eq!(with_requeue(arrivals.clone()), expected.clone());
        let replayed = replay(arrivals);
        prop_assert!(replayed.gaps.is_empty());
        prop_assert_eq!(replayed.model, expected);
    }
}
