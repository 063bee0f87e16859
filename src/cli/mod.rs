//! The `fulfil` command line: one module per subcommand, each holding its arguments, the
//! `TryFrom` that validates them into the typed settings of `config` and `run` (a
//! [`ConfigError`](crate::config::ConfigError) names the flag and variable the user set, as
//! that subcommand spells them), and its `run`. `main.rs` parses, sets up logging and
//! dispatches to [`Command::run`]; see docs/ARCHITECTURE.md for the module map.
//!
//! Every flag also reads an environment variable (shown in `--help`). The roles' tuning
//! groups ([`relay::RelayTuning`], [`projector::ProjectorTuning`], [`api::ApiTuning`]) are
//! declared once and flattened both by the role's own subcommand and by `fulfil run`.

use std::process::ExitCode;

use clap::Subcommand;

pub mod api;
pub mod dlq;
pub mod healthcheck;
pub mod invalid;
pub mod projector;
pub mod prune;
pub mod publish;
pub mod rebuild;
pub mod relay;
mod role;
pub mod run;
pub mod setup;
pub mod shared;
#[cfg(test)]
mod testing;
pub mod verify;
pub mod worker;

pub use relay::DEFAULT_RELAY_STEPS;
pub use shared::{AwsArgs, BothDbArgs, Format, ReadDbArgs, RedisArgs, TopologyArgs, WriteDbArgs};

/// The operator's subcommands: everything the product binary does.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create topics, queues, DLQs and subscriptions, and migrate both databases (idempotent).
    Setup(setup::SetupArgs),
    /// Worker, relay, projector and API in one process (until SIGTERM): the local default.
    Run(run::RunArgs),
    /// Consume order commands: lock stock, write orders and events (until SIGTERM).
    Worker(worker::WorkerArgs),
    /// Publish order commands through SNS, as an upstream service does.
    Publish(publish::PublishArgs),
    /// Exit 0 if the role on FULFIL_OPS_ADDR answers /healthz (for container health checks).
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Serve the read database as JSON under /v1 (until SIGTERM).
    Api(api::ApiArgs),
    /// Publish the outbox's events to the events topic, in order per aggregate (until SIGTERM).
    Relay(relay::RelayArgs),
    /// Apply change events to the read database (until SIGTERM).
    Projector(projector::ProjectorArgs),
    /// Compare the read database with a replay of the write database's event log (exit 1 on
    /// any difference).
    Verify(BothDbArgs),
    /// Rebuild the read database from the write database's event log and swap it in.
    Rebuild(BothDbArgs),
    /// Inspect and replay the invalid commands the worker kept.
    #[command(subcommand)]
    Invalid(invalid::InvalidCommand),
    /// Delete what the retention lets go (superseded relayed events, old kept commands),
    /// once, to the end (the relay also does it in the background).
    Prune(prune::PruneOnceArgs),
    /// Inspect the dead-letter queues and redrive their messages.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
}

impl Command {
    /// Runs the subcommand; the exit code says whether what it checked or sent was whole.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Setup(args) => args.run().await,
            Command::Run(args) => args.run().await,
            Command::Worker(args) => args.run().await,
            Command::Publish(args) => args.run().await,
            Command::Healthcheck(args) => args.run().await,
            Command::Api(args) => args.run().await,
            Command::Relay(args) => args.run().await,
            Command::Projector(args) => args.run().await,
            Command::Verify(args) => verify::run(args).await,
            Command::Rebuild(args) => rebuild::run(args).await,
            Command::Invalid(command) => command.run().await,
            Command::Prune(args) => args.run().await,
            Command::Dlq(command) => command.run().await,
        }
    }
}

/// Exit 0 when `ok`, else 1.
fn exit_code(ok: bool) -> ExitCode {
    match ok {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}
