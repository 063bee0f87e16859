//! `fulfil setup`: topics, queues, DLQs and subscriptions, and both databases' migrations,
//! each change printed.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::shared::{AwsArgs, ReadDbArgs, TopologyArgs, WriteDbArgs};
use crate::config::ConfigError;
use crate::queue::ChangeKind;
use crate::setup::SetupSettings;

#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub topology: TopologyArgs,
    #[command(flatten)]
    pub write_db: WriteDbArgs,
    #[command(flatten)]
    pub read_db: ReadDbArgs,
}

impl TryFrom<&SetupArgs> for SetupSettings {
    type Error = ConfigError;

    fn try_from(args: &SetupArgs) -> Result<Self, ConfigError> {
        Ok(SetupSettings {
            aws: (&args.aws).try_into()?,
            topology: (&args.topology).try_into()?,
            write_database_url: (&args.write_db).try_into()?,
            read_database_url: (&args.read_db).try_into()?,
        })
    }
}

impl SetupArgs {
    /// Creates or updates what is missing or differs, one line per resource.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let settings = SetupSettings::try_from(&self)?;
        let report = crate::setup::run(&settings).await.context("setup failed")?;
        for change in &report.changes {
            let word = match change.kind {
                ChangeKind::Created => "created",
                ChangeKind::Updated => "updated",
                ChangeKind::Unchanged => "unchanged",
            };
            println!("{word:<9}  {}  ({})", change.resource, change.detail);
        }
        let done = if report.changed() {
            "done"
        } else {
            "nothing changed"
        };
        println!("setup: {done}");
        Ok(ExitCode::SUCCESS)
    }
}
