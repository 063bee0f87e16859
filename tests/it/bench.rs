//! `fulfil bench stock --quick`, in-process against the real PostgreSQL and Redis: every run
//! of every path passes its correctness check and the report has every cell. No timing is
//! asserted: performance is measured by `./dev bench`, not by tests.

use fulfil::bench::workload::Shape;
use fulfil::bench::{Options, Services};
use fulfil::config;
use fulfil::db::Database;

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
    let stock = fulfil::bench::run_stock(&services(), &options)
        .await
        .expect("the stock scenario runs");

    let cells: Vec<(Shape, usize)> = stock
        .cells
        .iter()
        .map(|c| (c.workload.shape, c.tasks))
        .collect();
    assert_eq!(
        cells,
        vec![
            (Shape::HotProduct, 4),
            (Shape::HotProduct, 16),
            (Shape::ManyProducts, 4),
            (Shape::ManyProducts, 16),
        ]
    );
    for cell in &stock.cells {
        let paths: Vec<String> = cell.paths.iter().map(|p| p.path.label().into()).collect();
        assert_eq!(
            paths,
            ["coalesced", "(a) redis lock", "(b) for update"],
            "{}",
            cell.label
        );
        assert!(cell.coalesced_vs_a.is_some() && cell.coalesced_vs_b.is_some());
        for path in &cell.paths {
            assert_eq!(path.runs.len(), options.repeat);
            for run in &path.runs {
                let what = format!(
                    "{} x {} tasks, {}",
                    cell.label,
                    cell.tasks,
                    path.path.label()
                );
                assert!(run.check.passed, "{what}: {:?}", run.check.problems);
                assert_eq!(
                    run.check.confirmed + run.check.rejected,
                    options.orders as i64,
                    "{what}"
                );
                if cell.workload.shape == Shape::HotProduct {
                    assert_eq!(
                        run.check.confirmed, cell.workload.stock,
                        "{what}: a sell-out"
                    );
                }
            }
        }
    }
}
