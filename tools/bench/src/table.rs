//! The report as text for a terminal (and for the README's Performance section).

use std::fmt::Write;

use super::report::{Cell, Report, StockReport};
use super::workload::Shape;

pub(super) fn render(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let _ = writeln!(
        out,
        "fulfil-bench: {} build, {} CPUs ({}), commit {}",
        m.build,
        m.nproc,
        m.cpu.as_deref().unwrap_or("unknown CPU"),
        m.git_commit.as_deref().unwrap_or("unknown"),
    );
    if let Some(stock) = &report.stock {
        render_stock(&mut out, report, stock);
    }
    if let Some(rss) = &report.worker_rss {
        let _ = writeln!(
            out,
            "\nworker under load: peak RSS {:.1} MiB ({} orders through SNS/SQS, concurrency {}, drained at {:.0} commands/s)",
            rss.peak_rss_mib, rss.orders, rss.worker_concurrency, rss.commands_per_s
        );
    }
    if let Some(e) = &report.e2e {
        super::e2e_table::render(&mut out, e);
    }
    if let Some(cells) = &report.scale {
        out += &super::scale::render(cells);
    }
    render_targets(&mut out, report);
    render_failures(&mut out, report);
    out
}

fn render_stock(out: &mut String, report: &Report, stock: &StockReport) {
    let _ = writeln!(
        out,
        "\nstock scenario: {} orders per run, median of {} run(s) with their range (min-max), warm-up {} orders\n",
        report.orders, report.repeat, report.warmup
    );
    let _ = writeln!(
        out,
        "{:<28} {:>4}  {:<15} {:>8} {:>11} {:>8} {:>12} {:>6} {:>6} {:>6} {:>6}  check",
        "workload",
        "recv",
        "path",
        "orders/s",
        "min-max",
        "p99 ms",
        "per commit",
        "locks",
        "vs (a)",
        "vs (b)",
        "of (c)"
    );
    let (seed, cells): (Vec<&Cell>, Vec<&Cell>) = stock
        .cells
        .iter()
        .partition(|c| c.workload.shape == Shape::SeedCase);
    for cell in cells {
        render_cell(out, cell);
    }
    let _ = writeln!(out, "{STOCK_NOTES}");
    for cell in seed {
        render_seed_case(out, cell);
    }
}

/// What the columns and paths are, under the table.
const STOCK_NOTES: &str = "
  recv: concurrent receivers. ours: Worker::process, each receiver handing over receives of 10
  bodies; (a) and (b) take one order per call from as many receivers. per commit: orders per
  commit, mean / p99; locks: lock rounds (ours: the worker's figures; (c): its groups).
  (c) ceiling: per group of N orders of one product, one Redis lock round (SET NX PX, release)
  and one transaction (guarded UPDATE, one INSERT of N rows); N = ours' mean orders per commit
  in the same repetition (ours runs first); each product's groups in one loop, products over
  as many loops as receivers, so (c) never waits for a lock. of (c) = ours / (c).";

fn render_cell(out: &mut String, cell: &Cell) {
    let times = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}x"));
    let percent =
        |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{:.0}%", r * 100.0));
    for (i, p) in cell.paths.iter().enumerate() {
        let first = i == 0;
        let shown = |s: String| if first { s } else { String::new() };
        let groups = p.groups.map_or((String::new(), String::new()), |g| {
            let per_commit = format!("{:.1} / {:.0}", g.mean_per_commit, g.p99_per_commit);
            (per_commit, format!("{:.0}", g.lock_rounds))
        });
        let _ = writeln!(
            out,
            "{:<28} {:>4}  {:<15} {:>8.0} {:>11} {:>8.1} {:>12} {:>6} {:>6} {:>6} {:>6}  {}",
            shown(cell.label.clone()),
            shown(cell.receivers.to_string()),
            p.path.label(),
            p.orders_per_s.median,
            format!("{:.0}-{:.0}", p.orders_per_s.min, p.orders_per_s.max),
            p.p99_ms,
            groups.0,
            groups.1,
            shown(times(cell.ours_vs_a)),
            shown(times(cell.ours_vs_b)),
            shown(percent(cell.ours_of_ceiling)),
            verdict(p.passed),
        );
    }
}

