//! Where a run's time went, from the roles' own `/metrics` (Prometheus text), scraped before
//! and after a rate and subtracted: the relay's phases and `PublishBatch` calls, the
//! projector's receives and transactions, the workers' batches and locks. Means are a
//! histogram's sum over its count, so no bucket bounds are involved.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

/// One scrape: every sample by its name and labels (`name{label="v"}`), summed over the
/// processes scraped.
#[derive(Debug, Clone, Default)]
pub struct Scrape(HashMap<String, f64>);

impl Scrape {
    /// Parses Prometheus text; comments and unreadable lines are skipped.
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (key, value) = l.rsplit_once(' ')?;
                Some((key.to_owned(), value.trim().parse().ok()?))
            })
            .collect();
        Self(samples)
    }

    /// `/metrics` of each address, added up; an address that does not answer adds nothing.
    pub async fn of(addrs: &[SocketAddr]) -> Self {
        let mut sum = Self::default();
        for addr in addrs {
            let text = fulfil::ops::fetch(*addr, "/metrics", Duration::from_secs(3)).await;
            sum.add(&Self::parse(&text.unwrap_or_default()));
        }
        sum
    }

    fn add(&mut self, other: &Scrape) {
        for (key, value) in &other.0 {
            *self.0.entry(key.clone()).or_default() += value;
        }
    }

    /// What happened between `earlier` and this scrape.
    pub fn since(&self, earlier: &Scrape) -> Scrape {
        let delta = self
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v - earlier.0.get(k).copied().unwrap_or(0.0)))
            .collect();
        Scrape(delta)
    }

    fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// A counter summed over all its label sets.
    fn total(&self, name: &str) -> f64 {
        let labelled = format!("{name}{{");
        let series = self
            .0
            .iter()
            .filter(|(k, _)| *k == name || k.starts_with(&labelled));
        series.map(|(_, v)| v).sum()
    }

    /// A histogram's count, and its mean (sum / count), `labels` like `{phase="claim"}`.
    fn histogram(&self, name: &str, labels: &str) -> (f64, Option<f64>) {
        let count = self.get(&format!("{name}_count{labels}"));
        let sum = self.get(&format!("{name}_sum{labels}"));
        (count, (count > 0.0).then(|| sum / count))
    }

    fn mean_ms(&self, name: &str, labels: &str) -> Option<f64> {
        self.histogram(name, labels).1.map(|s| s * 1000.0)
    }
}

/// The relay's part of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RelayProfile {
    pub steps: f64,
    pub rows_per_step: Option<f64>,
    pub claim_ms: Option<f64>,
    pub publish_ms: Option<f64>,
    pub mark_ms: Option<f64>,
    pub publish_calls: f64,
    pub publish_call_ms: Option<f64>,
}

/// The projector's part: receives handed to it and their transactions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProjectorProfile {
    pub batches: f64,
    pub events_per_batch: Option<f64>,
    pub apply_ms: Option<f64>,
    /// From SQS taking an event in (after SNS delivered it) to its receive's transaction.
    pub event_age_ms: Option<f64>,
    /// `DeleteMessageBatch` calls on the projector queue.
    pub delete_calls: f64,
}

