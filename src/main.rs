//! The `fulfil` command: parse arguments, set up logging, validate settings, run one role.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use fulfil::cli::{
    AwsArgs, BothDbArgs, ProjectorArgs, SetupArgs, TopologyArgs, WorkerArgs, WriteDbArgs,
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
    /// Consume order commands: lock stock, write orders and events (until SIGTERM).
    Worker(WorkerArgs),
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Setup(args) => setup(args).await,
        Command::Worker(args) => worker(args).await,
        Command::Projector(args) => projector(args).await,
        Command::Verify(args) => verify(args).await,
        Command::Rebuild(args) => rebuild(args).await,
        Command::Invalid(InvalidCommand::List {
            write_db,
            limit,
            format,
        }) => list_invalid(write_db, limit, format).await,
        Command::Invalid(InvalidCommand::Replay(args)) => replay_invalid(args).await,
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

async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let settings = args.into_settings()?;
    telemetry::install_metrics();
    let shutdown = fulfil::shutdown::on_signals();
    fulfil::run::worker::run(settings, shutdown)
        .await
        .context("worker failed")?;
    Ok(())
}

async fn projector(args: ProjectorArgs) -> anyhow::Result<()> {
    let settings = args.into_settings()?;
    telemetry::install_metrics();
    let shutdown = fulfil::shutdown::on_signals();
    fulfil::run::projector::run(settings, shutdown)
        .await
        .context("projector failed")?;
    Ok(())
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
