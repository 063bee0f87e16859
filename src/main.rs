//! The `fulfil` command, its composition root: parse the arguments, set up logging and
//! failpoints, run one subcommand of `fulfil::cli`, and print an error once, with its causes.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use fulfil::telemetry::{self, LogFormat};

/// mimalloc, not glibc's malloc: on the 1000-product stock bench glibc's malloc and free
/// (with its consolidation) were about a quarter of the worker's CPU, on a machine whose two
/// cores PostgreSQL, Redis and the worker share; side by side, mimalloc served 5-11 % more
/// orders a second there. Every binary of the product sets it (`bootstrap` too).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    command: fulfil::cli::Command,
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let service = format!("fulfil-{}", matches.subcommand_name().unwrap_or("cli"));
    let _telemetry = telemetry::init(cli.log_format, &service);
    match run(cli.command).await {
        Ok(code) => code,
        // As Rust prints an error returned from `main`: the message, then its causes. No
        // message holds a secret: settings show URLs redacted.
        Err(error) => {
            eprintln!("Error: {error:?}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: fulfil::cli::Command) -> anyhow::Result<ExitCode> {
    // Failpoints named in FAILPOINTS or FAIL_POINTS (fault-test builds only; inert otherwise).
    let _failpoints = fulfil::failpoint::setup().map_err(anyhow::Error::msg)?;
    command.run().await
}
