//! The report as text for a terminal (and for the README's Performance section).

use std::fmt::Write;

use super::report::{Cell, Report};

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let _ = writeln!(
        out,
        "fulfil bench: {} build, {} CPUs ({}), commit {}",
        m.build,
        m.nproc,
        m.cpu.as_deref().unwrap_or("unknown CPU"),
        m.git_commit.as_deref().unwrap_or("unknown"),
    );
    if let Some(stock) = &report.stock {
        let _ = writeln!(
            out,
            "\nstock scenario: {} orders of 1 unit per run, median of {} run(s), warm-up {} orders\n",
            report.orders, report.repeat, report.warmup
        );
        let _ = writeln!(
            out,
            "{:<28} {:>5}  {:<15} {:>9} {:>8} {:>8} {:>7} {:>7}  check",
            "workload", "tasks", "path", "orders/s", "p50 ms", "p99 ms", "vs (a)", "vs (b)"
        );
        for cell in &stock.cells {
            render_cell(&mut out, cell);
        }
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
    render_targets(&mut out, report);
    out
}

fn render_cell(out: &mut String, cell: &Cell) {
    let times = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}x"));
    for (i, p) in cell.paths.iter().enumerate() {
        let (label, tasks, vs_a, vs_b) = match i {
            0 => (
                cell.label.as_str(),
                cell.tasks.to_string(),
                times(cell.coalesced_vs_a),
                times(cell.coalesced_vs_b),
            ),
            _ => ("", String::new(), String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "{:<28} {:>5}  {:<15} {:>9.0} {:>8.1} {:>8.1} {:>7} {:>7}  {}",
            label,
            tasks,
            p.path.label(),
            p.median.orders_per_s,
            p.median.p50_ms,
            p.median.p99_ms,
            vs_a,
            vs_b,
            if p.passed { "ok" } else { "FAILED" }
        );
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
        let measured = t.measured.map_or_else(
            || "not measured".to_owned(),
            |v| format!("measured {v:.1}{}", t.unit),
        );
        let _ = writeln!(
            out,
            "  {verdict:<7} {:<55} {:<18} {measured}",
            t.name, t.goal
        );
    }
}
