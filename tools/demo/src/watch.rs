//! Watching the demo's pipeline drain, the way a reader of the read database would: every
//! 50 ms one look at both databases. Drained means every order decided, every invalid
//! message kept, every event relayed, and the read database at the newest version of every
//! aggregate (not "events applied equals events written": the projector skips an event older
//! than its view, so that count need not add up). The same looks note when each order first
//! appeared in the read database: its projection lag, to within one look.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// How often the watch looks.
pub(super) const LOOK_EVERY: Duration = Duration::from_millis(50);

/// What one look saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct Progress {
    pub decided: i64,
    pub confirmed: i64,
    pub rejected: i64,
    pub invalid: i64,
    pub events: i64,
    pub unpublished: i64,
    pub versions_behind: i64,
}

impl Progress {
    pub async fn read(write: &PgPool, read: &PgPool) -> anyhow::Result<Progress> {
        let (decided, confirmed, rejected, invalid, events, unpublished): (
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM orders),
                        (SELECT count(*) FROM orders WHERE status = 'confirmed'),
                        (SELECT count(*) FROM orders WHERE status = 'rejected'),
                        (SELECT count(*) FROM invalid_commands),
                        (SELECT count(*) FROM outbox),
                        (SELECT count(*) FROM outbox WHERE published_at IS NULL)",
        )
        .fetch_one(write)
        .await?;
        let versions_behind = fulfil_testkit::check::drain::versions_behind(write, read).await?;
        Ok(Progress {
            decided,
            confirmed,
            rejected,
            invalid,
            events,
            unpublished,
            versions_behind,
        })
    }

    /// Everything `buyers` orders and `invalid` bad messages cause is in both databases.
    pub fn drained(&self, buyers: u32, invalid: u32) -> bool {
        self.decided == i64::from(buyers)
            && self.invalid == i64::from(invalid)
            && self.events > 0
            && self.unpublished == 0
            && self.versions_behind == 0
    }
}

/// When the stages finished, from the first publish, and each order's projection lag.
#[derive(Debug, Default)]
pub struct Timeline {
    pub decided: Option<Duration>,
    pub projected: Option<Duration>,
    pub lags: Vec<Duration>,
    seen: HashSet<String>,
}

impl Timeline {
    /// Notes the stages `progress` shows, `since` the first publish.
    pub fn note(&mut self, progress: &Progress, buyers: u32, since: Instant) {
        if self.decided.is_none() && progress.decided == i64::from(buyers) {
            self.decided = Some(since.elapsed());
        }
    }

    /// Reads the orders not seen before: lag = now (the server's clock) − the decision.
    pub async fn sample(&mut self, read: &PgPool) -> Result<(), sqlx::Error> {
        let rows: Vec<(String, DateTime<Utc>, DateTime<Utc>)> =
            sqlx::query_as("SELECT order_id, updated_at, clock_timestamp() FROM read_orders")
                .fetch_all(read)
                .await?;
        for (order_id, decided, now) in rows {
            if self.seen.insert(order_id) {
                self.lags.push((now - decided).to_std().unwrap_or_default());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained() -> Progress {
        Progress {
            decided: 1000,
            confirmed: 500,
            rejected: 500,
            invalid: 5,
            events: 1101,
            unpublished: 0,
            versions_behind: 0,
        }
    }

    #[test]
    fn drained_means_everything_decided_kept_relayed_and_at_its_newest_version() {
        assert!(drained().drained(1000, 5));
        let not = |p: Progress| !p.drained(1000, 5);
        assert!(not(Progress {
            decided: 999,
            ..drained()
        }));
        assert!(not(Progress {
            invalid: 4,
            ..drained()
        }));
        assert!(not(Progress {
            unpublished: 1,
            ..drained()
        }));
        assert!(
            not(Progress {
                versions_behind: 1,
                ..drained()
            }),
            "an aggregate short of its newest version"
        );
        assert!(not(Progress::default()));
    }
}
