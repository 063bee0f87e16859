//! Per-step timings of a unit, for profiling the hot path: each step's time goes to the
//! `fulfil_unit_step_seconds{step}` histogram, and the whole breakdown to one debug line
//! (`RUST_LOG=fulfil::worker::steps=debug`).

use std::time::{Duration, Instant};

/// Laps of one unit attempt, named by the step that just ended.
pub(super) struct Steps {
    last: Instant,
    laps: Vec<(&'static str, Duration)>,
}

impl Steps {
    pub(super) fn start() -> Self {
        Self {
            last: Instant::now(),
            laps: Vec::with_capacity(12),
        }
    }

    /// Ends step `name` now.
    pub(super) fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps.push((name, now - self.last));
        self.last = now;
    }

    /// Records every lap; `commands` is the unit's size.
    pub(super) fn finish(self, commands: usize) {
        for (step, took) in &self.laps {
            metrics::histogram!("fulfil_unit_step_seconds", "step" => *step)
                .record(took.as_secs_f64());
        }
        if tracing::enabled!(tracing::Level::DEBUG) {
            let laps: Vec<String> = self
                .laps
                .iter()
                .map(|(s, d)| format!("{s}={:.2}", d.as_secs_f64() * 1000.0))
                .collect();
            tracing::debug!(commands, steps_ms = %laps.join(" "), "unit steps");
        }
    }
}
