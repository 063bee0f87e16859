//! Every figure a bench produced, as one serialisable value: printed as a table, written as
//! JSON under `target/bench/`. Sections are optional so a scenario that did not run (or is
//! not in this build) is simply absent, and its targets read "not measured".

use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::check::Check;
use super::e2e::E2eReport;
use super::paths::{Measured, Path};
use super::rss::RssReport;
use super::scale::Cell as ScaleCell;
use super::target::Target;
use super::workload::{Shape, Workload};
use super::{BenchError, Options};
use fulfil::worker::GroupFigures;
use fulfil_testkit::stats::{median, percentile_ms};

#[derive(Debug, Serialize)]
pub struct Report {
    pub started_at: DateTime<Utc>,
    pub machine: Machine,
    pub orders: usize,
    pub repeat: usize,
    pub warmup: usize,
    pub quick: bool,
    pub stock: Option<StockReport>,
    pub worker_rss: Option<RssReport>,
    pub e2e: Option<E2eReport>,
    /// `fulfil-bench scale`: throughput per worker-process count.
    pub scale: Option<Vec<ScaleCell>>,
    pub targets: Vec<Target>,
}

impl Report {
    pub fn new(options: &Options) -> Self {
        Self {
            started_at: Utc::now(),
            machine: Machine::here(),
            orders: options.orders,
            repeat: options.repeat,
            warmup: options.warmup,
            quick: options.quick,
            stock: None,
            worker_rss: None,
            e2e: None,
            scale: None,
            targets: Vec::new(),
        }
    }

    /// Whether every run's correctness check passed (false makes `fulfil-bench` exit 1).
    pub fn all_correct(&self) -> bool {
        let stock = self
            .stock
            .as_ref()
            .is_none_or(|s| s.cells.iter().all(Cell::passed));
        let scale = self
            .scale
            .as_ref()
            .is_none_or(|cells| cells.iter().all(|c| c.problems.is_empty()));
        stock && scale && self.e2e.as_ref().is_none_or(|e| e.check.passed)
    }

    /// Writes `dir/bench-<timestamp>.json`, creating `dir`; returns the file's path.
    pub fn write_json(&self, dir: &FsPath) -> Result<PathBuf, BenchError> {
        std::fs::create_dir_all(dir)
            .map_err(BenchError::io(format!("create {}", dir.display())))?;
        let name = format!("bench-{}.json", self.started_at.format("%Y%m%dT%H%M%SZ"));
        let path = dir.join(name);
        let json = serde_json::to_string_pretty(self).unwrap_or_default();
        std::fs::write(&path, json).map_err(BenchError::io(format!("write {}", path.display())))?;
        Ok(path)
    }
}

/// Where the figures come from.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: Option<String>,
    pub git_commit: Option<String>,
    pub build: &'static str,
}

impl Machine {
    fn here() -> Self {
        Self {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: cpu_model(),
            git_commit: git_commit(),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        }
    }
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_owned())
}

/// `git rev-parse --short HEAD`, marked `-dirty` when the tree has changes; None outside git.
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

#[derive(Debug, Serialize)]
pub struct StockReport {
    pub cells: Vec<Cell>,
}

impl StockReport {
    pub fn cell(&self, shape: Shape, receivers: usize) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.workload.shape == shape && c.receivers == receivers)
    }
}

/// One workload at one number of receivers: every path's runs, and our ratios from the
/// median orders/s: over (a), over (b), and as a fraction of the ceiling (c).
#[derive(Debug, Serialize)]
pub struct Cell {
    pub label: String,
    pub workload: Workload,
    pub receivers: usize,
    pub paths: Vec<PathResult>,
    pub ours_vs_a: Option<f64>,
    pub ours_vs_b: Option<f64>,
    pub ours_of_ceiling: Option<f64>,
}

