//! `fulfil-bench stock --quick` (and `e2e`, `scale`), in-process against the real PostgreSQL and Redis: every run
//! of every path (ours, both baselines, the ceiling) passes its correctness check, the seed
//! case serves exactly half, and the report has every cell. No timing is asserted:
//! performance is measured by `./dev bench`, not by tests.

use fulfil::config;
use fulfil::db::Database;
use fulfil_bench::report::{Cell, PathResult};
use fulfil_bench::workload::Shape;
use fulfil_bench::{Options, Path, Services};

use crate::harness;

fn services() -> Services {
    let url = |kind| {
        config::validate_postgres_url("test", &harness::database_url(kind)).expect("database URL")
    };
    Services {
        write_database_url: url(Database::Write),
        read_database_url: url(Database::Read),
        redis_url: config::validate_redis_url("test", &harness::redis_url()).expect("Redis URL"),
        aws: harness::aws_settings(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_stock_scenario_decides_every_order_correctly_on_every_path() {
    harness::redis().await;
    let options = Options::new(None, None, true);
    let stock = fulfil_bench::run_stock(&services(), &options)
        .await
        .expect("the stock scenario runs");

    let cells: Vec<(Shape, usize)> = stock
        .cells
        .iter()
        .map(|c| (c.workload.shape, c.receivers))
        .collect();
    assert_eq!(
        cells,
        vec![
            (Shape::HotProduct, 4),
            (Shape::HotProduct, 16),
            (Shape::HotProduct, 64),
            (Shape::ManyProducts, 4),
            (Shape::ManyProducts, 16),
            (Shape::ManyProducts, 64),
            (Shape::SeedCase, 16),
        ]
    );
    for cell in &stock.cells {
        let seed_case = cell.workload.shape == Shape::SeedCase;
        let paths: Vec<&str> = cell.paths.iter().map(|p| p.path.label()).collect();
        let expected: &[&str] = match seed_case {
            true => &["ours", "(a) redis lock", "(b) for update"],
            false => &["ours", "(a) redis lock", "(b) for update", "(c) ceiling"],
        };
        assert_eq!(paths, expected, "{}", cell.label);
        assert!(cell.ours_vs_a.is_some() && cell.ours_vs_b.is_some());
        assert_eq!(cell.ours_of_ceiling.is_some(), !seed_case);
        for path in &cell.paths {
            check_path(cell, path, &options);
        }
    }
}

/// Every run passed its check and decided every order; ours and the ceiling report their
/// groups; a sell-out where the path decides order by order.
fn check_path(cell: &Cell, path: &PathResult, options: &Options) {
    assert_eq!(path.runs.len(), options.repeat);
    let grouped = matches!(path.path, Path::Ours | Path::Ceiling);
    for run in &path.runs {
        let what = format!(
            "{} x {} receivers, {}",
            cell.label,
            cell.receivers,
            path.path.label()
        );
        assert!(run.check.passed, "{what}: {:?}", run.check.problems);
        assert_eq!(
            run.check.confirmed + run.check.rejected,
            cell.workload.orders as i64,
            "{what}"
        );
        assert_eq!(run.groups.is_some(), grouped, "{what}");
        // Ours may take no lock round in a run: a lease kept from the warm-up, when the run's
        // first commands are already waiting as its last unit ends, carries straight over.
        let locks_needed = path.path == Path::Ceiling;
        assert!(
            run.groups
                .is_none_or(|g| g.commits >= 1.0 && (g.lock_rounds >= 1.0 || !locks_needed)),
            "{what}: {:?}",
            run.groups
        );
        assert_eq!(
            run.group_size.is_some(),
            path.path == Path::Ceiling,
            "{what}"
        );
        match cell.workload.shape {
            Shape::HotProduct if path.path != Path::Ceiling => {
                assert_eq!(
                    run.check.confirmed, cell.workload.stock,
                    "{what}: a sell-out"
                )
            }
            Shape::SeedCase => {
                let half = cell.workload.orders as i64 / 2;
                assert_eq!(
                    (run.check.confirmed, run.check.rejected),
                    (half, half),
                    "{what}"
                );
                assert_eq!(run.check.available, Some(0), "{what}");
            }
            _ => {}
        }
    }
}

/// `fulfil-bench e2e --quick`: both ceilings measured, every rate run on FIFO and standard
/// queues with every order decided, relayed and projected, the projector DLQs empty, the
/// check clean, and the JSON naming each rate's fraction of the ceiling and lag p99. No
/// figure is judged: a quick run is a smoke run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_e2e_scenario_runs_every_rate_and_checks_the_pipeline() {
    harness::redis().await;
    let options = Options::new(None, None, true);
    let report = fulfil_bench::e2e::run(&services(), &options)
        .await
        .expect("the e2e scenario runs");

    assert!(report.quick);
    assert!(report.check.passed, "{:?}", report.check.problems);
    assert!(report.sns_publish_per_s > 0.0 && report.bare_pipeline_per_s > 0.0);
    let rates: Vec<(&str, f64)> = report
        .rates
        .iter()
        .chain(&report.standard)
        .map(|r| (r.queues, r.of_bare))
        .collect();
    assert_eq!(
        rates,
        [
            ("FIFO", 0.5),
            ("FIFO", 0.8),
            ("FIFO", 1.0),
            ("standard", 0.8)
        ]
    );
    for rate in report.rates.iter().chain(&report.standard) {
        assert!(
            rate.complete(),
            "{} {}: {rate:?}",
            rate.queues,
            rate.of_bare
        );
        assert_eq!(rate.lag_p99_by_tenth_ms.len(), 10);
    }
    assert_eq!(report.projector_dlq_fifo, Some(0));
    assert_eq!(report.projector_dlq_standard, Some(0));
    let json = serde_json::to_value(&report).expect("the report as JSON");
    for rate in json["rates"].as_array().expect("rates") {
        assert!(rate["fraction_of_ceiling"].is_f64(), "{rate}");
        assert!(rate["lag_p99_ms"].is_f64(), "{rate}");
    }
}

/// `fulfil-bench scale --quick`: every process count on both workloads, each cell's
/// backlog decided with nothing applied twice. (The bench spawns `fulfil worker` processes.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_scale_scenario_runs_every_process_count_and_applies_nothing_twice() {
    harness::redis().await;
    let options = Options::new(None, None, true);
    let cells = fulfil_bench::scale::run(&services(), &options)
        .await
        .expect("the scale scenario runs");

    let counts: Vec<usize> = cells.iter().map(|c| c.processes).collect();
    assert_eq!(counts, [1, 2, 4, 1, 2, 4]);
    for cell in &cells {
        assert!(cell.problems.is_empty(), "{cell:?}");
        assert!(cell.orders > 0 && cell.per_s > 0.0, "{cell:?}");
    }
}
