//! `fulfil publish --file F`: order commands through SNS, as an upstream service publishes
//! them. The flash-sale scenario (`fulfil publish flash-sale`) is a module of its own: it
//! leaves the product with the scenario (issue 14, item 1).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::shared::{AwsArgs, TopologyArgs};
use crate::queue::publisher::PublishReport;

pub mod flash_sale;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PublishArgs {
    #[command(subcommand)]
    scenario: Option<Scenario>,
    /// JSON Lines of contract-v1 commands; `-` reads stdin.
    #[arg(long)]
    file: Option<PathBuf>,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    topology: TopologyArgs,
}

#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// A flash sale: one Restock, then every buyer orders the same product at once.
    FlashSale(flash_sale::FlashSaleArgs),
}

impl PublishArgs {
    /// Publishes the file's commands (or the scenario's); exit 1 if any was not sent.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        if let Some(Scenario::FlashSale(sale)) = self.scenario {
            return sale.run().await;
        }
        let Some(path) = &self.file else {
            anyhow::bail!(
                "say what to publish: --file FILE (or - for stdin), or the flash-sale scenario"
            )
        };
        let (messages, bad) = crate::publish::read_commands(&read(path)?);
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
