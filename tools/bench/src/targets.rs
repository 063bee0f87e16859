//! The targets, judged against a report: met, missed (with the measured value), or
//! not measured when the scenario did not run. A cell whose runs failed their check never
//! meets a target, however fast it was. Each target has a stable `id` for the JSON.

use super::paths::Path;
use super::report::{Cell, Report, Run};
use super::stock::SEED_CASE_RECEIVERS;
use super::target::Target;
use super::workload::Shape;

/// The seed article's sale: the target is about exactly this many buyers.
const SEED_CASE_BUYERS: usize = 1000;

pub(super) fn evaluate(report: &Report) -> Vec<Target> {
    let mut targets = stock_targets(report);
    targets.push(rss(report));
    targets.extend(super::e2e_targets::evaluate(report.e2e.as_ref()));
    targets
}

fn stock_targets(report: &Report) -> Vec<Target> {
    let cell = |shape, receivers| report.stock.as_ref().and_then(|s| s.cell(shape, receivers));
    let hot = cell(Shape::HotProduct, 16);
    let many = cell(Shape::ManyProducts, 16);
    vec![
        ratio(
            "hot_product_r16_ours_vs_a",
            "hot product, 16 receivers: ours vs (a) redis lock",
            10.0,
            hot,
            |c| c.ours_vs_a,
        ),
        ratio(
            "hot_product_r16_ours_vs_b",
            "hot product, 16 receivers: ours vs (b) for update",
            5.0,
            hot,
            |c| c.ours_vs_b,
        ),
        of_ceiling(hot),
        scaling(hot, cell(Shape::HotProduct, 64)),
        ratio(
            "many_products_r16_ours_vs_a",
            "1000 products, 16 receivers: ours vs (a) redis lock",
            3.0,
            many,
            |c| c.ours_vs_a,
        ),
        seed_case(cell(Shape::SeedCase, SEED_CASE_RECEIVERS)),
    ]
}

fn ratio(
    id: &'static str,
    name: &str,
    at_least: f64,
    cell: Option<&Cell>,
    of: fn(&Cell) -> Option<f64>,
) -> Target {
    let measured = cell.and_then(of);
    Target {
        id,
        name: name.into(),
        goal: format!(">= {at_least}x in orders/s"),
        measured,
        unit: "x",
        met: cell.map(|c| c.passed() && measured.is_some_and(|m| m >= at_least)),
    }
}

fn of_ceiling(hot: Option<&Cell>) -> Target {
    let measured = hot.and_then(|c| c.ours_of_ceiling).map(|f| f * 100.0);
    Target {
        id: "hot_product_r16_ours_of_ceiling",
        name: "hot product, 16 receivers: ours of (c) the ceiling".into(),
        goal: ">= 50% in orders/s".into(),
        measured,
        unit: "%",
        met: hot.map(|c| c.passed() && measured.is_some_and(|m| m >= 50.0)),
    }
}

/// Ours at 64 receivers against ours at 16 on the hot product: more receivers must not
/// cost throughput.
fn scaling(r16: Option<&Cell>, r64: Option<&Cell>) -> Target {
    let ours = |c: Option<&Cell>| c?.path(Path::Ours).map(|p| p.orders_per_s.median);
    let measured = match (ours(r64), ours(r16)) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let passed = r16.is_some_and(Cell::passed) && r64.is_some_and(Cell::passed);
    Target {
        id: "hot_product_r64_vs_r16",
        name: "hot product: ours at 64 receivers vs at 16".into(),
        goal: ">= 0.9x in orders/s".into(),
        measured,
        unit: "x",
        met: measured.map(|m| passed && m >= 0.9),
    }
}

/// Ours decides all of the seed's 1000 buyers within 0.3 s (median), exactly 500 confirmed
/// in every run. A smaller seed case (a smoke run) is shown but not judged.
fn seed_case(cell: Option<&Cell>) -> Target {
    let ours = cell.and_then(|c| c.path(Path::Ours));
    let measured = ours.map(|p| p.elapsed_s.median);
    let full_size = cell.is_some_and(|c| c.workload.orders == SEED_CASE_BUYERS);
    let half = cell.map_or(0, |c| c.workload.orders as i64 / 2);
    let exact = ours.is_some_and(|p| {
        let split = |r: &Run| r.check.confirmed == half && r.check.rejected == half;
        p.passed && p.runs.iter().all(split)
    });
    Target {
        id: "seed_case_ours_decided_s",
        name: "seed case (1000 buyers x 2 on 1000): ours, all decided".into(),
        goal: "<= 0.3 s, 500 confirmed".into(),
        measured,
        unit: " s",
        met: measured.filter(|_| full_size).map(|s| exact && s <= 0.3),
    }
}

fn rss(report: &Report) -> Target {
    let rss = report.worker_rss.as_ref().map(|r| r.peak_rss_mib);
    Target {
        id: "worker_peak_rss_mib",
        name: "worker peak RSS under load".into(),
        goal: "< 64 MiB".into(),
        measured: rss,
        unit: " MiB",
        met: rss.map(|m| m < 64.0),
    }
}
