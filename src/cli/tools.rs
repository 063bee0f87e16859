//! The tools the `fulfil` binary still carries: `demo`, `bench` and `check`. They leave the
//! product for workspace tool crates (issue 14, item 1), and this module with them; nothing
//! else in `cli` uses it. Their behaviour is today's: exit 1 when the demo does not verify,
//! a bench run fails its correctness check, or an invariant is broken.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::exit_code;
use super::shared::{AwsArgs, ReadDbArgs, RedisArgs, TopologyArgs, WriteDbArgs};
use crate::config::ConfigError;

#[derive(Debug, Subcommand)]
pub enum Tool {
    /// The flash-sale demo: a namespace of its own, `fulfil run`, the seed scenario, a summary.
    Demo(DemoArgs),
    /// Benchmarks against the real services: our path versus the baselines, worker RSS.
    Bench(crate::bench::BenchArgs),
    /// Check every invariant against what was published (exit 1 when one is broken).
    Check(CheckArgs),
}

impl Tool {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Tool::Demo(args) => demo(args).await,
            Tool::Bench(args) => bench(args).await,
            Tool::Check(args) => check(args).await,
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
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

impl TryFrom<&DemoArgs> for crate::demo::DemoSettings {
    type Error = ConfigError;

    fn try_from(args: &DemoArgs) -> Result<Self, ConfigError> {
        Ok(crate::demo::DemoSettings {
            aws: (&args.aws).try_into()?,
            write_database_url: (&args.write_db).try_into()?,
            redis_url: (&args.redis).try_into()?,
            sale: crate::scenario::FlashSale {
                product_id: "pokemon-bread".into(),
                stock: args.stock,
                buyers: args.buyers,
                units: args.units,
                duplicates: args.duplicates,
                invalid: args.invalid,
                seed: args.seed.unwrap_or_else(rand::random),
            },
            deadline: Duration::from_secs(args.deadline_secs),
        })
    }
}

async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let settings = crate::demo::DemoSettings::try_from(&args)?;
    let summary = crate::demo::run(&settings).await.context("demo failed")?;
    println!("{summary}");
    Ok(exit_code(summary.verified))
}

/// Exits 1 when any run's correctness check failed, whatever its speed.
async fn bench(args: crate::bench::BenchArgs) -> anyhow::Result<ExitCode> {
    let report = crate::bench::run_cli(args).await.context("bench failed")?;
    if !report.all_correct() {
        eprintln!("bench: a run FAILED its correctness check (see the table)");
    }
    Ok(exit_code(report.all_correct()))
}

/// `fulfil check`: the invariant checker over both databases and both DLQs.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// JSON Lines of every body published, repeats included: a line holding a JSON string is
    /// that body, any other line is the body itself.
    #[arg(long)]
    pub published: std::path::PathBuf,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub topology: TopologyArgs,
    #[command(flatten)]
    pub write_db: WriteDbArgs,
    #[command(flatten)]
    pub read_db: ReadDbArgs,
}

impl TryFrom<&CheckArgs> for crate::check::CheckSettings {
    type Error = ConfigError;

    fn try_from(args: &CheckArgs) -> Result<Self, ConfigError> {
        Ok(crate::check::CheckSettings {
            write_database_url: (&args.write_db).try_into()?,
            read_database_url: (&args.read_db).try_into()?,
            aws: (&args.aws).try_into()?,
            topology: (&args.topology).try_into()?,
        })
    }
}

async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let settings = crate::check::CheckSettings::try_from(&args)?;
    let path = &args.published;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --published {}", path.display()))?;
    let published = crate::check::published::parse(&text);
    let report = crate::check::connect_and_run(&settings, &published)
        .await
        .context("check failed")?;
    match args.json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => println!("{report}"),
    }
    Ok(exit_code(report.is_clean()))
}
