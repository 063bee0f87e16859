//! `chaos`: the soak behind `./dev chaos`. On the stack its environment names (`./dev
//! chaos` starts a private one and passes it on), it sets up a topology and databases of its
//! own, starts two workers, a relay and a projector as `fulfil` processes, and for the given
//! minutes publishes seeded load while a seeded schedule of faults runs (processes killed,
//! paused, restarted with failpoints; PostgreSQL, Redis and LocalStack broken). Then it heals
//! everything, waits for the drain, runs the invariant checker and prints the report.
//! Exit 1 when an invariant broke (a valid command in the commands DLQ or anything in the
//! projector DLQ included), the drain did not finish, or fewer faults (or kinds of fault)
//! were injected than `--min-faults` / `--min-kinds` ask.

mod bodies;
mod clues;
mod faults;
mod load;
mod procs;
mod report;
mod schedule;
mod services;
mod stack;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use fulfil_testkit::check::{self, published};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "chaos",
    about = "The fulfil chaos soak (run it with ./dev chaos)"
)]
struct Args {
    /// Minutes of load and faults (the drain and the check come after).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Seed of the fault schedule and the load; random when absent (the report names it).
    #[arg(long)]
    seed: Option<u64>,
    /// Where the published list, the process logs, the schedule and the report go.
    #[arg(long)]
    dir: PathBuf,
    /// Standard topics and queues instead of FIFO ones.
    #[arg(long)]
    standard: bool,
    /// Longest wait for the drain, in minutes.
    #[arg(long, default_value_t = 10.0)]
    drain_minutes: f64,
    /// Faults the soak must inject; a short soak's schedule is packed tighter to hold them.
    #[arg(long, default_value_t = 0)]
    min_faults: usize,
    /// Kinds of fault it must inject (kill, pause, failpoint, PostgreSQL crash, Redis
    /// flush, Redis pause, Redis kill, LocalStack pause).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=schedule::CLASSES as i64))]
    min_kinds: u8,
}

impl Args {
    fn minimum(&self) -> schedule::Minimum {
        schedule::Minimum {
            faults: self.min_faults,
            kinds: self.min_kinds.into(),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(rand::random);
    let length = Duration::from_secs_f64(args.minutes * 60.0);
    let steps = schedule::plan(seed, length, args.minimum());
    let listing: String = steps
        .iter()
        .map(|s| format!("{:>8.1} s  {}\n", s.at.as_secs_f64(), s.fault))
        .collect();
    println!(
        "chaos: seed {seed}, {} faults of {} kinds scheduled over {} min (minimum {} of {} kinds):\n{listing}",
        steps.len(),
        schedule::kinds(&steps),
        args.minutes,
        args.min_faults,
        args.min_kinds
    );
    // Each soak's logs are its own: the report quotes them.
    let _none_yet = std::fs::remove_dir_all(args.dir.join("logs"));
    std::fs::create_dir_all(args.dir.join("logs"))?;
    std::fs::write(args.dir.join("schedule.txt"), &listing)?;

    let stack = stack::Stack::prepare(seed, !args.standard, &args.dir).await?;
    let soak = tokio::select! {
        soak = run(&args, seed, &stack, &steps) => soak?,
        _ = tokio::signal::ctrl_c() => {
            stack.services.heal().await;
            anyhow::bail!("interrupted");
        }
    };
    let clues = clues::for_violations(&soak.check, &args.dir.join("logs"));
    let report = format!("{soak}\n{clues}");
    println!("{report}");
    std::fs::write(args.dir.join("report.txt"), report)?;
    if !soak.is_clean() {
        std::process::exit(1);
    }
    Ok(())
}

async fn run(
    args: &Args,
    seed: u64,
    stack: &stack::Stack,
    steps: &[schedule::Step],
) -> anyhow::Result<report::Soak> {
    let procs = procs::Procs::start(stack.launch(&args.dir)?);
    let supervising = CancellationToken::new();
    tokio::spawn(supervise(procs.clone(), supervising.clone()));
    let list = std::fs::File::create(args.dir.join("published.jsonl"))?;
    let mut load = load::Load::new(stack.publisher().await?, list, stack.write.clone(), seed);
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(args.minutes * 60.0);
    let (loaded, injected) = tokio::join!(
        load.run(until),
        faults::run(steps, &procs, &stack.services, started)
    );
    loaded.context("the load failed")?;
    eprintln!(
        "chaos: load and faults done ({} published); healing and draining",
        load.published
    );
    stack.services.heal().await;
    procs.heal();
    let drained = check::drain::wait(
        &stack.sources(),
        Duration::from_secs_f64(args.drain_minutes * 60.0),
    )
    .await?;
    let text = std::fs::read_to_string(args.dir.join("published.jsonl"))?;
    // The soak plants no poison: its invalid bodies are kept as invalid, never dead-lettered.
    let planted = check::Planted::none();
    let check = check::run(&stack.sources(), &published::parse(&text), &planted).await?;
    supervising.cancel();
    procs.stop(Duration::from_secs(30)).await;
    Ok(report::Soak {
        seed,
        minutes: args.minutes,
        fifo: !args.standard,
        minimum: args.minimum(),
        injected,
        seen: procs.seen(),
        drained,
        check,
    })
}

async fn supervise(procs: procs::Procs, done: CancellationToken) {
    while !done.is_cancelled() {
        procs.supervise();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
