//! The stock scenario: for each workload (one hot product; many products) and each number of
//! concurrent receivers (4, 16, 64), every path back to back in this process, repeated, each
//! run warmed up first, timed, and checked; then the seed case (the seed article's sale) on
//! ours and the two baselines. In each repetition ours runs first, because the ceiling's N is
//! ours' mean orders per commit in that same repetition; the other paths follow in a rotating
//! order so that whatever the machine does over a cell (2 shared cores) falls on all alike.

use std::collections::BTreeMap;

use super::check::check;
use super::env::short_id;
use super::paths::{Contender, Path};
use super::report::{Cell, PathResult, Run, StockReport};
use super::workload::Workload;
use super::{BenchEnv, BenchError, Options};

/// The concurrent receivers of every workload.
pub const RECEIVERS: [usize; 3] = [4, 16, 64];
/// The seed case runs at the receivers of the main targets.
pub const SEED_CASE_RECEIVERS: usize = 16;

/// The workloads at the options' size.
pub fn workloads(options: &Options) -> [Workload; 2] {
    [
        Workload::hot_product(options.orders),
        Workload::many_products(options.products, options.orders),
    ]
}

/// Every path, built once.
struct Contenders(Vec<(Path, Contender)>);

impl Contenders {
    fn new(env: &BenchEnv) -> Self {
        Self(
            Path::ALL
                .iter()
                .map(|&p| (p, Contender::new(p, env)))
                .collect(),
        )
    }

    fn get(&self, path: Path) -> &Contender {
        let (_, contender) = self
            .0
            .iter()
            .find(|(p, _)| *p == path)
            .expect("every path is built");
        contender
    }
}

/// Runs every cell; a run that fails its check is reported, not raised.
pub async fn run(env: &BenchEnv, options: &Options) -> Result<StockReport, BenchError> {
    let contenders = Contenders::new(env);
    let mut cells = Vec::new();
    for workload in workloads(options) {
        for receivers in RECEIVERS {
            let cell = run_cell(&contenders, &workload, receivers, &Path::ALL, options);
            cells.push(cell.await?);
        }
    }
    let seed_case = Workload::seed_case(options.seed_case_buyers);
    let cell = run_cell(
        &contenders,
        &seed_case,
        SEED_CASE_RECEIVERS,
        &Path::SEED_CASE,
        options,
    );
    cells.push(cell.await?);
    Ok(StockReport { cells })
}

async fn run_cell(
    contenders: &Contenders,
    workload: &Workload,
    receivers: usize,
    paths: &[Path],
    options: &Options,
) -> Result<Cell, BenchError> {
    let mut runs: BTreeMap<Path, Vec<Run>> = BTreeMap::new();
    for rep in 0..options.repeat {
        let mut group_size = 1;
        for path in running_order(paths, rep) {
            let size = (path == Path::Ceiling).then_some(group_size);
            let run = run_once(contenders.get(path), workload, receivers, size, options).await?;
            if let Some(groups) = run.groups.filter(|_| path == Path::Ours) {
                group_size = (groups.mean_per_commit.round() as usize).max(1);
            }
            log_run(workload, receivers, rep, options, path, &run);
            runs.entry(path).or_default().push(run);
        }
    }
    let results = paths
        .iter()
        .map(|p| PathResult::new(*p, runs.remove(p).unwrap_or_default()))
        .collect();
    Ok(Cell::new(workload, receivers, results))
}

/// The first path (ours) first, the rest rotated by the repetition.
fn running_order(paths: &[Path], rep: usize) -> Vec<Path> {
    let Some((first, rest)) = paths.split_first() else {
        return Vec::new();
    };
    let mut rest = rest.to_vec();
    let n = rest.len();
    if n > 0 {
        rest.rotate_left(rep % n);
    }
    std::iter::once(*first).chain(rest).collect()
}

/// Warm-up on products of its own, then the timed run and its check. `group_size` is the
/// ceiling's N (None for the others).
async fn run_once(
    contender: &Contender,
    workload: &Workload,
    receivers: usize,
    group_size: Option<usize>,
    options: &Options,
) -> Result<Run, BenchError> {
    let size = group_size.unwrap_or(1);
    let warm = workload
        .scaled(options.warmup)
        .generate(&format!("w{}", short_id()));
    contender.prepare(&warm).await?;
    contender.run(&warm, receivers, size).await?;
    let generated = workload.generate(&format!("r{}", short_id()));
    contender.prepare(&generated).await?;
    let measured = contender.run(&generated, receivers, size).await?;
    let tally = contender.tally(&generated).await?;
    let verdict = check(&generated, contender.expected(&generated, size), &tally);
    Ok(Run::new(&measured, verdict, group_size))
}

/// One line per run on stderr, so a long bench shows where it is.
fn log_run(
    workload: &Workload,
    receivers: usize,
    rep: usize,
    options: &Options,
    path: Path,
    run: &Run,
) {
    let groups = run.groups.map_or(String::new(), |g| {
        format!(
            "  {:.1} orders/commit (p99 {:.0}), {:.0} lock rounds",
            g.mean_per_commit, g.p99_per_commit, g.lock_rounds
        )
    });
    let retries = run
        .batch_retries
        .filter(|r| *r > 0)
        .map_or(String::new(), |r| format!("  ({r} batch retries)"));
    let verdict = match run.check.passed {
        true => "ok".to_owned(),
        false => format!("FAILED: {}", run.check.problems.join("; ")),
    };
    eprintln!(
        "stock: {} x {receivers} receivers, run {}/{}: {:<15} {:>8.0} orders/s in {:.2} s  p99 {:>7.1} ms{groups}{retries}  {verdict}",
        workload.label(),
        rep + 1,
        options.repeat,
        path.label(),
        run.figures.orders_per_s,
        run.elapsed_s,
        run.figures.p99_ms,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_always_runs_first_and_the_others_rotate() {
        let order = |rep| running_order(&Path::ALL, rep);
        assert_eq!(order(0), Path::ALL);
        assert_eq!(
            order(1),
            [Path::Ours, Path::ForUpdate, Path::Ceiling, Path::Redisson]
        );
        assert_eq!(order(3), Path::ALL);
    }
}
