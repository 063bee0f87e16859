//! `fulfil-check --published FILE`: the invariant checker over both databases and both DLQs,
//! as the chaos soak runs it after a drain. Exit 1 when an invariant is broken.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use fulfil::cli::{AwsArgs, ReadDbArgs, TopologyArgs, WriteDbArgs};
use fulfil_testkit::check::{self, published, CheckSettings};

/// Check every invariant against what was published (exit 1 when one is broken).
#[derive(Debug, Parser)]
#[command(name = "fulfil-check", version)]
struct CheckArgs {
    /// JSON Lines of every body published, repeats included: a line holding a JSON string is
    /// that body, any other line is the body itself.
    #[arg(long)]
    published: PathBuf,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    topology: TopologyArgs,
    #[command(flatten)]
    write_db: WriteDbArgs,
    #[command(flatten)]
    read_db: ReadDbArgs,
}

impl CheckArgs {
    fn settings(&self) -> anyhow::Result<CheckSettings> {
        Ok(CheckSettings {
            write_database_url: (&self.write_db).try_into()?,
            read_database_url: (&self.read_db).try_into()?,
            aws: (&self.aws).try_into()?,
            topology: (&self.topology).try_into()?,
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match check(CheckArgs::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("fulfil-check: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether every invariant held.
async fn check(args: CheckArgs) -> anyhow::Result<bool> {
    let settings = args.settings()?;
    let path = &args.published;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --published {}", path.display()))?;
    let report = check::connect_and_run(&settings, &published::parse(&text))
        .await
        .context("check failed")?;
    match args.json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => println!("{report}"),
    }
    Ok(report.is_clean())
}
