//! The projection rule, the views an event produces, the plan of one receive, the log fold,
//! and the property that makes the projector safe on a queue that duplicates and reorders:
//! any arrival order, with redeliveries, in receives of any size, ends in the views of the
//! log in order.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::projector::replay::replay;
use crate::projector::sample::history;

fn in_order(log: &[ChangeEvent]) -> ReadModel {
    let mut model = ReadModel::default();
    for event in log {
        assert_eq!(model.apply(event), Verdict::Applied, "{event:?}");
    }
    model
}

/// The views alone, without the count of events that built them (which depends on the
/// order they came in).
fn views(model: &ReadModel) -> (&BTreeMap<String, OrderView>, &BTreeMap<String, ProductView>) {
    (&model.orders, &model.products)
}

/// Applies `arrivals` the way the projector does: `receive` events at a time, each receive
/// planned against the versions the model holds and its writes put in place.
fn by_receives(arrivals: &[ChangeEvent], receive: usize) -> ReadModel {
    let mut model = ReadModel::default();
    for events in arrivals.chunks(receive) {
        let current = versions(&model);
        let plan = plan(events, &current);
        model.events_applied += plan
            .verdicts
            .iter()
            .filter(|v| **v == Verdict::Applied)
            .count() as u64;
        for o in plan.orders {
            model.orders.insert(o.order_id.clone(), o);
        }
        for p in plan.products {
            model.products.insert(p.product_id.clone(), p);
        }
    }
    model
}

fn versions(model: &ReadModel) -> BTreeMap<Key, i64> {
    let orders = model
        .orders
        .values()
        .map(|o| ((AggregateType::Order, o.order_id.clone()), o.version));
    let products = model
        .products
        .values()
        .map(|p| ((AggregateType::Product, p.product_id.clone()), p.version));
    orders.chain(products).collect()
}

fn stock_of(log: &[ChangeEvent], product: &str) -> Vec<ChangeEvent> {
    log.iter()
        .filter(|e| e.aggregate_id == product)
        .cloned()
        .collect()
}

#[test]
fn given_no_view_when_its_first_event_arrives_then_it_is_applied() {
    let log = history(1, 1, 1);
    let mut model = ReadModel::default();
    assert_eq!(model.apply(&log[1]), Verdict::Applied);
    assert_eq!(model.orders["o-0"].status, "confirmed");
    assert_eq!(model.events_applied, 1);
}

#[test]
fn given_an_applied_version_when_it_or_an_older_one_arrives_then_nothing_changes() {
    let log = history(4, 1, 1);
    let mut model = in_order(&log);
    let before = model.clone();
    for event in &log {
        assert_eq!(model.apply(event), Verdict::AlreadyApplied);
    }
    assert_eq!(model, before);
}

#[test]
fn given_version_1_when_version_3_arrives_then_it_is_applied_and_version_2_after_it_is_not() {
    let stock = stock_of(&history(4, 1, 1), "p-0");
    let mut model = ReadModel::default();
    model.apply(&stock[0]);
    assert_eq!(model.apply(&stock[2]), Verdict::Applied);
    assert_eq!(model.apply(&stock[1]), Verdict::AlreadyApplied);
    let p = &model.products["p-0"];
    assert_eq!((p.version, p.available), (3, 1000 - 1 - 2));
    assert_eq!(model.events_applied, 2);
}

