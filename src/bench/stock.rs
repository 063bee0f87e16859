//! The stock scenario: for each workload (one hot product; many products) and each
//! concurrency (4, 16 tasks), the three paths back to back in this process, repeated, each
//! run warmed up first, timed, and checked. The paths start in a rotating order so that
//! whatever the machine does over a cell (2 shared cores) falls on all of them alike.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::check::check;
use super::driver::drive;
use super::env::short_id;
use super::paths::{Contender, Path};
use super::report::{Cell, PathResult, Run, StockReport};
use super::workload::Workload;
use super::{BenchEnv, BenchError, Options};

/// The concurrencies of every workload.
pub const TASKS: [usize; 2] = [4, 16];

/// The workloads at the options' size.
pub fn workloads(options: &Options) -> [Workload; 2] {
    [
        Workload::hot_product(options.orders),
        Workload::many_products(options.products, options.orders),
    ]
}

/// Runs every cell; a run that fails its check is reported, not raised.
pub async fn run(env: &BenchEnv, options: &Options) -> Result<StockReport, BenchError> {
    let contenders: Vec<(Path, Arc<Contender>)> = Path::ALL
        .iter()
        .map(|&p| (p, Arc::new(Contender::new(p, env))))
        .collect();
    let mut cells = Vec::new();
    for workload in workloads(options) {
        for tasks in TASKS {
            cells.push(run_cell(&contenders, &workload, tasks, options).await?);
        }
    }
    Ok(StockReport { cells })
}

async fn run_cell(
    contenders: &[(Path, Arc<Contender>)],
    workload: &Workload,
    tasks: usize,
    options: &Options,
) -> Result<Cell, BenchError> {
    let mut runs: BTreeMap<usize, Vec<Run>> = BTreeMap::new();
    for rep in 0..options.repeat {
        for i in 0..contenders.len() {
            let index = (rep + i) % contenders.len();
            let (path, contender) = &contenders[index];
            let run = run_once(contender, workload, tasks, options).await?;
            eprintln!(
                "stock: {} x {tasks} tasks, run {}/{}: {:<15} {:>8.0} orders/s  p50 {:>7.1} ms  p99 {:>7.1} ms  {}{}",
                workload.label(),
                rep + 1,
                options.repeat,
                path.label(),
                run.figures.orders_per_s,
                run.figures.p50_ms,
                run.figures.p99_ms,
                if run.check.passed { "ok" } else { "FAILED" },
                run.batch_retries.map_or(String::new(), |r| format!("  ({r} batch retries)")),
            );
            runs.entry(index).or_default().push(run);
        }
    }
    let paths = runs
        .into_iter()
        .map(|(index, runs)| PathResult::new(contenders[index].0, runs))
        .collect();
    Ok(Cell::new(workload, tasks, paths))
}

/// Warm-up on products of its own, then the timed run and its check.
async fn run_once(
    contender: &Arc<Contender>,
    workload: &Workload,
    tasks: usize,
    options: &Options,
) -> Result<Run, BenchError> {
    let warm = workload
        .scaled(options.warmup)
        .generate(&format!("w{}", short_id()));
    contender.prepare(&warm).await?;
    drive(Arc::clone(contender), Arc::new(warm.orders), tasks).await?;
    let generated = workload.generate(&format!("r{}", short_id()));
    contender.prepare(&generated).await?;
    contender.take_retries();
    let orders = Arc::new(generated.orders.clone());
    let timed = drive(Arc::clone(contender), orders, tasks).await?;
    let retries = contender.take_retries();
    let tally = contender.tally(&generated).await?;
    Ok(Run::new(&timed, check(&generated, &tally), retries))
}
