//! The e2e targets, judged against an [`E2eReport`]: met, missed (with the measured
//! value), or not measured when the scenario did not run. A rate whose orders were not all
//! decided, relayed and projected, or a run whose check failed, meets nothing.

use super::e2e_report::{E2eReport, RateStep};
use super::target::Target;

pub(super) fn evaluate(e2e: Option<&E2eReport>) -> Vec<Target> {
    vec![
        sustained(e2e),
        lag_at(e2e, "e2e_lag_p99_s_at_80", 0.8, 1.0, true),
        lag_at(e2e, "e2e_lag_p99_s_at_50", 0.5, 0.5, false),
        projector_dlq(e2e),
    ]
}

/// The best rate the pipeline projected at (middle of the run) over (ii), every order of
/// every rate through every stage.
fn sustained(e2e: Option<&E2eReport>) -> Target {
    let measured = e2e.map(|e| {
        e.rates
            .iter()
            .filter(|r| r.complete())
            .map(|r| r.fraction_of_ceiling * 100.0)
            .fold(0.0, f64::max)
    });
    let all = |e: &E2eReport| e.check.passed && e.rates.iter().all(RateStep::complete);
    Target {
        id: "e2e_sustained_of_bare_pipeline",
        name: "e2e: sustained rate vs (ii) the bare pipeline".into(),
        goal: ">= 80%, all done".into(),
        measured,
        unit: "%",
        met: e2e.map(|e| all(e) && measured.is_some_and(|m| m >= 80.0)),
    }
}

/// Projection lag p99 at `of_bare` of (ii) under `limit_s`, and flat if `flat` is asked.
fn lag_at(
    e2e: Option<&E2eReport>,
    id: &'static str,
    of_bare: f64,
    limit_s: f64,
    flat: bool,
) -> Target {
    let step = e2e.and_then(|e| e.rate(of_bare));
    let measured = step.map(|s| s.lag_p99_ms / 1000.0);
    let ok =
        |s: &RateStep| s.complete() && s.lag_p99_ms < limit_s * 1000.0 && (!flat || s.lag_flat);
    Target {
        id,
        name: format!("e2e: projection lag p99 at {:.0}% of (ii)", of_bare * 100.0),
        goal: format!("< {limit_s} s{}", if flat { ", flat" } else { "" }),
        measured,
        unit: " s",
        met: e2e.map(|e| e.check.passed && step.is_some_and(ok)),
    }
}

fn projector_dlq(e2e: Option<&E2eReport>) -> Target {
    let counts = e2e.map(|e| (e.projector_dlq_fifo, e.projector_dlq_standard));
    let total = counts.map(|(f, s)| (f.unwrap_or(0) + s.unwrap_or(0)) as f64);
    Target {
        id: "e2e_projector_dlq",
        name: "e2e: projector DLQ after the bench (FIFO and standard)".into(),
        goal: "empty".into(),
        measured: total,
        unit: " msgs",
        met: counts.map(|(f, s)| f == Some(0) && s == Some(0)),
    }
}
