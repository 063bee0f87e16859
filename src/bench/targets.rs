//! The targets, judged against a report: met, missed (with the measured value), or
//! not measured when the scenario did not run. A cell whose runs failed their check never
//! meets a target, however fast it was.

use serde::Serialize;

use super::report::{Cell, Report};
use super::workload::Shape;

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub goal: String,
    pub measured: Option<f64>,
    pub unit: &'static str,
    /// None: not measured in this run.
    pub met: Option<bool>,
}

pub fn evaluate(report: &Report) -> Vec<Target> {
    let cell = |shape, tasks| report.stock.as_ref().and_then(|s| s.cell(shape, tasks));
    let hot = cell(Shape::HotProduct, 4);
    let many = cell(Shape::ManyProducts, 16);
    let rss = report.worker_rss.as_ref().map(|r| r.peak_rss_mib);
    let mut targets = vec![
        ratio(
            "hot product, 4 tasks: coalesced vs (a) redis lock",
            5.0,
            hot,
            |c| c.coalesced_vs_a,
        ),
        ratio(
            "hot product, 4 tasks: coalesced vs (b) for update",
            5.0,
            hot,
            |c| c.coalesced_vs_b,
        ),
        ratio(
            "many products, 16 tasks: coalesced vs (a) redis lock",
            2.0,
            many,
            |c| c.coalesced_vs_a,
        ),
        Target {
            name: "worker peak RSS under load".into(),
            goal: "< 64 MiB".into(),
            measured: rss,
            unit: " MiB",
            met: rss.map(|m| m < 64.0),
        },
    ];
    targets.extend(super::e2e_targets::evaluate(report.e2e.as_ref()));
    targets
}

fn ratio(name: &str, at_least: f64, cell: Option<&Cell>, of: fn(&Cell) -> Option<f64>) -> Target {
    let measured = cell.and_then(of);
    Target {
        name: name.into(),
        goal: format!(">= {at_least}x in orders/s"),
        measured,
        unit: "x",
        met: cell.map(|c| c.passed() && measured.is_some_and(|m| m >= at_least)),
    }
}
