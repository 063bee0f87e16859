//! The scale scenario: does throughput grow with worker processes? For 1, 2 and 4 `fulfil
//! worker` processes, each cell on a stack of its own (FIFO queues, the production shape):
//! the products are restocked in-process, the whole backlog of orders is published into the
//! commands queue, then the workers are started all at once; the rate is the backlog over
//! the time from that start (their start-up, about half a second, included) until its last
//! order was decided. Two workloads: one hot
//! product (a sale of `orders` buyers on two thirds as much stock) and a spread one (a
//! product for every three buyers, two units each, so 1000 products at 3000 orders). After
//! each cell the write database must show nothing applied twice: one inbox row per command,
//! one order per buyer, every product's stock balanced, exactly the sell-out confirmed.

use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use super::e2e::restock;
use super::env::{connect_redis, Services};
use super::process::RoleProcess;
use super::stack::Stack;
use super::{BenchError, Options};
use fulfil::queue::publisher::Outgoing;
use fulfil_testkit::scenario::FlashSale;

/// Worker processes per cell.
pub const PROCESSES: [usize; 3] = [1, 2, 4];
/// Longest wait for a cell's backlog to be decided.
const DRAIN: Duration = Duration::from_secs(300);

/// One workload's restocks, orders and what the check expects of them.
struct Load {
    name: &'static str,
    restocks: Vec<String>,
    orders: Vec<Outgoing>,
    confirmed: i64,
    stock: i64,
}

impl Load {
    /// One product, `orders` buyers of one unit, stock for two thirds of them.
    fn hot(orders: usize) -> Self {
        let buyers = orders as u32;
        Self::of("one hot product", &[sale(0, buyers, buyers * 2 / 3)])
    }

    /// A product for every three buyers, stock 2 each: two confirmed, one rejected.
    fn spread(orders: usize) -> Self {
        let products = (orders / 3).max(1);
        let sales: Vec<FlashSale> = (0..products).map(|i| sale(i + 1, 3, 2)).collect();
        Self::of("spread (a product per 3 buyers)", &sales)
    }

    fn of(name: &'static str, sales: &[FlashSale]) -> Self {
        let messages: Vec<_> = sales.iter().map(FlashSale::messages).collect();
        Self {
            name,
            restocks: messages.iter().map(|m| m.restock.body.clone()).collect(),
            orders: messages.into_iter().flat_map(|m| m.orders).collect(),
            confirmed: sales.iter().map(|s| i64::from(s.stock.min(s.buyers))).sum(),
            stock: sales.iter().map(|s| i64::from(s.stock)).sum(),
        }
    }

    /// Commands the workers must decide: every restock (decided in-process) and order.
    fn commands(&self) -> i64 {
        (self.restocks.len() + self.orders.len()) as i64
    }
}

/// Sale `index` (its own product and ids): `buyers` of one unit on `stock`.
fn sale(index: usize, buyers: u32, stock: u32) -> FlashSale {
    FlashSale {
        product_id: format!("scale-p{index}"),
        stock,
        buyers,
        units: 1,
        duplicates: 0.0,
        invalid: 0,
        seed: 7_000 + index as u64,
    }
}

/// One cell's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cell {
    pub workload: &'static str,
    pub processes: usize,
    pub orders: usize,
    pub seconds: f64,
    pub per_s: f64,
    /// Empty when nothing was applied twice and the stock balances; else what was wrong.
    pub problems: Vec<String>,
}

/// Every cell, both workloads; prints the table as it goes.
pub async fn run(services: &Services, options: &Options) -> Result<Vec<Cell>, BenchError> {
    let redis = connect_redis(&services.redis_url).await?;
    let mut cells = Vec::new();
    for load in [Load::spread(options.orders), Load::hot(options.orders)] {
        for processes in PROCESSES {
            let cell = Box::pin(cell(services, &redis, &load, processes)).await?;
            eprintln!(
                "scale: {}, {} process(es): {:.0} orders/s",
                cell.workload, processes, cell.per_s
            );
            cells.push(cell);
        }
    }
    Ok(cells)
}

/// One workload with `processes` workers on a fresh stack, removed afterwards.
async fn cell(
    services: &Services,
    redis: &ConnectionManager,
    load: &Load,
    processes: usize,
) -> Result<Cell, BenchError> {
    let stack = Stack::create(services).await?;
    let result = measure(&stack, redis, load, processes).await;
    stack.remove(Some(redis)).await;
    result
}

