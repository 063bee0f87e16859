//! When each order passed each stage, all on this machine's clock: published (the bench, as
//! its `PublishBatch` call started), decided (the event's `occurred_at`, the worker's
//! decision), relayed (the outbox mark, `clock_timestamp()` just after SNS accepted it) and
//! projected. Projected is stamped in the read database the bench made for itself: a
//! statement trigger on `read_orders` writes each new row's key and `clock_timestamp()` to
//! `bench_projected` as the projector's upsert writes it; its transaction commits
//! milliseconds later. So nothing polls while the load runs, and the figures have no poll
//! interval in them. Projection lag = projected − decided, as the projector's own
//! `fulfil_projection_lag_seconds` measures it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::BenchError;

/// The stamp table and its trigger; the bench's own read database only.
const INSTALL: [&str; 3] = [
    "CREATE TABLE bench_projected (order_id text PRIMARY KEY, projected_at timestamptz NOT NULL)",
    "CREATE FUNCTION bench_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         INSERT INTO bench_projected SELECT order_id, clock_timestamp() FROM stamped
             ON CONFLICT DO NOTHING;
         RETURN NULL;
     END $$",
    "CREATE TRIGGER bench_stamp AFTER INSERT ON read_orders REFERENCING NEW TABLE AS stamped
         FOR EACH STATEMENT EXECUTE FUNCTION bench_stamp()",
];

pub(super) async fn install(read: &PgPool) -> Result<(), BenchError> {
    for sql in INSTALL {
        sqlx::query(sql)
            .execute(read)
            .await
            .map_err(BenchError::db("install the projection stamp"))?;
    }
    Ok(())
}

/// One order's way through the pipeline; a stage it has not reached is `None`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Times {
    pub published: DateTime<Utc>,
    pub decided: Option<DateTime<Utc>>,
    pub relayed: Option<DateTime<Utc>>,
    pub projected: Option<DateTime<Utc>>,
}

