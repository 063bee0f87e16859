//! `fulfil-bench [stock|e2e|all] [--orders N] [--repeat R] [--quick]` (what `./dev bench`
//! runs): the table on stdout, the JSON under `target/bench/`. Exit 1 when any run failed its
//! correctness check, whatever its speed.

use std::process::ExitCode;

use clap::Parser;
use fulfil::telemetry::{self, LogFormat};
use fulfil_bench::BenchArgs;

/// The product's allocator (`src/main.rs` says why): every path measured here runs in this
/// process, so each gets the one the product ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Benchmarks against the real services: our path versus the baselines, worker RSS, the
/// pipeline end to end.
#[derive(Debug, Parser)]
#[command(name = "fulfil-bench", version)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _telemetry = telemetry::init(LogFormat::Text, "fulfil-bench");
    match fulfil_bench::run_cli(cli.args).await {
        Ok(report) if report.all_correct() => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("fulfil-bench: a run FAILED its correctness check (see the table)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("fulfil-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
