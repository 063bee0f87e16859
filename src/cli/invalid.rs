//! `fulfil invalid list|replay`: the invalid commands the worker kept, and sending one to
//! the commands queue again, as kept or corrected.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::shared::{AwsArgs, Format, TopologyArgs, WriteDbArgs};
use crate::config::SecretUrl;

#[derive(Debug, Subcommand)]
pub enum InvalidCommand {
    /// The most recent kept invalid commands, newest first.
    List(ListArgs),
    /// Send a kept invalid command to the commands queue again, as kept or corrected.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    write_db: WriteDbArgs,
    #[arg(long, default_value_t = 50)]
    limit: i64,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
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

impl InvalidCommand {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            InvalidCommand::List(args) => args.run().await,
            InvalidCommand::Replay(args) => args.run().await,
        }
    }
}

impl ListArgs {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let url = SecretUrl::try_from(&self.write_db)?;
        let rows = crate::admin::list_invalid(&url, self.limit).await?;
        match self.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
            Format::Table => print_table(&rows),
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn print_table(rows: &[crate::store::invalid::InvalidCommand]) {
    println!("{:>6}  {:<20}  {:<18}  error", "id", "received", "code");
    for r in rows {
        let replayed = match r.replayed_at {
            Some(_) => "  (replayed)",
            None => "",
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

impl ReplayArgs {
    async fn run(self) -> anyhow::Result<ExitCode> {
        let corrected = match &self.body_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading --body-file {}", path.display()))?,
            ),
            None => None,
        };
        let url = SecretUrl::try_from(&self.write_db)?;
        let (aws, topology) = ((&self.aws).try_into()?, (&self.topology).try_into()?);
        let replayed =
            crate::admin::replay_invalid(&url, &aws, &topology, self.id, corrected).await?;
        let (id, message) = (self.id, replayed.message_id);
        println!("replayed invalid command {id} as message {message}");
        Ok(ExitCode::SUCCESS)
    }
}