/// Waits until `bench_projected` holds `expected` rows; false if `deadline` passed first.
pub(super) async fn wait_projected(
    read: &PgPool,
    expected: i64,
    deadline: Duration,
) -> Result<bool, BenchError> {
    let until = Instant::now() + deadline;
    loop {
        let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_projected")
            .fetch_one(read)
            .await
            .map_err(BenchError::db("count projected orders"))?;
        if seen >= expected {
            return Ok(true);
        }
        if Instant::now() >= until {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The stages of every order in `published` (order id → when its publish started).
pub(super) async fn collect(
    write: &PgPool,
    read: &PgPool,
    published: &HashMap<String, DateTime<Utc>>,
) -> Result<Vec<Times>, BenchError> {
    let ids: Vec<&str> = published.keys().map(String::as_str).collect();
    let logged: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT aggregate_id, occurred_at, published_at FROM outbox
         WHERE aggregate_type = 'order' AND aggregate_version = 1 AND aggregate_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(write)
    .await
    .map_err(BenchError::db("read the outbox's order events"))?;
    let projected: HashMap<String, DateTime<Utc>> = sqlx::query_as(
        "SELECT order_id, projected_at FROM bench_projected WHERE order_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(read)
    .await
    .map_err(BenchError::db("read the projection stamps"))?
    .into_iter()
    .collect();
    let logged: HashMap<String, _> = logged.into_iter().map(|(id, d, r)| (id, (d, r))).collect();
    Ok(published
        .iter()
        .map(|(id, at)| Times {
            published: *at,
            decided: logged.get(id).map(|(d, _)| *d),
            relayed: logged.get(id).and_then(|(_, r)| *r),
            projected: projected.get(id).copied(),
        })
        .collect())
}

/// A stage of the pipeline, as a field of [`Times`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Decided,
    Relayed,
    Projected,
}

impl Stage {
    pub(super) fn of(self, t: &Times) -> Option<DateTime<Utc>> {
        match self {
            Stage::Decided => t.decided,
            Stage::Relayed => t.relayed,
            Stage::Projected => t.projected,
        }
    }
}

/// Orders per second that reached `stage` within `[from, to]`: the rate a dashboard shows
/// while the load runs. Taken over the middle of the run, it is the offered rate when the
/// stage keeps up and the stage's capacity when it does not.
pub(super) fn rate(times: &[Times], stage: Stage, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let seconds = (to - from).as_seconds_f64();
    if seconds <= 0.0 {
        return 0.0;
    }
    let inside = times
        .iter()
        .filter_map(|t| stage.of(t))
        .filter(|at| *at >= from && *at <= to)
        .count();
    inside as f64 / seconds
}

/// `to − from` of every order that reached both, in the order of `times`.
pub(super) fn between(
    times: &[Times],
    from: fn(&Times) -> Option<DateTime<Utc>>,
    to: Stage,
) -> Vec<Duration> {
    times
        .iter()
        .filter_map(|t| Some((to.of(t)? - from(t)?).to_std().unwrap_or_default()))
        .collect()
}

/// Projection lags (projected − decided) of the orders in `parts` equal slices by decision
/// time, first slice first: how the lag moved over the run.
pub(super) fn slices(times: &[Times], parts: usize) -> Vec<Vec<Duration>> {
    let mut decided: Vec<Times> = times
        .iter()
        .filter(|t| t.decided.is_some())
        .copied()
        .collect();
    decided.sort_by_key(|t| t.decided);
    let size = decided.len().div_ceil(parts.max(1)).max(1);
    decided
        .chunks(size)
        .map(|slice| between(slice, |t| t.decided, Stage::Projected))
        .collect()
}

/// Projection lags (projected − decided) of the first and the last third of the orders by
/// decision time: a lag that grows over the run shows in the last third.
pub(super) fn thirds(times: &[Times]) -> (Vec<Duration>, Vec<Duration>) {
    let mut decided: Vec<&Times> = times.iter().filter(|t| t.decided.is_some()).collect();
    decided.sort_by_key(|t| t.decided);
    let third = decided.len() / 3;
    let lags = |slice: &[&Times]| {
        let owned: Vec<Times> = slice.iter().map(|t| **t).collect();
        between(&owned, |t| t.decided, Stage::Projected)
    };
    (
        lags(&decided[..third]),
        lags(&decided[decided.len() - third..]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(1_700_000_000_000 + ms).unwrap_or_default()
    }

    /// Order `i` published at i × 10 ms, decided 5 ms later, projected `lag(i)` ms after that.
    fn run(n: i64, lag: impl Fn(i64) -> i64) -> Vec<Times> {
        (0..n)
            .map(|i| Times {
                published: at(i * 10),
                decided: Some(at(i * 10 + 5)),
                relayed: Some(at(i * 10 + 6)),
                projected: (lag(i) >= 0).then(|| at(i * 10 + 5 + lag(i))),
            })
            .collect()
    }

    #[test]
    fn a_stage_that_keeps_up_runs_at_the_offered_rate_in_the_middle_of_the_run() {
        let times = run(1000, |_| 50);
        let projected = rate(&times, Stage::Projected, at(2000), at(8000));
        assert!((projected - 100.0).abs() < 1.0, "{projected}");
    }

    #[test]
    fn unreached_stages_are_left_out() {
        let times = run(10, |i| if i % 2 == 0 { 20 } else { -1 });
        assert_eq!(between(&times, |t| t.decided, Stage::Projected).len(), 5);
        assert_eq!(rate(&times, Stage::Projected, at(0), at(1000)), 5.0);
    }

    #[test]
    fn slices_follow_the_decisions_in_order() {
        let parts = slices(&run(100, |i| i), 10);
        assert_eq!(parts.len(), 10);
        assert_eq!(parts[0].iter().max(), Some(&Duration::from_millis(9)));
        assert_eq!(parts[9].iter().min(), Some(&Duration::from_millis(90)));
    }

    #[test]
    fn a_growing_lag_shows_in_the_last_third() {
        let (first, last) = thirds(&run(90, |i| i * 10));
        assert_eq!((first.len(), last.len()), (30, 30));
        assert_eq!(first.iter().max(), Some(&Duration::from_millis(290)));
        assert_eq!(last.iter().min(), Some(&Duration::from_millis(600)));
    }
}