fn render_seed_case(out: &mut String, cell: &Cell) {
    let _ = writeln!(
        out,
        "\n{}, {} receivers: time until every order is decided\n",
        cell.label, cell.receivers
    );
    let _ = writeln!(
        out,
        "  {:<15} {:>10} {:>11} {:>8}  check (last run)",
        "path", "decided in", "min-max", "orders/s"
    );
    for p in &cell.paths {
        let last = p.runs.last().map(|r| &r.check);
        let counts = last.map_or(String::new(), |c| {
            let available = c
                .available
                .map_or(String::new(), |a| format!(", available {a}"));
            format!(
                ": {} confirmed, {} rejected{available}",
                c.confirmed, c.rejected
            )
        });
        let _ = writeln!(
            out,
            "  {:<15} {:>8.3} s {:>11} {:>8.0}  {}{counts}",
            p.path.label(),
            p.elapsed_s.median,
            format!("{:.2}-{:.2}", p.elapsed_s.min, p.elapsed_s.max),
            p.orders_per_s.median,
            verdict(p.passed),
        );
    }
    let _ = writeln!(
        out,
        "  reference, the seed article on its author's machine: 5 s with an X-lock (SELECT ... FOR UPDATE),\n  3.5 s with Redisson."
    );
}

fn verdict(passed: bool) -> &'static str {
    match passed {
        true => "ok",
        false => "FAILED",
    }
}

fn render_targets(out: &mut String, report: &Report) {
    let _ = writeln!(out, "\ntargets");
    for t in &report.targets {
        let verdict = match t.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        let digits = if t.unit == " s" { 2 } else { 1 };
        let measured = match (t.measured, t.met) {
            (None, _) => "not measured".to_owned(),
            (Some(v), None) => format!("measured {v:.digits$}{} (not judged at this size)", t.unit),
            (Some(v), Some(_)) => format!("measured {v:.digits$}{}", t.unit),
        };
        let _ = writeln!(
            out,
            "  {verdict:<7} {:<55} {:<24} {measured}",
            t.name, t.goal
        );
    }
}

/// Every failed check, last and in capitals: a fast wrong answer must not go unnoticed.
fn render_failures(out: &mut String, report: &Report) {
    let mut failed = Vec::new();
    for cell in report.stock.iter().flat_map(|s| &s.cells) {
        for p in &cell.paths {
            for (i, run) in p.runs.iter().enumerate().filter(|(_, r)| !r.check.passed) {
                failed.push(format!(
                    "{} x {} receivers, {}, run {}: {}",
                    cell.label,
                    cell.receivers,
                    p.path.label(),
                    i + 1,
                    run.check.problems.join("; ")
                ));
            }
        }
    }
    if let Some(e) = report.e2e.as_ref().filter(|e| !e.check.passed) {
        failed.push(format!("e2e: {}", e.check.problems.join("; ")));
    }
    if !failed.is_empty() {
        let _ = writeln!(out, "\nCORRECTNESS CHECK FAILED ({} run(s)):", failed.len());
        for line in failed {
            let _ = writeln!(out, "  {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::check::Check;
    use crate::driver::Timed;
    use crate::paths::{Measured, Path};
    use crate::report::{PathResult, Run};
    use crate::workload::Workload;
    use crate::Options;

    fn run(passed: bool) -> Run {
        let measured = Measured {
            timed: Timed {
                elapsed: Duration::from_secs(1),
                latencies: vec![Duration::from_millis(5); 30],
            },
            groups: None,
            retries: None,
        };
        let check = Check {
            passed,
            confirmed: 21,
            rejected: 9,
            available: Some(-1),
            problems: vec!["t-p0: available -1 < 0".into()],
        };
        Run::new(&measured, check, None)
    }

    #[test]
    fn a_failed_check_fails_the_report_and_is_listed_last() {
        let mut report = Report::new(&Options::new(Some(30), Some(2), true));
        let runs = vec![run(true), run(false)];
        let paths = vec![PathResult::new(Path::Redisson, runs)];
        let cell = Cell::new(&Workload::hot_product(30), 16, paths);
        report.stock = Some(StockReport { cells: vec![cell] });

        assert!(!report.all_correct());
        let text = render(&report);
        let tail = text.rsplit("CORRECTNESS CHECK FAILED").next().unwrap_or("");
        assert!(
            text.contains("CORRECTNESS CHECK FAILED (1 run(s)):"),
            "{text}"
        );
        assert!(
            tail.contains("(a) redis lock, run 2: t-p0: available -1 < 0"),
            "{tail}"
        );
    }
}
