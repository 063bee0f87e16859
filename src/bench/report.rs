//! Every figure a bench produced, as one serialisable value: printed as a table, written as
//! JSON under `target/bench/`. Sections are optional so a scenario that did not run (or is
//! not in this build) is simply absent, and its targets read "not measured".

use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::check::Check;
use super::driver::Timed;
use super::e2e::E2eReport;
use super::paths::Path;
use super::rss::RssReport;
use super::stats::{median, percentile_ms};
use super::targets::Target;
use super::workload::{Shape, Workload};
use super::{BenchError, Options};

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
            targets: Vec::new(),
        }
    }

    /// Whether every run's correctness check passed (false makes `fulfil bench` exit 1).
    pub fn all_correct(&self) -> bool {
        let stock = self
            .stock
            .as_ref()
            .is_none_or(|s| s.cells.iter().all(Cell::passed));
        stock && self.e2e.as_ref().is_none_or(|e| e.check.passed)
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
    pub fn cell(&self, shape: Shape, tasks: usize) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.workload.shape == shape && c.tasks == tasks)
    }
}

/// One workload at one concurrency: every path's runs and medians, and our ratios.
#[derive(Debug, Serialize)]
pub struct Cell {
    pub label: String,
    pub workload: Workload,
    pub tasks: usize,
    pub paths: Vec<PathResult>,
    /// Median orders/s of ours over baseline (a), and over baseline (b).
    pub coalesced_vs_a: Option<f64>,
    pub coalesced_vs_b: Option<f64>,
}

impl Cell {
    pub fn new(workload: &Workload, tasks: usize, paths: Vec<PathResult>) -> Self {
        let ops = |p: Path| {
            paths
                .iter()
                .find(|r| r.path == p)
                .map(|r| r.median.orders_per_s)
        };
        let ratio = |base: Path| match (ops(Path::Coalesced), ops(base)) {
            (Some(ours), Some(theirs)) if theirs > 0.0 => Some(ours / theirs),
            _ => None,
        };
        Self {
            label: workload.label(),
            workload: workload.clone(),
            tasks,
            coalesced_vs_a: ratio(Path::Redisson),
            coalesced_vs_b: ratio(Path::ForUpdate),
            paths,
        }
    }

    pub fn passed(&self) -> bool {
        self.paths.iter().all(|p| p.passed)
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Figures {
    pub orders_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One path in one cell: every run and the median of each figure over the runs.
#[derive(Debug, Serialize)]
pub struct PathResult {
    pub path: Path,
    pub median: Figures,
    pub passed: bool,
    pub runs: Vec<Run>,
}

impl PathResult {
    pub fn new(path: Path, runs: Vec<Run>) -> Self {
        let of = |f: fn(&Figures) -> f64| {
            median(&runs.iter().map(|r| f(&r.figures)).collect::<Vec<_>>())
        };
        Self {
            path,
            median: Figures {
                orders_per_s: of(|f| f.orders_per_s),
                p50_ms: of(|f| f.p50_ms),
                p99_ms: of(|f| f.p99_ms),
            },
            passed: runs.iter().all(|r| r.check.passed),
            runs,
        }
    }
}

/// One timed run of one path.
#[derive(Debug, Serialize)]
pub struct Run {
    pub figures: Figures,
    pub elapsed_s: f64,
    /// Our batches handed back for another delivery (None for the baselines).
    pub batch_retries: Option<u64>,
    pub check: Check,
}

impl Run {
    pub fn new(timed: &Timed, check: Check, batch_retries: Option<u64>) -> Self {
        let secs = timed.elapsed.max(Duration::from_micros(1)).as_secs_f64();
        Self {
            figures: Figures {
                orders_per_s: timed.latencies.len() as f64 / secs,
                p50_ms: percentile_ms(&timed.latencies, 0.50),
                p99_ms: percentile_ms(&timed.latencies, 0.99),
            },
            elapsed_s: secs,
            batch_retries,
            check,
        }
    }
}
