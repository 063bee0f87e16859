//! The e2e scenario's figures, as they go to the table and the JSON: the two ceilings, and per
//! offered rate what each stage sustained, the projection lag and whether it stayed flat,
//! where the time went and the roles' profile. Computed here from the stage times of
//! [`lag`](super::lag), so the rules (the rate window, "flat") are in one place and tested.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::check::Check;
use super::lag::{self, Stage, Times};
use super::open_loop::Sent;
use super::profile::Profile;
use fulfil_testkit::stats::percentile_ms;

/// Lag is flat when the last third's p99 is at most this factor of the first third's …
pub const FLAT_FACTOR: f64 = 1.5;
/// … plus this much (milliseconds of noise are not growth).
pub const FLAT_SLACK_MS: f64 = 100.0;

#[derive(Debug, Clone, Serialize)]
pub struct E2eReport {
    /// A smoke run (`--quick`): short rates, small ceilings; its figures are not a measurement.
    pub quick: bool,
    pub seconds_per_rate: f64,
    pub workers: usize,
    pub worker_concurrency: usize,
    pub projector_concurrency: usize,
    pub relay_steps: usize,
    /// Messages each ceiling was measured on.
    pub ceiling_messages: usize,
    /// The settings LocalStack ran with, as `./dev bench` found them recorded
    /// (`FULFIL_BENCH_LOCALSTACK_SETTINGS`); `None` when not given. Its rates depend on them.
    pub localstack_settings: Option<String>,
    /// (i) bare SNS `PublishBatch` → SQS, messages/s until all were visible.
    pub sns_publish_per_s: f64,
    /// (ii) the bare pipeline: commands/s through both pipes with no database or Redis.
    pub bare_pipeline_per_s: f64,
    /// The pipeline on FIFO queues (the production shape), one entry per offered rate.
    pub rates: Vec<RateStep>,
    /// The pipeline on standard queues.
    pub standard: Vec<RateStep>,
    /// Messages left in the projector DLQ after the runs (None: not looked at).
    pub projector_dlq_fifo: Option<i64>,
    pub projector_dlq_standard: Option<i64>,
    /// Counts exact per sale, every order decided, relayed and projected, `verify` clean.
    pub check: Check,
}

impl E2eReport {
    pub fn rate(&self, of_bare: f64) -> Option<&RateStep> {
        self.rates
            .iter()
            .find(|r| (r.of_bare - of_bare).abs() < 1e-9)
    }
}

/// The pipeline under open-loop load at one rate.
#[derive(Debug, Clone, Serialize)]
pub struct RateStep {
    pub queues: &'static str,
    /// The offered rate as a share of (ii).
    pub of_bare: f64,
    pub offered_per_s: f64,
    /// What the publisher achieved, and the most it fell behind its schedule.
    pub published_per_s: f64,
    pub publisher_most_behind_ms: f64,
    pub commands: usize,
    pub seconds: f64,
    /// Orders per second through each stage over the middle two thirds of the run.
    pub decided_per_s: f64,
    pub relayed_per_s: f64,
    pub projected_per_s: f64,
    /// `projected_per_s` over (ii).
    pub fraction_of_ceiling: f64,
    pub decided: usize,
    pub relayed: usize,
    pub projected: usize,
    /// From the last publish to the last order projected.
    pub drained_after_s: Option<f64>,
    /// Projection lag (decided → projected) over every order of the rate.
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    pub lag_p99_first_third_ms: f64,
    pub lag_p99_last_third_ms: f64,
    pub lag_flat: bool,
    /// p99 of each tenth of the run (orders by decision time), first tenth first.
    pub lag_p99_by_tenth_ms: Vec<f64>,
    pub stages: StageLags,
    pub profile: Profile,
}

/// Where an order's time went, p50 and p99 in ms of each hop.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageLags {
    pub published_to_decided: (f64, f64),
    pub decided_to_relayed: (f64, f64),
    pub relayed_to_projected: (f64, f64),
}

/// The offered load of one rate.
#[derive(Debug, Clone, Copy)]
pub struct Offered {
    pub queues: &'static str,
    pub of_bare: f64,
    pub per_s: f64,
}

