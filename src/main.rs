//! The `fulfil` command: parse arguments, set up logging, validate settings, run one role.

use anyhow::Context;
use clap::{Parser, Subcommand};
use fulfil::cli::SetupArgs;
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Setup(args) => setup(args).await,
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
    if report.changed() {
        println!("setup: done");
    } else {
        println!("setup: nothing changed");
    }
    Ok(())
}
