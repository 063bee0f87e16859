//! The demo's summary: the sale's outcome counted from the write database (numbers that must
//! add up to what was published), then how fast: throughput from the first publish to the
//! last order projected, the projection lag's percentiles as the watch measured them, and
//! the time from the first publish to a clean `fulfil verify`.

use std::fmt::Formatter;
use std::time::Duration;

use sqlx::PgPool;

use super::watch::{Timeline, LOOK_EVERY};
use fulfil_testkit::stats::percentile_ms;

#[derive(Debug, Default)]
pub struct DemoSummary {
    pub published: usize,
    pub confirmed: i64,
    pub rejected: Vec<(String, i64)>,
    pub restocked: i64,
    pub invalid: i64,
    pub duplicates_published: usize,
    pub duplicates_at_worker: i64,
    pub available: i64,
    /// Events in the write database's log.
    pub events: i64,
    /// From the first publish until every order was decided, and was in the read database
    /// at its newest version.
    pub decided_after: Option<Duration>,
    pub projected_after: Option<Duration>,
    /// Projection lag (decision → first seen in the read database) p50, p99 and max, in ms.
    pub lag_ms: Option<(f64, f64, f64)>,
    /// From the first publish to a clean `fulfil verify` (or its verdict otherwise).
    pub took: Duration,
    pub verify: String,
    pub verified: bool,
}

impl DemoSummary {
    /// The timing half of the summary, from what the watch saw.
    pub fn timed(&mut self, timeline: &Timeline) {
        self.decided_after = timeline.decided;
        self.projected_after = timeline.projected;
        let lags = &timeline.lags;
        self.lag_ms = (!lags.is_empty()).then(|| {
            (
                percentile_ms(lags, 0.50),
                percentile_ms(lags, 0.99),
                percentile_ms(lags, 1.0),
            )
        });
    }
}

/// The counts half of the summary, from the write database.
pub(super) async fn summarise(write: &PgPool) -> anyhow::Result<DemoSummary> {
    let rows: Vec<(String, Option<String>, i64)> =
        sqlx::query_as("SELECT status, reason, count(*) FROM orders GROUP BY 1, 2 ORDER BY 1, 2")
            .fetch_all(write)
            .await?;
    let mut summary = DemoSummary::default();
    for (status, reason, n) in rows {
        match status.as_str() {
            "confirmed" => summary.confirmed += n,
            _ => summary.rejected.push((reason.unwrap_or(status), n)),
        }
    }
    let (restocked, invalid, available, events): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM inbox WHERE outcome = 'RESTOCKED'),
                (SELECT count(*) FROM invalid_commands),
                (SELECT coalesce(sum(available), 0)::int8 FROM products),
                (SELECT count(*) FROM outbox)",
    )
    .fetch_one(write)
    .await?;
    summary.restocked = restocked;
    summary.invalid = invalid;
    summary.available = available;
    summary.events = events;
    Ok(summary)
}

fn row(f: &mut Formatter<'_>, k: &str, v: String) -> std::fmt::Result {
    writeln!(f, "  {k:<34} {v:>22}")
}

impl DemoSummary {
    fn counts(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
        row(f, "messages published", self.published.to_string())?;
        row(f, "restocked", self.restocked.to_string())?;
        row(f, "orders confirmed", self.confirmed.to_string())?;
        for (reason, n) in &self.rejected {
            row(f, &format!("orders rejected ({reason})"), n.to_string())?;
        }
        row(f, "invalid messages kept", self.invalid.to_string())?;
        let duplicates = self.duplicates_published as i64;
        row(f, "duplicates absorbed", duplicates.to_string())?;
        let by_worker = self.duplicates_at_worker;
        row(f, "  of which by the worker's inbox", by_worker.to_string())?;
        row(
            f,
            "  of which by SNS/SQS FIFO dedup",
            (duplicates - by_worker).to_string(),
        )?;
        let rejected: i64 = self.rejected.iter().map(|(_, n)| n).sum();
        let decided = self.restocked + self.confirmed + rejected + self.invalid + duplicates;
        row(
            f,
            "adds up (all of the above)",
            format!("{decided} = {}", self.published),
        )?;
        row(f, "available stock", self.available.to_string())?;
        row(f, "events in the log", self.events.to_string())
    }

    fn timings(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
        let secs =
            |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
        row(f, "all decided after", secs(self.decided_after))?;
        row(f, "all projected after", secs(self.projected_after))?;
        if let Some(projected) = self.projected_after {
            let per_s = self.published as f64 / projected.as_secs_f64().max(1e-3);
            row(
                f,
                "throughput (publish to projected)",
                format!("{per_s:.0} msgs/s"),
            )?;
        }
        let lag = self.lag_ms.map_or("-".to_owned(), |(p50, p99, max)| {
            format!("{p50:.0} / {p99:.0} / {max:.0} ms")
        });
        row(f, "projection lag p50 / p99 / max", lag)?;
        writeln!(
            f,
            "    (decision to first seen in the read database, looked at every {} ms)",
            LOOK_EVERY.as_millis()
        )?;
        row(
            f,
            "first publish to verified",
            format!("{:.2} s", self.took.as_secs_f64()),
        )
    }
}

impl std::fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "\n  flash sale summary")?;
        writeln!(f, "  {}", "-".repeat(57))?;
        self.counts(f)?;
        writeln!(f, "  {}", "-".repeat(57))?;
        self.timings(f)?;
        writeln!(f, "  {}", "-".repeat(57))?;
        write!(
            f,
            "  verify: {} ({})",
            if self.verified {
                "clean"
            } else {
                "DIFFERENCES"
            },
            self.verify
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_adds_up_and_shows_lag_percentiles_and_the_time_to_verified() {
        let mut timeline = Timeline::default();
        timeline.lags = (1..=100).map(Duration::from_millis).collect();
        timeline.decided = Some(Duration::from_millis(2500));
        timeline.projected = Some(Duration::from_millis(3000));
        let mut summary = DemoSummary {
            published: 1106,
            confirmed: 500,
            rejected: vec![("OUT_OF_STOCK".into(), 500)],
            restocked: 1,
            invalid: 5,
            duplicates_published: 100,
            took: Duration::from_millis(3200),
            verified: true,
            verify: "no differences".into(),
            ..DemoSummary::default()
        };
        summary.timed(&timeline);
        let text = summary.to_string();
        assert!(text.contains("1106 = 1106"), "{text}");
        assert!(text.contains("50 / 99 / 100 ms"), "{text}");
        assert!(text.contains("369 msgs/s"), "{text}");
        assert!(
            text.contains("first publish to verified") && text.contains("3.20 s"),
            "{text}"
        );
    }
}