impl RateStep {
    pub fn new(
        offered: Offered,
        bare: f64,
        sent: &Sent,
        times: &[Times],
        profile: Profile,
    ) -> Self {
        let (from, to) = window(sent);
        let rate = |stage| lag::rate(times, stage, from, to);
        let reached = |stage: Stage| times.iter().filter(|t| stage.of(t).is_some()).count();
        let lags = lag::between(times, |t| t.decided, Stage::Projected);
        let (first, last) = lag::thirds(times);
        let (first, last) = (percentile_ms(&first, 0.99), percentile_ms(&last, 0.99));
        let projected_per_s = rate(Stage::Projected);
        Self {
            queues: offered.queues,
            of_bare: offered.of_bare,
            offered_per_s: offered.per_s,
            published_per_s: sent.per_s,
            publisher_most_behind_ms: sent.most_behind.as_secs_f64() * 1000.0,
            commands: times.len(),
            seconds: seconds(sent.at.first(), sent.at.last()),
            decided_per_s: rate(Stage::Decided),
            relayed_per_s: rate(Stage::Relayed),
            projected_per_s,
            fraction_of_ceiling: if bare > 0.0 {
                projected_per_s / bare
            } else {
                0.0
            },
            decided: reached(Stage::Decided),
            relayed: reached(Stage::Relayed),
            projected: reached(Stage::Projected),
            drained_after_s: drained_after(sent, times),
            lag_p50_ms: percentile_ms(&lags, 0.50),
            lag_p99_ms: percentile_ms(&lags, 0.99),
            lag_max_ms: percentile_ms(&lags, 1.0),
            lag_p99_first_third_ms: first,
            lag_p99_last_third_ms: last,
            lag_flat: last <= first * FLAT_FACTOR + FLAT_SLACK_MS,
            lag_p99_by_tenth_ms: lag::slices(times, 10)
                .iter()
                .map(|s| percentile_ms(s, 0.99))
                .collect(),
            stages: stage_lags(times),
            profile,
        }
    }

    /// Every order decided, relayed and projected.
    pub fn complete(&self) -> bool {
        self.decided == self.commands
            && self.relayed == self.commands
            && self.projected == self.commands
    }
}

/// The middle two thirds of the publishing: the first sixth is the pipeline filling up,
/// the last sixth is cut so that stage rates are not charged for the run's end.
fn window(sent: &Sent) -> (DateTime<Utc>, DateTime<Utc>) {
    let (Some(first), Some(last)) = (sent.at.first(), sent.at.last()) else {
        return (Utc::now(), Utc::now());
    };
    let sixth = (*last - *first) / 6;
    (*first + sixth, *last - sixth)
}

fn seconds(first: Option<&DateTime<Utc>>, last: Option<&DateTime<Utc>>) -> f64 {
    match (first, last) {
        (Some(a), Some(b)) => (*b - *a).as_seconds_f64(),
        _ => 0.0,
    }
}

fn drained_after(sent: &Sent, times: &[Times]) -> Option<f64> {
    let last_sent = sent.at.last()?;
    let last_projected = times.iter().filter_map(|t| t.projected).max()?;
    Some((last_projected - *last_sent).as_seconds_f64())
}

fn stage_lags(times: &[Times]) -> StageLags {
    let pair =
        |lags: Vec<std::time::Duration>| (percentile_ms(&lags, 0.5), percentile_ms(&lags, 0.99));
    StageLags {
        published_to_decided: pair(lag::between(times, |t| Some(t.published), Stage::Decided)),
        decided_to_relayed: pair(lag::between(times, |t| t.decided, Stage::Relayed)),
        relayed_to_projected: pair(lag::between(times, |t| t.relayed, Stage::Projected)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(1_700_000_000_000 + ms).unwrap_or_default()
    }

    /// 600 orders at 100/s; projection lag `lag(i)` ms.
    fn step(lag: impl Fn(i64) -> i64) -> RateStep {
        let times: Vec<Times> = (0..600)
            .map(|i| Times {
                published: at(i * 10),
                decided: Some(at(i * 10 + 20)),
                relayed: Some(at(i * 10 + 40)),
                projected: Some(at(i * 10 + 20 + lag(i))),
            })
            .collect();
        let sent = Sent {
            at: times.iter().map(|t| t.published).collect(),
            per_s: 100.0,
            most_behind: std::time::Duration::ZERO,
        };
        let offered = Offered {
            queues: "FIFO",
            of_bare: 0.5,
            per_s: 100.0,
        };
        RateStep::new(offered, 200.0, &sent, &times, Profile::default())
    }

    #[test]
    fn a_pipeline_that_keeps_up_projects_at_the_offered_rate_with_a_flat_lag() {
        let s = step(|i| 100 + i % 50);
        assert!(
            (s.projected_per_s - 100.0).abs() < 1.0,
            "{}",
            s.projected_per_s
        );
        assert!((s.fraction_of_ceiling - 0.5).abs() < 0.01);
        assert!(s.complete() && s.lag_flat);
        assert_eq!(s.lag_max_ms, 149.0);
        assert_eq!(s.stages.decided_to_relayed, (20.0, 20.0));
    }

    #[test]
    fn a_lag_that_grows_over_the_run_is_not_flat() {
        let s = step(|i| 100 + i * 5);
        assert!(
            !s.lag_flat,
            "{} -> {}",
            s.lag_p99_first_third_ms, s.lag_p99_last_third_ms
        );
        assert!(s.projected_per_s < 100.0);
    }
}