impl Cell {
    pub fn new(workload: &Workload, receivers: usize, paths: Vec<PathResult>) -> Self {
        let ops = |p: Path| {
            paths
                .iter()
                .find(|r| r.path == p)
                .map(|r| r.orders_per_s.median)
        };
        let ratio = |base: Path| match (ops(Path::Ours), ops(base)) {
            (Some(ours), Some(theirs)) if theirs > 0.0 => Some(ours / theirs),
            _ => None,
        };
        Self {
            label: workload.label(),
            workload: workload.clone(),
            receivers,
            ours_vs_a: ratio(Path::Redisson),
            ours_vs_b: ratio(Path::ForUpdate),
            ours_of_ceiling: ratio(Path::Ceiling),
            paths,
        }
    }

    pub fn passed(&self) -> bool {
        self.paths.iter().all(|p| p.passed)
    }

    pub fn path(&self, path: Path) -> Option<&PathResult> {
        self.paths.iter().find(|p| p.path == path)
    }
}

/// The median of a figure over a cell's runs, and its range: how noisy the median is.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Self {
        Self {
            median: median(values),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// One path in one cell: every run, and the median (and range) of each figure over them.
#[derive(Debug, Serialize)]
pub struct PathResult {
    pub path: Path,
    pub orders_per_s: Spread,
    /// Until every order of the run was decided.
    pub elapsed_s: Spread,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Medians over the runs; ours and the ceiling only.
    pub groups: Option<Groups>,
    pub passed: bool,
    pub runs: Vec<Run>,
}

impl PathResult {
    pub fn new(path: Path, runs: Vec<Run>) -> Self {
        let of = |f: fn(&Run) -> f64| runs.iter().map(f).collect::<Vec<_>>();
        let groups: Vec<Groups> = runs.iter().filter_map(|r| r.groups).collect();
        Self {
            path,
            orders_per_s: Spread::of(&of(|r| r.figures.orders_per_s)),
            elapsed_s: Spread::of(&of(|r| r.elapsed_s)),
            p50_ms: median(&of(|r| r.figures.p50_ms)),
            p99_ms: median(&of(|r| r.figures.p99_ms)),
            groups: (!groups.is_empty()).then(|| Groups::median(&groups)),
            passed: runs.iter().all(|r| r.check.passed),
            runs,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Figures {
    pub orders_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// How much a path grouped in one run: orders per commit and lock rounds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Groups {
    pub commits: f64,
    pub mean_per_commit: f64,
    pub p99_per_commit: f64,
    pub lock_rounds: f64,
}

impl Groups {
    fn from_figures(figures: &GroupFigures) -> Self {
        Self {
            commits: figures.commands_per_commit.len() as f64,
            mean_per_commit: figures.mean_per_commit(),
            p99_per_commit: figures.p99_per_commit() as f64,
            lock_rounds: figures.lock_rounds as f64,
        }
    }

    fn median(runs: &[Groups]) -> Self {
        let of = |f: fn(&Groups) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        Self {
            commits: of(|g| g.commits),
            mean_per_commit: of(|g| g.mean_per_commit),
            p99_per_commit: of(|g| g.p99_per_commit),
            lock_rounds: of(|g| g.lock_rounds),
        }
    }
}

/// One timed run of one path.
#[derive(Debug, Serialize)]
pub struct Run {
    pub figures: Figures,
    pub elapsed_s: f64,
    /// Our batches handed back for another delivery (None for the others).
    pub batch_retries: Option<u64>,
    pub groups: Option<Groups>,
    /// The ceiling's N: ours' mean orders per commit in the same repetition, rounded.
    pub group_size: Option<usize>,
    pub check: Check,
}

impl Run {
    pub fn new(measured: &Measured, check: Check, group_size: Option<usize>) -> Self {
        let timed = &measured.timed;
        let secs = timed.elapsed.max(Duration::from_micros(1)).as_secs_f64();
        Self {
            figures: Figures {
                orders_per_s: timed.latencies.len() as f64 / secs,
                p50_ms: percentile_ms(&timed.latencies, 0.50),
                p99_ms: percentile_ms(&timed.latencies, 0.99),
            },
            elapsed_s: secs,
            batch_retries: measured.retries,
            groups: measured.groups.as_ref().map(Groups::from_figures),
            group_size,
            check,
        }
    }
}
