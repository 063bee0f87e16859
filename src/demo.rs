//! `fulfil demo`: the whole pipeline on a flash sale, in a namespace of its own (fresh
//! databases, topic and queue prefix, Redis key prefix) on the servers the settings name.
//! It starts `fulfil run` as a child process, publishes the seed scenario, shows progress
//! while the pipeline drains, verifies the read side, prints a summary and stops the child.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

use crate::config::{AwsSettings, SecretUrl, Topology};
use crate::db::{self, Database};
use crate::queue::publisher::PublishReport;
use crate::scenario::FlashSale;
use crate::setup::SetupSettings;

#[derive(Debug, Clone)]
pub struct DemoSettings {
    pub aws: AwsSettings,
    /// Server and credentials for the demo's own databases (its database name is replaced).
    pub write_database_url: SecretUrl,
    pub redis_url: SecretUrl,
    pub sale: FlashSale,
    pub deadline: Duration,
}

/// What the summary shows.
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
    pub events: i64,
    pub lag_p50: Option<f64>,
    pub lag_p99: Option<f64>,
    pub took: Duration,
    pub verify: String,
    pub verified: bool,
}

/// Everything the demo created, so it can say where to look afterwards.
struct Namespace {
    tag: String,
    setup: SetupSettings,
    redis_prefix: String,
}

pub async fn run(settings: &DemoSettings) -> anyhow::Result<DemoSummary> {
    let ns = namespace(settings).await?;
    let report = crate::setup::run(&ns.setup).await?;
    eprintln!(
        "demo namespace {}: databases {}_write and {}_read, queues {}*",
        ns.tag, ns.tag, ns.tag, ns.setup.topology.prefix
    );
    let (mut child, log) = spawn_run(settings, &ns)?;
    let result = drive(settings, &ns, &mut child, report.provisioned, &log).await;
    stop(&mut child);
    result
}

async fn namespace(settings: &DemoSettings) -> anyhow::Result<Namespace> {
    let tag = format!("demo{}", chrono::Utc::now().format("%m%d%H%M%S"));
    let admin = db::connect(
        Database::Write,
        &with_database(&settings.write_database_url, "postgres")?,
        1,
    )
    .await?;
    drop_old_demos(&admin).await?;
    for suffix in ["write", "read"] {
        sqlx::query(&format!("CREATE DATABASE {tag}_{suffix}"))
            .execute(&admin)
            .await?;
    }
    let setup = SetupSettings {
        aws: settings.aws.clone(),
        topology: Topology::validate(&format!("{tag}-"), true, 5, 30)?,
        write_database_url: with_database(&settings.write_database_url, &format!("{tag}_write"))?,
        read_database_url: with_database(&settings.write_database_url, &format!("{tag}_read"))?,
    };
    Ok(Namespace {
        redis_prefix: format!("{tag}:"),
        tag,
        setup,
    })
}

/// Earlier demos' databases go; the last run's stay for exploring until the next run.
async fn drop_old_demos(admin: &PgPool) -> anyhow::Result<()> {
    let old: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'demo%\\_write' OR datname LIKE 'demo%\\_read'").fetch_all(admin).await?;
    for name in old {
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(admin)
            .await?;
    }
    Ok(())
}

fn with_database(url: &SecretUrl, name: &str) -> anyhow::Result<SecretUrl> {
    let mut parsed = url::Url::parse(url.expose())?;
    parsed.set_path(&format!("/{name}"));
    Ok(crate::config::validate_postgres_url(
        "demo database",
        parsed.as_str(),
    )?)
}

