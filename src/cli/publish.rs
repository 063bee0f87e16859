//! `fulfil publish --file F`: order commands through SNS, as an upstream service publishes
//! them. (The flash-sale scenario is a tool's: `fulfil-demo flash-sale`.)

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::shared::{AwsArgs, TopologyArgs};
use crate::queue::publisher::PublishReport;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// JSON Lines of contract-v1 commands; `-` reads stdin.
    #[arg(long)]
    file: PathBuf,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    topology: TopologyArgs,
}

impl PublishArgs {
    /// Publishes the file's commands; exit 1 if any was not sent or a line was bad.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let (messages, bad) = crate::publish::read_commands(&read(&self.file)?);
        for b in &bad {
            eprintln!("line {}: {} (not sent)", b.line, b.error);
        }
        let publisher = publisher(&self.aws, &self.topology).await?;
        let report =
            crate::publish::publish_with_progress(&publisher, &messages, "publishing").await?;
        Ok(finish(report, bad.len()))
    }
}

/// The file's text, or stdin's for `-`.
fn read(path: &std::path::Path) -> anyhow::Result<String> {
    match path.to_str() {
        Some("-") => std::io::read_to_string(std::io::stdin()).context("reading stdin"),
        _ => std::fs::read_to_string(path)
            .with_context(|| format!("reading --file {}", path.display())),
    }
}

/// The command publisher for these settings.
async fn publisher(
    aws: &AwsArgs,
    topology: &TopologyArgs,
) -> anyhow::Result<crate::queue::publisher::CommandPublisher> {
    let aws = crate::config::AwsSettings::try_from(aws)?;
    let topology = crate::config::Topology::try_from(topology)?;
    Ok(crate::publish::publisher(&aws, &topology).await?)
}

/// Prints the final count; any failure or bad line makes the exit code 1.
fn finish(report: PublishReport, bad_lines: usize) -> ExitCode {
    for (index, why) in &report.failed {
        eprintln!("message {index}: not published: {why}");
    }
    let failed = report.failed.len();
    println!(
        "sent {}, failed {failed}, invalid lines {bad_lines}",
        report.sent
    );
    super::exit_code(failed == 0 && bad_lines == 0)
}
