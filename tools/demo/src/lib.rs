//! `fulfil-demo`: the whole pipeline on a flash sale, in a namespace of its own (fresh
//! databases, topic and queue prefix, Redis key prefix) on the servers the settings name.
//! It starts `fulfil run` as a child process, publishes the seed scenario, shows progress
//! while the pipeline drains, verifies the read side, prints a summary and stops the child.

use std::process::Command;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

pub mod flash_sale;
pub mod namespace;
mod registry;
mod summary;
mod watch;

use namespace::Namespace;
pub use summary::DemoSummary;
use watch::{Progress, Timeline, LOOK_EVERY};

use fulfil::config::{AwsSettings, SecretUrl};
use fulfil::db::{self, Database};
use fulfil::queue::publisher::PublishReport;
use fulfil_testkit::process::RoleProcess;
use fulfil_testkit::scenario::FlashSale;

#[derive(Debug, Clone)]
pub struct DemoSettings {
    pub aws: AwsSettings,
    /// Server and credentials for the demo's own databases (its database name is replaced).
    pub write_database_url: SecretUrl,
    pub redis_url: fulfil::config::RedisUrls,
    pub sale: FlashSale,
    pub deadline: Duration,
}

pub async fn run(settings: &DemoSettings) -> anyhow::Result<DemoSummary> {
    let ns = namespace::create(settings, namespace::SCOPE).await?;
    let report = fulfil::setup::run(&ns.setup).await?;
    eprintln!(
        "demo namespace {}: databases {}_write and {}_read, queues {}*",
        ns.tag, ns.tag, ns.tag, ns.setup.topology.prefix
    );
    let mut run = spawn_run(settings, &ns)?;
    let log = run.log_path.clone();
    let result = drive(settings, &ns, &mut run, report.provisioned, &log).await;
    run.stop(STOP_GRACE).await;
    result
}

/// How long `fulfil run` has to drain after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

fn spawn_run(settings: &DemoSettings, ns: &Namespace) -> anyhow::Result<RoleProcess> {
    let log = std::env::temp_dir().join(format!("fulfil-{}.log", ns.tag));
    eprintln!(
        "starting `fulfil run` in the background (log: {})",
        log.display()
    );
    let mut command = Command::new(fulfil_testkit::process::fulfil_binary()?);
    command
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
        .env_remove("FULFIL_STANDARD_QUEUES");
    Ok(RoleProcess::spawn_logging_to(command, "fulfil run", log)?)
}

async fn drive(
    settings: &DemoSettings,
    ns: &Namespace,
    run: &mut RoleProcess,
    provisioned: fulfil::queue::topology::Provisioned,
    log: &std::path::Path,
) -> anyhow::Result<DemoSummary> {
    let write = db::connect(Database::Write, &ns.setup.write_database_url, 2).await?;
    let read = db::connect(Database::Read, &ns.setup.read_database_url, 2).await?;
    let clients = fulfil::queue::AwsClients::connect(&settings.aws).await;
    let publisher = fulfil::queue::publisher::CommandPublisher::new(
        clients,
        provisioned.commands_topic_arn,
        true,
    );
    wait_for(run, settings.deadline, || async { all_started(log) }).await?;
    let messages = settings.sale.messages();
    let started = Instant::now();
    let published = publish(settings, &publisher, &write, run, &messages).await?;
    let timeline = watch(&write, &read, run, settings, started).await?;
    let verify = fulfil::projector::verify::verify(&write, &read).await?;
    let took = started.elapsed();
    let mut summary = summary::summarise(&write).await?;
    summary.took = took;
    summary.published = published;
    summary.duplicates_published = messages.duplicates;
    summary.verified = verify.is_clean();
    summary.verify = verify.summary();
    summary.timed(&timeline);
    let metrics = scrape_metrics(log).await.unwrap_or_default();
    summary.duplicates_at_worker =
        metric_value(&metrics, "fulfil_duplicates_total{kind=\"duplicate\"}") as i64;
    Ok(summary)
}

/// Every role of `fulfil run` is up (the clock starts at the first publish, not before).
fn all_started(log: &std::path::Path) -> bool {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    ["worker started", "relay started", "projector started"]
        .iter()
        .all(|line| text.contains(line))
}

/// The restock first (its orders are in other FIFO groups, so it must be applied before
/// they are decided), then the orders; returns how many messages went out.
async fn publish(
    settings: &DemoSettings,
    publisher: &fulfil::queue::publisher::CommandPublisher,
    write: &PgPool,
    run: &mut RoleProcess,
    messages: &fulfil_testkit::scenario::Messages,
) -> anyhow::Result<usize> {
    let restock = publisher
        .publish(std::slice::from_ref(&messages.restock), |_| {})
        .await?;
    wait_for(run, settings.deadline, || {
        applied(write, &messages.restock.dedup_id)
    })
    .await?;
    let orders =
        fulfil::publish::publish_with_progress(publisher, &messages.orders, "publishing").await?;
    ensure_sent(&restock, &orders)?;
    Ok(restock.sent + orders.sent)
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

/// Polls `done` every [`LOOK_EVERY`] until it holds, failing if `fulfil run` died or the
/// deadline passed.
async fn wait_for<F, Fut>(
    run: &mut RoleProcess,
    deadline: Duration,
    mut done: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    while !done().await {
        still_going(run, until, deadline)?;
        tokio::time::sleep(LOOK_EVERY).await;
    }
    Ok(())
}

/// An error once `fulfil run` has exited or `until` has passed.
fn still_going(run: &mut RoleProcess, until: Instant, deadline: Duration) -> anyhow::Result<()> {
    if let Some(status) = run.try_wait() {
        anyhow::bail!("`fulfil run` exited ({status}); see its log");
    }
    if Instant::now() > until {
        anyhow::bail!("the pipeline did not drain within {deadline:?}");
    }
    Ok(())
}

/// The live display (orders decided, outcomes, events, versions the read side lacks) until
/// drained; returns when the stages finished and every order's projection lag.
async fn watch(
    write: &PgPool,
    read: &PgPool,
    run: &mut RoleProcess,
    settings: &DemoSettings,
    started: Instant,
) -> anyhow::Result<Timeline> {
    let sale = &settings.sale;
    let bar = ProgressBar::new(u64::from(sale.buyers));
    bar.set_style(
        ProgressStyle::with_template("draining {bar:30} {pos}/{len} orders decided  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let until = Instant::now() + settings.deadline;
    let mut timeline = Timeline::default();
    loop {
        let progress = Progress::read(write, read).await.unwrap_or_default();
        timeline.note(&progress, sale.buyers, started);
        timeline.sample(read).await?;
        bar.set_position(progress.decided as u64);
        bar.set_message(format!(
            "confirmed {}  rejected {}  events {}  versions the read model lacks {}",
            progress.confirmed, progress.rejected, progress.events, progress.versions_behind
        ));
        if progress.drained(sale.buyers, sale.invalid) {
            timeline.projected = Some(started.elapsed());
            bar.finish();
            return Ok(timeline);
        }
        still_going(run, until, settings.deadline)?;
        tokio::time::sleep(LOOK_EVERY).await;
    }
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
    fulfil::ops::fetch(addr, "/metrics", Duration::from_secs(3))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_is_read_by_its_name_and_labels() {
        let m = "x_bucket{le=\"0.1\"} 50\ny{kind=\"d\"} 7\n";
        assert_eq!(metric_value(m, "y{kind=\"d\"}"), 7.0);
        assert_eq!(metric_value(m, "z"), 0.0);
    }
}