fn spawn_run(
    settings: &DemoSettings,
    ns: &Namespace,
) -> anyhow::Result<(Child, std::path::PathBuf)> {
    let log = std::env::temp_dir().join(format!("fulfil-{}.log", ns.tag));
    let file = std::fs::File::create(&log)?;
    eprintln!(
        "starting `fulfil run` in the background (log: {})",
        log.display()
    );
    let child = Command::new(std::env::current_exe()?)
        .args([
            "run",
            "--ops-addr",
            "127.0.0.1:0",
            "--relay-ops-addr",
            "127.0.0.1:0",
            "--projector-ops-addr",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .env(
            "FULFIL_WRITE_DATABASE_URL",
            ns.setup.write_database_url.expose(),
        )
        .env(
            "FULFIL_READ_DATABASE_URL",
            ns.setup.read_database_url.expose(),
        )
        .env("FULFIL_REDIS_URL", settings.redis_url.expose())
        .env("FULFIL_REDIS_KEY_PREFIX", &ns.redis_prefix)
        .env("FULFIL_QUEUE_PREFIX", &ns.setup.topology.prefix)
        .env_remove("FULFIL_STANDARD_QUEUES")
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()?;
    Ok((child, log))
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
}

async fn drive(
    settings: &DemoSettings,
    ns: &Namespace,
    child: &mut Child,
    provisioned: crate::queue::topology::Provisioned,
    log: &std::path::Path,
) -> anyhow::Result<DemoSummary> {
    let write = db::connect(Database::Write, &ns.setup.write_database_url, 2).await?;
    let read = db::connect(Database::Read, &ns.setup.read_database_url, 2).await?;
    let clients = crate::queue::AwsClients::connect(&settings.aws).await;
    let publisher = crate::queue::publisher::CommandPublisher::new(
        clients,
        provisioned.commands_topic_arn,
        true,
    );
    let messages = settings.sale.messages();
    let started = Instant::now();
    let restock = publisher
        .publish(std::slice::from_ref(&messages.restock), |_| {})
        .await?;
    wait_for(child, settings.deadline, || {
        applied(&write, &messages.restock.dedup_id)
    })
    .await?;
    let orders =
        crate::publish::publish_with_progress(&publisher, &messages.orders, "publishing").await?;
    let published = restock.sent + orders.sent;
    ensure_sent(&restock, &orders)?;
    watch(&write, &read, child, settings).await?;
    let mut summary = summarise(&write, &read).await?;
    summary.took = started.elapsed();
    summary.published = published;
    summary.duplicates_published = messages.duplicates;
    let verify = crate::projector::verify::verify(&write, &read).await?;
    summary.verified = verify.is_clean();
    summary.verify = verify.summary();
    let metrics = scrape_metrics(log).await.unwrap_or_default();
    summary.duplicates_at_worker =
        metric_value(&metrics, "fulfil_duplicates_total{kind=\"duplicate\"}") as i64;
    summary.lag_p50 = histogram_quantile(&metrics, "fulfil_projection_lag_seconds", 0.50);
    summary.lag_p99 = histogram_quantile(&metrics, "fulfil_projection_lag_seconds", 0.99);
    Ok(summary)
}

fn ensure_sent(a: &PublishReport, b: &PublishReport) -> anyhow::Result<()> {
    match a.failed.len() + b.failed.len() {
        0 => Ok(()),
        n => anyhow::bail!(
            "{n} messages were not published: {:?}",
            a.failed.iter().chain(&b.failed).take(3).collect::<Vec<_>>()
        ),
    }
}

async fn applied(write: &PgPool, command_id: &str) -> bool {
    let found: Result<Option<i32>, _> =
        sqlx::query_scalar("SELECT 1 FROM inbox WHERE command_id = $1")
            .bind(command_id)
            .fetch_optional(write)
            .await;
    matches!(found, Ok(Some(_)))
}

/// Polls `done` until it holds, failing if the child died or the deadline passed.
async fn wait_for<F, Fut>(child: &mut Child, deadline: Duration, mut done: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    while !done().await {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("`fulfil run` exited ({status}); see its log");
        }
        if Instant::now() > until {
            anyhow::bail!("the pipeline did not drain within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// The live display: orders decided, outcomes so far, events projected, until drained.
async fn watch(
    write: &PgPool,
    read: &PgPool,
    child: &mut Child,
    settings: &DemoSettings,
) -> anyhow::Result<()> {
    let bar = ProgressBar::new(u64::from(settings.sale.buyers));
    bar.set_style(
        ProgressStyle::with_template("draining {bar:30} {pos}/{len} orders decided  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = wait_for(child, settings.deadline, || async {
        let progress = Progress::read(write, read).await.unwrap_or_default();
        bar.set_position(progress.decided as u64);
        bar.set_message(format!(
            "confirmed {}  rejected {}  events projected {}/{}",
            progress.confirmed, progress.rejected, progress.projected, progress.events
        ));
        progress.decided == i64::from(settings.sale.buyers)
            && progress.events > 0
            && progress.projected == progress.events
            && progress.unpublished == 0
    })
    .await;
    bar.finish();
    result
}

#[derive(Debug, Default)]
struct Progress {
    decided: i64,
    confirmed: i64,
    rejected: i64,
    events: i64,
    unpublished: i64,
    projected: i64,
}

impl Progress {
    async fn read(write: &PgPool, read: &PgPool) -> Result<Progress, sqlx::Error> {
        let (decided, confirmed, rejected, events, unpublished): (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM orders WHERE status = 'confirmed'),
                    (SELECT count(*) FROM orders WHERE status = 'rejected'), (SELECT count(*) FROM outbox),
                    (SELECT count(*) FROM outbox WHERE published_at IS NULL)",
        )
        .fetch_one(write)
        .await?;
        let projected: i64 = sqlx::query_scalar("SELECT events_applied FROM projection_state")
            .fetch_one(read)
            .await?;
        Ok(Progress {
            decided,
            confirmed,
            rejected,
            events,
            unpublished,
            projected,
        })
    }
}

async fn summarise(write: &PgPool, read: &PgPool) -> anyhow::Result<DemoSummary> {
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
    summary.restocked =
        sqlx::query_scalar("SELECT count(*) FROM inbox WHERE outcome = 'RESTOCKED'")
            .fetch_one(write)
            .await?;
    summary.invalid = sqlx::query_scalar("SELECT count(*) FROM invalid_commands")
        .fetch_one(write)
        .await?;
    summary.available =
        sqlx::query_scalar("SELECT coalesce(sum(available), 0)::int8 FROM products")
            .fetch_one(write)
            .await?;
    summary.events = sqlx::query_scalar("SELECT events_applied FROM projection_state")
        .fetch_one(read)
        .await?;
    Ok(summary)
}

/// `fulfil run` shares one metrics registry across its roles: the worker's /metrics shows
/// the projector's lag histogram and the worker's duplicate count alike.
async fn scrape_metrics(log: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().find(|l| l.contains("worker started"))?;
    let addr: std::net::SocketAddr = line
        .split("ops=")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    crate::ops::fetch(addr, "/metrics", Duration::from_secs(3))
        .await
        .ok()
}

fn metric_value(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The upper bound of the first bucket holding the q-quantile (Prometheus buckets).
fn histogram_quantile(metrics: &str, name: &str, q: f64) -> Option<f64> {
    let prefix = format!("{name}_bucket{{le=\"");
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            Some((
                le.parse().unwrap_or(f64::INFINITY),
                count.trim().parse().ok()?,
            ))
        })
        .collect();
    let total = buckets.last()?.1;
    buckets
        .iter()
        .find(|(_, cumulative)| *cumulative >= q * total && total > 0.0)
        .map(|(le, _)| *le)
}

impl std::fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let row =
            |f: &mut std::fmt::Formatter<'_>, k: &str, v: String| writeln!(f, "  {k:<34} {v:>12}");
        writeln!(f, "\n  flash sale summary")?;
        writeln!(f, "  {}", "-".repeat(47))?;
        row(f, "messages published", self.published.to_string())?;
        row(f, "restocked", self.restocked.to_string())?;
        row(f, "orders confirmed", self.confirmed.to_string())?;
        for (reason, n) in &self.rejected {
            row(f, &format!("orders rejected ({reason})"), n.to_string())?;
        }
        row(f, "invalid messages kept", self.invalid.to_string())?;
        row(
            f,
            "duplicates absorbed",
            self.duplicates_published.to_string(),
        )?;
        row(
            f,
            "  of which by the worker's inbox",
            self.duplicates_at_worker.to_string(),
        )?;
        row(
            f,
            "  of which by SNS/SQS FIFO dedup",
            (self.duplicates_published as i64 - self.duplicates_at_worker).to_string(),
        )?;
        let decided = self.restocked
            + self.confirmed
            + self.rejected.iter().map(|(_, n)| n).sum::<i64>()
            + self.invalid
            + self.duplicates_published as i64;
        row(
            f,
            "adds up (all of the above)",
            format!("{decided} = {}", self.published),
        )?;
        row(f, "available stock", self.available.to_string())?;
        row(f, "events projected", self.events.to_string())?;
        let secs = |v: Option<f64>| v.map_or("n/a".to_owned(), |s| format!("<= {s} s"));
        row(f, "projection lag p50", secs(self.lag_p50))?;
        row(f, "projection lag p99", secs(self.lag_p99))?;
        row(f, "time taken", format!("{:.1} s", self.took.as_secs_f64()))?;
        writeln!(f, "  {}", "-".repeat(47))?;
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
    fn quantiles_come_from_the_cumulative_buckets() {
        let m = "x_bucket{le=\"0.1\"} 50\nx_bucket{le=\"0.5\"} 98\nx_bucket{le=\"1\"} 100\nx_bucket{le=\"+Inf\"} 100\ny{kind=\"d\"} 7\n";
        assert_eq!(histogram_quantile(m, "x", 0.5), Some(0.1));
        assert_eq!(histogram_quantile(m, "x", 0.99), Some(1.0));
        assert_eq!(metric_value(m, "y{kind=\"d\"}"), 7.0);
    }
}
