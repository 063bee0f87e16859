//! `fulfil-bench [stock|e2e|all] [--orders N] [--repeat R] [--quick]`: runs the scenarios,
//! prints the table, writes the JSON to `target/bench/` under the current directory.

use std::path::Path as FsPath;

use clap::{Args, ValueEnum};

use super::env::Services;
use super::report::Report;
use super::{e2e, rss, scale, stock, table, targets, BenchEnv, BenchError, Options};
use fulfil::cli::{AwsArgs, ReadDbArgs, WriteDbArgs};
use fulfil::config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// The stock-decrement stage: ours against two baselines and the ceiling, the seed
    /// case, and the worker's peak RSS.
    Stock,
    /// Commands through SNS/SQS, worker, relay and projector to the read database.
    E2e,
    /// 1, 2 and 4 worker processes on one stack, a spread and a hot workload (not in `all`).
    Scale,
    All,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[arg(value_enum, default_value_t = Scenario::All)]
    pub scenario: Scenario,
    /// Orders per timed run (default 3000; 60 with --quick).
    #[arg(long)]
    pub orders: Option<usize>,
    /// Runs of each cell; the median is reported (default 3; 1 with --quick).
    #[arg(long)]
    pub repeat: Option<usize>,
    /// Small sizes: a smoke run, not a measurement.
    #[arg(long)]
    pub quick: bool,
    #[command(flatten)]
    pub write_db: WriteDbArgs,
    #[command(flatten)]
    pub read_db: ReadDbArgs,
    /// Redis (the bench uses a key prefix of its own).
    #[arg(long = "redis-url", env = "FULFIL_REDIS_URL", hide_env_values = true)]
    pub redis_url: String,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl BenchArgs {
    pub fn services(&self) -> Result<Services, BenchError> {
        Ok(Services {
            write_database_url: (&self.write_db).try_into()?,
            read_database_url: (&self.read_db).try_into()?,
            redis_url: config::validate_redis_url(
                "FULFIL_REDIS_URL (--redis-url)",
                &self.redis_url,
            )?,
            aws: (&self.aws).try_into()?,
        })
    }
}

/// What `fulfil-bench` does; the caller exits 1 unless `report.all_correct()`.
pub async fn run_cli(args: BenchArgs) -> Result<Report, BenchError> {
    let services = args.services()?;
    let options = Options::new(args.orders, args.repeat, args.quick);
    let report = run(&services, &options, args.scenario).await?;
    print!("{}", table::render(&report));
    let path = report.write_json(FsPath::new("target/bench"))?;
    println!("\nJSON: {}", path.display());
    Ok(report)
}

/// Runs the chosen scenarios into one report.
pub async fn run(
    services: &Services,
    options: &Options,
    scenario: Scenario,
) -> Result<Report, BenchError> {
    let mut report = Report::new(options);
    if scenario == Scenario::Scale {
        report.scale = Some(Box::pin(scale::run(services, options)).await?);
        return Ok(report);
    }
    if scenario != Scenario::E2e {
        report.stock = Some(run_stock(services, options).await?);
        eprintln!(
            "worker RSS: {} orders to a fulfil worker ...",
            options.rss_orders
        );
        report.worker_rss = Some(rss::measure(services, options.rss_orders).await?);
    }
    if scenario != Scenario::Stock {
        report.e2e = Some(e2e::run(services, options).await?);
    }
    report.targets = targets::evaluate(&report);
    Ok(report)
}

/// The stock cells in a database of their own, removed afterwards whatever happened.
pub async fn run_stock(
    services: &Services,
    options: &Options,
) -> Result<super::report::StockReport, BenchError> {
    let env = BenchEnv::create(services.clone()).await?;
    let result = stock::run(&env, options).await;
    env.remove().await;
    result
}
