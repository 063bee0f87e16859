//! `fulfil-demo` (what `./dev demo` runs): the flash-sale demo in a namespace of its own; or
//! `fulfil-demo flash-sale`, which only publishes the scenario to a running stack.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use fulfil::cli::{AwsArgs, RedisArgs, WriteDbArgs};
use fulfil::queue::publisher::PublishReport;
use fulfil::telemetry::{self, LogFormat};
use fulfil_demo::flash_sale::{self, FlashSaleArgs};
use fulfil_demo::DemoSettings;
use fulfil_testkit::scenario::FlashSale;

/// The flash-sale demo: a namespace of its own, `fulfil run`, the seed scenario, a summary.
#[derive(Debug, Parser)]
#[command(name = "fulfil-demo", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    demo: DemoArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Only publish a flash sale (one Restock, then every buyer's order) to a running stack.
    FlashSale(FlashSaleArgs),
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[arg(long, default_value_t = 1000)]
    buyers: u32,
    #[arg(long, default_value_t = 1000)]
    stock: u32,
    #[arg(long, default_value_t = 2)]
    units: u32,
    /// Share of orders published twice.
    #[arg(long, default_value_t = 0.1)]
    duplicates: f64,
    /// Invalid messages mixed in.
    #[arg(long, default_value_t = 5)]
    invalid: u32,
    #[arg(long)]
    seed: Option<u64>,
    /// Give up if the pipeline has not drained after this many seconds.
    #[arg(long, default_value_t = 300)]
    deadline_secs: u64,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    write_db: WriteDbArgs,
    #[command(flatten)]
    redis: RedisArgs,
}

impl DemoArgs {
    fn settings(&self) -> anyhow::Result<DemoSettings> {
        Ok(DemoSettings {
            aws: (&self.aws).try_into()?,
            write_database_url: (&self.write_db).try_into()?,
            redis_url: (&self.redis).try_into()?,
            sale: FlashSale {
                product_id: "pokemon-bread".into(),
                stock: self.stock,
                buyers: self.buyers,
                units: self.units,
                duplicates: self.duplicates,
                invalid: self.invalid,
                seed: self.seed.unwrap_or_else(rand::random),
            },
            deadline: Duration::from_secs(self.deadline_secs),
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _telemetry = telemetry::init(LogFormat::Text, "fulfil-demo");
    let outcome = match &cli.command {
        Some(Command::FlashSale(args)) => flash_sale::run(args).await.map(|r| published(&r)),
        None => demo(&cli.demo).await,
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("fulfil-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the demo's read side verified clean.
async fn demo(args: &DemoArgs) -> anyhow::Result<bool> {
    let summary = fulfil_demo::run(&args.settings()?)
        .await
        .context("demo failed")?;
    println!("{summary}");
    Ok(summary.verified)
}

/// Prints the final count; whether everything was sent.
fn published(report: &PublishReport) -> bool {
    for (index, why) in &report.failed {
        eprintln!("message {index}: not published: {why}");
    }
    println!("sent {}, failed {}", report.sent, report.failed.len());
    report.failed.is_empty()
}
