//! The `fulfil` command: parse arguments, set up logging, validate settings, run one role.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use fulfil::cli::{
    ApiArgs, AwsArgs, BothDbArgs, DlqCommand, Format, ProjectorArgs, PruneOnceArgs, RelayArgs,
    RunArgs, SetupArgs, TopologyArgs, WorkerArgs, WriteDbArgs,
};
use fulfil::queue::ChangeKind;
use fulfil::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "fulfil",
    version,
    about = "Asynchronous order fulfilment: SNS/SQS in, PostgreSQL out, CQRS read side"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, env = "FULFIL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create topics, queues, DLQs and subscriptions, and migrate both databases (idempotent).
    Setup(SetupArgs),
    /// Worker, relay, projector and API in one process (until SIGTERM): the local default.
    Run(RunArgs),
    /// Consume order commands: lock stock, write orders and events (until SIGTERM).
    Worker(WorkerArgs),
    /// Publish order commands through SNS, as an upstream service does.
    Publish(PublishArgs),
    /// Exit 0 if the role on FULFIL_OPS_ADDR answers /healthz (for container health checks).
    Healthcheck {
        #[arg(long, env = "FULFIL_OPS_ADDR", default_value = "127.0.0.1:9464")]
        ops_addr: String,
        /// A full URL instead (e.g. the API's own http://127.0.0.1:8080/healthz).
        #[arg(long, env = "FULFIL_HEALTHCHECK_URL")]
        url: Option<String>,
    },
    /// Serve the read database as JSON under /v1 (until SIGTERM).
    Api(ApiArgs),
    /// Publish the outbox's events to the events topic, in order per aggregate (until SIGTERM).
    Relay(RelayArgs),
    /// Apply change events to the read database (until SIGTERM).
    Projector(ProjectorArgs),
    /// Compare the read database with a replay of the write database's event log (exit 1 on
    /// any difference).
    Verify(BothDbArgs),
    /// Rebuild the read database from the write database's event log and swap it in.
    Rebuild(BothDbArgs),
    /// Inspect and replay the invalid commands the worker kept.
    #[command(subcommand)]
    Invalid(InvalidCommand),
    /// Delete what the retention lets go (superseded relayed events, old kept commands),
    /// once, to the end (the relay also does it in the background).
    Prune(PruneOnceArgs),
    /// Inspect the dead-letter queues and redrive their messages.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

#[derive(Debug, Subcommand)]
enum InvalidCommand {
    /// The most recent kept invalid commands, newest first.
    List {
        #[command(flatten)]
        write_db: WriteDbArgs,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Send a kept invalid command to the commands queue again, as kept or corrected.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// The id shown by `fulfil invalid list`.
    id: i64,
    /// Send this file's content instead of the kept body (a corrected command).
    #[arg(long)]
    body_file: Option<PathBuf>,
    #[command(flatten)]
    write_db: WriteDbArgs,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    topology: TopologyArgs,
}

#[derive(Debug, Args)]
struct PublishArgs {
    /// JSON Lines of contract-v1 commands; `-` reads stdin.
    #[arg(long)]
    file: PathBuf,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    topology: TopologyArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let service = format!("fulfil-{}", matches.subcommand_name().unwrap_or("cli"));
    let _telemetry = telemetry::init(cli.log_format, &service);
    // Failpoints named in FAILPOINTS or FAIL_POINTS (fault-test builds only; inert otherwise).
    let _failpoints = fulfil::failpoint::setup().map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Setup(args) => setup(args).await,
        Command::Run(args) => run_all(args).await,
        Command::Worker(args) => worker(args).await,
        Command::Projector(args) => projector(args).await,
        Command::Verify(args) => verify(args).await,
        Command::Rebuild(args) => rebuild(args).await,
        Command::Healthcheck { ops_addr, url } => healthcheck(&ops_addr, url.as_deref()).await,
        Command::Publish(args) => publish_file(args).await,
        Command::Api(args) => api(args).await,
        Command::Relay(args) => relay(args).await,
        Command::Invalid(InvalidCommand::List {
            write_db,
            limit,
            format,
        }) => list_invalid(write_db, limit, format).await,
        Command::Invalid(InvalidCommand::Replay(args)) => replay_invalid(args).await,
        Command::Dlq(command) => command.run().await,
        Command::Prune(args) => args.run().await,
    }
}

async fn setup(args: SetupArgs) -> anyhow::Result<()> {
    let settings = args.into_settings()?;
    let report = fulfil::setup::run(&settings)
        .await
        .context("setup failed")?;
    for change in &report.changes {
        let word = match change.kind {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Unchanged => "unchanged",
        };
        println!("{word:<9}  {}  ({})", change.resource, change.detail);
    }
    println!(
        "setup: {}",
        if report.changed() {
            "done"
        } else {
            "nothing changed"
        }
    );
    Ok(())
}

/// Every long-running role starts alike: metrics, signal handling, then its loop until
/// SIGTERM/SIGINT.
async fn long_running<F, Fut>(name: &str, role: F) -> anyhow::Result<()>
where
    F: FnOnce(tokio_util::sync::CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), fulfil::run::RunError>>,
{
    telemetry::install_metrics();
    let shutdown = fulfil::shutdown::on_signals();
    role(shutdown)
        .await
        .with_context(|| format!("{name} failed"))
}