async fn measure(
    stack: &Stack,
    redis: &ConnectionManager,
    load: &Load,
    processes: usize,
) -> Result<Cell, BenchError> {
    restock(stack, redis, &load.restocks).await?;
    let settings = &stack.settings;
    let publisher = fulfil::publish::publisher(&settings.aws, &settings.topology).await?;
    fulfil::publish::publish_with_progress(&publisher, &load.orders, "scale backlog").await?;
    let (from, decided_before) = (Instant::now(), stack.decided().await?);
    let workers = start_workers(stack, processes).await?;
    wait_decided(stack, load.commands()).await?;
    let seconds = from.elapsed().as_secs_f64();
    // All at once: each drains its long polls in flight before it exits.
    futures::future::join_all(workers.into_iter().map(RoleProcess::stop)).await;
    Ok(Cell {
        workload: load.name,
        processes,
        orders: load.orders.len(),
        seconds,
        per_s: (load.commands() - decided_before) as f64 / seconds,
        problems: check(stack, load).await?,
    })
}

/// Every worker spawned before any is waited for, so none gets a head start.
async fn start_workers(stack: &Stack, processes: usize) -> Result<Vec<RoleProcess>, BenchError> {
    let env = stack.role_env();
    let mut workers = (0..processes)
        .map(|_| RoleProcess::spawn(&["worker"], &env))
        .collect::<Result<Vec<_>, _>>()?;
    for worker in &mut workers {
        worker.ready(&["worker"], "worker started").await?;
    }
    Ok(workers)
}

async fn wait_decided(stack: &Stack, expected: i64) -> Result<(), BenchError> {
    let until = Instant::now() + DRAIN;
    while stack.decided().await? < expected {
        if Instant::now() >= until {
            return Err(BenchError::Timeout {
                what: format!("{expected} commands decided"),
                seconds: DRAIN.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// What the write database says was applied, against what one application of every
/// command gives.
async fn check(stack: &Stack, load: &Load) -> Result<Vec<String>, BenchError> {
    let (inbox, orders, confirmed, restocked, unbalanced): (i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM inbox),
                    (SELECT count(*) FROM orders),
                    (SELECT count(*) FROM orders WHERE status = 'confirmed'),
                    (SELECT coalesce(sum(restocked), 0)::int8 FROM products),
                    (SELECT count(*) FROM products WHERE available + confirmed <> restocked)",
        )
        .fetch_one(&stack.write)
        .await
        .map_err(BenchError::db("read what the workers applied"))?;
    let expect = [
        ("inbox rows (one per command)", inbox, load.commands()),
        ("orders (one per buyer)", orders, load.orders.len() as i64),
        ("confirmed orders (the sell-out)", confirmed, load.confirmed),
        ("units restocked (each restock once)", restocked, load.stock),
        ("products whose stock does not balance", unbalanced, 0),
    ];
    Ok(expect
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(what, got, want)| format!("{what}: {got}, expected {want}"))
        .collect())
}

/// The table `fulfil-bench scale` prints.
pub fn render(cells: &[Cell]) -> String {
    let mut out = String::from(
        "\nscale: worker processes on one stack (FIFO), backlog published first\n\
         workload                          procs  orders  seconds  orders/s  vs 1 proc  check\n",
    );
    for cell in cells {
        let one = cells
            .iter()
            .find(|c| c.workload == cell.workload && c.processes == 1)
            .map_or(f64::NAN, |c| cell.per_s / c.per_s);
        let check = match cell.problems.is_empty() {
            true => "ok: nothing applied twice".to_owned(),
            false => format!("FAILED: {}", cell.problems.join("; ")),
        };
        out += &format!(
            "{:<33} {:>5} {:>7} {:>8.2} {:>9.0} {:>9.2}x  {check}\n",
            cell.workload, cell.processes, cell.orders, cell.seconds, cell.per_s, one
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_load_has_a_product_per_three_buyers_and_sells_two_of_each() {
        let load = Load::spread(3000);
        assert_eq!(load.restocks.len(), 1000);
        assert_eq!(load.orders.len(), 3000);
        assert_eq!((load.confirmed, load.stock), (2000, 2000));
        assert_eq!(load.commands(), 4000);
    }

    #[test]
    fn the_hot_load_is_one_product_selling_out_two_thirds_of_its_buyers() {
        let load = Load::hot(3000);
        assert_eq!(load.restocks.len(), 1);
        assert_eq!(load.orders.len(), 3000);
        assert_eq!((load.confirmed, load.stock), (2000, 2000));
    }

    #[test]
    fn the_table_compares_each_count_with_one_process_and_names_a_failed_check() {
        let cell = |processes, per_s, problems: Vec<String>| Cell {
            workload: "w",
            processes,
            orders: 10,
            seconds: 1.0,
            per_s,
            problems,
        };
        let table = render(&[
            cell(1, 100.0, vec![]),
            cell(
                2,
                150.0,
                vec!["orders (one per buyer): 11, expected 10".into()],
            ),
        ]);
        assert!(table.contains("1.50x"), "{table}");
        assert!(
            table.contains("FAILED: orders (one per buyer): 11, expected 10"),
            "{table}"
        );
    }
}