/// The workers' part (all worker processes together).
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerProfile {
    pub batches: f64,
    pub messages_per_batch: Option<f64>,
    pub batch_ms: Option<f64>,
    /// From SQS taking a command in (after SNS delivered it) to its decision.
    pub message_age_ms: Option<f64>,
    pub lock_hold_ms: Option<f64>,
    pub lock_wait_ms: Option<f64>,
    /// `DeleteMessageBatch` calls on the commands queue.
    pub delete_calls: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Profile {
    pub relay: RelayProfile,
    pub projector: ProjectorProfile,
    pub workers: WorkerProfile,
}

/// The consumers' delete calls, labelled by queue.
const DELETE_CALLS: &str = "fulfil_consumer_delete_calls_total";

impl Profile {
    /// From the deltas of the relay's, the projector's and the workers' scrapes.
    pub fn from(relay: &Scrape, projector: &Scrape, workers: &Scrape) -> Self {
        Self {
            relay: relay_profile(relay),
            projector: ProjectorProfile {
                batches: projector.histogram("fulfil_projector_apply_seconds", "").0,
                events_per_batch: projector.histogram("fulfil_projector_batch_size", "").1,
                apply_ms: projector.mean_ms("fulfil_projector_apply_seconds", ""),
                event_age_ms: projector.mean_ms("fulfil_projector_event_age_seconds", ""),
                delete_calls: projector.total(DELETE_CALLS),
            },
            workers: WorkerProfile {
                batches: workers.histogram("fulfil_batch_duration_seconds", "").0,
                messages_per_batch: workers.histogram("fulfil_batch_size", "").1,
                batch_ms: workers.mean_ms("fulfil_batch_duration_seconds", ""),
                message_age_ms: workers.mean_ms("fulfil_message_age_seconds", ""),
                lock_hold_ms: workers.mean_ms("fulfil_lock_hold_seconds", ""),
                lock_wait_ms: workers.mean_ms("fulfil_lock_wait_seconds", ""),
                delete_calls: workers.total(DELETE_CALLS),
            },
        }
    }
}

fn relay_profile(relay: &Scrape) -> RelayProfile {
    let steps = relay.get("fulfil_relay_steps_total");
    let phase =
        |p: &str| relay.mean_ms("fulfil_relay_phase_seconds", &format!("{{phase=\"{p}\"}}"));
    let (calls, _) = relay.histogram("fulfil_relay_publish_call_seconds", "");
    RelayProfile {
        steps,
        rows_per_step: (steps > 0.0).then(|| relay.get("fulfil_relay_published_total") / steps),
        claim_ms: phase("claim"),
        publish_ms: phase("publish"),
        mark_ms: phase("mark"),
        publish_calls: calls,
        publish_call_ms: relay.mean_ms("fulfil_relay_publish_call_seconds", ""),
    }
}

/// The ops address a role logged at start (`ops=127.0.0.1:PORT`).
pub(super) fn ops_addr(log: &str) -> Option<SocketAddr> {
    log.lines()
        .find(|l| l.contains(" started") && l.contains("ops="))?
        .split("ops=")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_come_from_the_sum_and_count_of_the_deltas() {
        let before = Scrape::parse(
            "# TYPE x histogram\nfulfil_relay_phase_seconds_sum{phase=\"claim\"} 1\nfulfil_relay_phase_seconds_count{phase=\"claim\"} 10\nfulfil_relay_steps_total 10\nfulfil_relay_published_total 50\n",
        );
        let after = Scrape::parse(
            "fulfil_relay_phase_seconds_sum{phase=\"claim\"} 1.5\nfulfil_relay_phase_seconds_count{phase=\"claim\"} 60\nfulfil_relay_steps_total 60\nfulfil_relay_published_total 550\n",
        );
        let relay = relay_profile(&after.since(&before));
        assert_eq!(relay.steps, 50.0);
        assert_eq!(relay.rows_per_step, Some(10.0));
        assert_eq!(relay.claim_ms, Some(10.0));
        assert_eq!(relay.mark_ms, None);
    }

    #[test]
    fn a_total_adds_every_label_set_of_one_counter_and_nothing_else() {
        let scrape = Scrape::parse(
            "c_total{queue=\"a\"} 2\nc_total{queue=\"b\"} 3\nc_total_other 7\nc 11\n",
        );
        assert_eq!(scrape.total("c_total"), 5.0);
        assert_eq!(scrape.total("c"), 11.0);
    }

    #[test]
    fn the_ops_address_comes_from_the_start_line() {
        let log = "2026 INFO fulfil::run::relay: relay started topic=arn ops=127.0.0.1:4321 steps_in_flight=3\n";
        assert_eq!(ops_addr(log), "127.0.0.1:4321".parse().ok());
        assert_eq!(ops_addr("nothing here"), None);
    }
}