#[test]
fn given_no_view_when_the_last_version_arrives_first_then_every_earlier_one_is_already_applied() {
    let stock = stock_of(&history(6, 1, 1), "p-0");
    let mut model = ReadModel::default();
    let verdicts: Vec<Verdict> = stock.iter().rev().map(|e| model.apply(e)).collect();
    assert_eq!(verdicts[0], Verdict::Applied);
    assert!(verdicts[1..].iter().all(|v| *v == Verdict::AlreadyApplied));
    assert_eq!(views(&model), views(&in_order(&stock)));
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
fn given_versions_1_to_3_in_one_receive_when_planned_then_all_apply_and_only_3_is_written() {
    let stock = stock_of(&history(4, 1, 1), "p-0");
    let receive = [stock[1].clone(), stock[2].clone(), stock[0].clone()];
    let plan = plan(&receive, &BTreeMap::new());
    assert_eq!(plan.verdicts, vec![Verdict::Applied; 3]);
    let written: Vec<i64> = plan.products.iter().map(|p| p.version).collect();
    assert_eq!(written, vec![3]);
    assert!(plan.orders.is_empty());
}

#[test]
fn given_a_copy_in_one_receive_when_planned_then_only_its_first_copy_applies() {
    let log = history(1, 1, 1);
    let receive = [log[1].clone(), log[1].clone()];
    let plan = plan(&receive, &BTreeMap::new());
    assert_eq!(
        plan.verdicts,
        vec![Verdict::Applied, Verdict::AlreadyApplied]
    );
    assert_eq!(plan.orders.len(), 1);
}

#[test]
fn given_a_view_at_version_3_when_versions_2_and_4_are_planned_then_only_4_applies() {
    let stock = stock_of(&history(6, 1, 1), "p-0");
    let current = BTreeMap::from([((AggregateType::Product, "p-0".to_owned()), 3)]);
    let plan = plan(&[stock[3].clone(), stock[1].clone()], &current);
    assert_eq!(
        plan.verdicts,
        vec![Verdict::Applied, Verdict::AlreadyApplied]
    );
    let written: Vec<i64> = plan.products.iter().map(|p| p.version).collect();
    assert_eq!(written, vec![4]);
}

#[test]
fn given_a_view_newer_than_the_receive_when_planned_then_nothing_is_written() {
    let stock = stock_of(&history(6, 1, 1), "p-0");
    let current = BTreeMap::from([((AggregateType::Product, "p-0".to_owned()), 5)]);
    let plan = plan(&stock[..3], &current);
    assert_eq!(plan.verdicts, vec![Verdict::AlreadyApplied; 3]);
    assert!(
        plan.orders.is_empty() && plan.products.is_empty(),
        "{plan:?}"
    );
}

#[test]
fn a_plan_writes_each_table_in_key_order() {
    let mut receive = history(12, 3, 1);
    receive.reverse();
    let plan = plan(&receive, &BTreeMap::new());
    let orders: Vec<&str> = plan.orders.iter().map(|o| o.order_id.as_str()).collect();
    let products: Vec<&str> = plan
        .products
        .iter()
        .map(|p| p.product_id.as_str())
        .collect();
    assert!(orders.is_sorted() && orders.len() == 12, "{orders:?}");
    assert_eq!(products, vec!["p-0", "p-1", "p-2"]);
}

#[test]
fn given_a_log_missing_a_version_when_replayed_then_the_aggregate_is_at_its_last_version() {
    let mut log = history(6, 1, 1);
    let missing = log
        .iter()
        .position(|e| e.aggregate_id == "p-0" && e.version == 3);
    log.remove(missing.expect("p-0 has a version 3"));
    let replayed = replay(&log);
    let last = log.iter().rfind(|e| e.aggregate_id == "p-0");
    let last = View::of(last.expect("p-0 has events"));
    assert_eq!(View::Product(replayed.model.products["p-0"].clone()), last);
    assert_eq!(replayed.model.events_applied, log.len() as u64);
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
    fn any_arrival_order_with_copies_in_any_receives_ends_in_the_views_of_the_log(
        (log, arrivals) in log_and_arrivals(),
        receive in 1..12usize,
    ) {
        let expected = in_order(&log);
        let one_by_one = replay(&arrivals).model;
        prop_assert_eq!(views(&one_by_one), views(&expected));
        prop_assert!(one_by_one.events_applied <= log.len() as u64);
        let received = by_receives(&arrivals, receive);
        prop_assert_eq!(views(&received), views(&expected));
        prop_assert!(received.events_applied <= log.len() as u64);
    }

    #[test]
    fn the_log_in_order_in_receives_of_any_size_counts_every_event_applied_once(
        (log, _) in log_and_arrivals(),
        receive in 1..12usize,
    ) {
        prop_assert_eq!(by_receives(&log, receive), in_order(&log));
    }
}