async fn run_all(args: RunArgs) -> anyhow::Result<()> {
    let settings = args.into_settings()?;
    long_running("fulfil run", |shutdown| {
        fulfil::run::all::run(settings, shutdown)
    })
    .await
}

async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let settings = args.into_settings()?;
    long_running("worker", |shutdown| {
        fulfil::run::worker::run(settings, shutdown)
    })
    .await
}

async fn api(args: ApiArgs) -> anyhow::Result<()> {
    let settings = args.into_settings()?;
    long_running("api", |shutdown| fulfil::run::api::run(settings, shutdown)).await
}

async fn relay(args: RelayArgs) -> anyhow::Result<()> {
    let settings = args.into_settings()?;
    long_running("relay", |shutdown| {
        fulfil::run::relay::run(settings, shutdown)
    })
    .await
}

async fn projector(args: ProjectorArgs) -> anyhow::Result<()> {
    let settings = args.into_settings()?;
    long_running("projector", |shutdown| {
        fulfil::run::projector::run(settings, shutdown)
    })
    .await
}

async fn verify(args: BothDbArgs) -> anyhow::Result<()> {
    let (write, read) = args.into_settings()?;
    let report = fulfil::projector::verify::verify_databases(&write, &read)
        .await
        .context("verify failed")?;
    for difference in &report.differences {
        println!("{difference}");
    }
    println!("{}", report.summary());
    if !report.is_clean() {
        std::process::exit(1);
    }
    Ok(())
}

async fn rebuild(args: BothDbArgs) -> anyhow::Result<()> {
    let (write, read) = args.into_settings()?;
    let report = fulfil::projector::rebuild::rebuild_databases(&write, &read)
        .await
        .context("rebuild failed")?;
    for line in report.lines() {
        println!("{line}");
    }
    Ok(())
}

async fn list_invalid(write_db: WriteDbArgs, limit: i64, format: Format) -> anyhow::Result<()> {
    let rows = fulfil::admin::list_invalid(&write_db.into_settings()?, limit).await?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Table => {
            println!("{:>6}  {:<20}  {:<18}  error", "id", "received", "code");
            for r in &rows {
                let replayed = if r.replayed_at.is_some() {
                    "  (replayed)"
                } else {
                    ""
                };
                println!(
                    "{:>6}  {:<20}  {:<18}  {}{replayed}",
                    r.id,
                    r.received_at.format("%Y-%m-%d %H:%M:%S"),
                    r.error_code,
                    r.error
                );
            }
            println!("{} invalid command(s) shown", rows.len());
        }
    }
    Ok(())
}

async fn replay_invalid(args: ReplayArgs) -> anyhow::Result<()> {
    let corrected = match &args.body_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading --body-file {}", path.display()))?,
        ),
        None => None,
    };
    let (url, aws, topology) = (
        args.write_db.into_settings()?,
        args.aws.into_settings()?,
        args.topology.into_settings()?,
    );
    let replayed = fulfil::admin::replay_invalid(&url, &aws, &topology, args.id, corrected).await?;
    println!(
        "replayed invalid command {} as message {}",
        args.id, replayed.message_id
    );
    Ok(())
}

async fn publish_file(args: PublishArgs) -> anyhow::Result<()> {
    let path = &args.file;
    let text = match path.to_str() {
        Some("-") => std::io::read_to_string(std::io::stdin()).context("reading stdin")?,
        _ => std::fs::read_to_string(path)
            .with_context(|| format!("reading --file {}", path.display()))?,
    };
    let (messages, bad) = fulfil::publish::read_commands(&text);
    for b in &bad {
        eprintln!("line {}: {} (not sent)", b.line, b.error);
    }
    let publisher =
        fulfil::publish::publisher(&args.aws.into_settings()?, &args.topology.into_settings()?)
            .await?;
    let report =
        fulfil::publish::publish_with_progress(&publisher, &messages, "publishing").await?;
    finish(report, bad.len())
}

/// Prints the final count; any failure or bad line makes the exit code 1.
fn finish(report: fulfil::queue::publisher::PublishReport, bad_lines: usize) -> anyhow::Result<()> {
    for (index, why) in &report.failed {
        eprintln!("message {index}: not published: {why}");
    }
    println!(
        "sent {}, failed {}, invalid lines {}",
        report.sent,
        report.failed.len(),
        bad_lines
    );
    if report.failed.is_empty() && bad_lines == 0 {
        Ok(())
    } else {
        std::process::exit(1)
    }
}

async fn healthcheck(ops_addr: &str, url: Option<&str>) -> anyhow::Result<()> {
    let (addr, path) = match url.filter(|u| !u.is_empty()) {
        Some(url) => fulfil::config::validate_http_target("FULFIL_HEALTHCHECK_URL (--url)", url)?,
        None => (
            fulfil::config::validate_socket_addr("FULFIL_OPS_ADDR (--ops-addr)", ops_addr)?,
            "/healthz".to_owned(),
        ),
    };
    match fulfil::ops::fetch(addr, &path, std::time::Duration::from_secs(3))
        .await
        .map(|_| ())
    {
        Ok(()) => {
            println!("healthy");
            Ok(())
        }
        Err(why) => anyhow::bail!("unhealthy: {why}"),
    }
}
