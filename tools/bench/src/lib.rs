//! `fulfil-bench`: the product's claim measured side by side. The `stock` scenario feeds the
//! stock-decrement stage in-process with the same pre-generated orders from the same number
//! of concurrent receivers to our path (`Worker::process`, as the consumer calls it) and to
//! two baselines that exist only here (a Redisson-style per-order lock, a PostgreSQL
//! `SELECT … FOR UPDATE` per order), puts ours against a bare "lock + one transaction of N
//! rows" ceiling, times the seed article's sale, checks every run's outcome, and measures the
//! peak RSS of a `fulfil worker` process under load. The `e2e` scenario runs the whole
//! pipeline as processes against LocalStack's own ceiling. Everything runs in a database,
//! Redis key prefix and topology of the bench's own; nothing outside `tools/bench/` uses the
//! baselines or the ceiling.

mod bare_pipeline;
mod ceiling;
mod check;
mod cli;
mod driver;
pub mod e2e;
mod e2e_check;
pub mod e2e_report;
mod e2e_roles;
mod e2e_table;
mod e2e_targets;
mod env;
mod error;
mod lag;
mod open_loop;
mod paths;
mod process;
mod profile;
mod queues;
pub mod report;
mod rss;
pub mod scale;
mod stack;
pub mod stock;
mod table;
mod target;
mod targets;
pub mod workload;

pub use cli::{run, run_cli, run_stock, BenchArgs, Scenario};
pub use env::{BenchEnv, Services};
pub use error::BenchError;
pub use paths::Path;
pub use report::Report;

/// How big and how often: from the command line, or `quick` for the test.
#[derive(Debug, Clone)]
pub struct Options {
    /// Orders per timed run.
    pub orders: usize,
    /// Runs of each cell; the report shows their median.
    pub repeat: usize,
    /// Orders of the untimed warm-up before each run.
    pub warmup: usize,
    /// Products of the "many products" workload (stock 10 each).
    pub products: usize,
    /// Buyers of the seed case (1000 is the seed article's; fewer only for a smoke run).
    pub seed_case_buyers: usize,
    /// Orders published to the worker whose peak RSS is measured.
    pub rss_orders: usize,
    pub quick: bool,
}

impl Options {
    pub fn new(orders: Option<usize>, repeat: Option<usize>, quick: bool) -> Self {
        let base = if quick {
            Self {
                orders: 60,
                repeat: 1,
                warmup: 20,
                products: 20,
                seed_case_buyers: 100,
                rss_orders: 200,
                quick,
            }
        } else {
            Self {
                orders: 3000,
                repeat: 3,
                warmup: 200,
                products: 1000,
                seed_case_buyers: 1000,
                rss_orders: 5000,
                quick,
            }
        };
        Self {
            orders: orders.unwrap_or(base.orders).max(10),
            repeat: repeat.unwrap_or(base.repeat).max(1),
            ..base
        }
    }
}
