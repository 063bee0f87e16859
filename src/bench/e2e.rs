//! The e2e scenario: the pipeline as an operator sees it, against a fair ceiling, in one run.
//! First LocalStack's two ceilings: (i) bare SNS publishing into SQS, (ii) the bare pipeline
//! (every queue operation of the pipeline, no database, no Redis). Then fulfil's pipeline as
//! processes (two workers, a relay, a projector) on a stack of its own, under open-loop load
//! at fixed shares of (ii), each rate a flash sale of its own for a set time; after each
//! rate it drains, and the stage times of every order give the rates sustained and the
//! projection lag. The same at 80 % on standard queues. Last, the correctness check.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use sqlx::PgPool;

use super::check::Check;
use super::e2e_report::{Offered, RateStep};
use super::env::{connect_redis, short_id, Services};
use super::process::RoleProcess;
use super::profile::{ops_addr, Profile, Scrape};
use super::stack::Stack;
use super::{bare_pipeline, ceiling, lag, open_loop, queues, BenchError, Options};
use crate::db::{self, Database};
use crate::lock::{LockConfig, StockLock};
use crate::queue::AwsClients;
use crate::scenario::FlashSale;
use crate::stock_cache::StockCache;
use crate::worker::{Incoming, Worker};

pub use super::e2e_report::E2eReport;

/// Worker processes, and long polls in each (the worker's default).
pub const WORKERS: usize = 2;
pub const WORKER_CONCURRENCY: usize = 4;
/// The projector's polls (its default).
const PROJECTOR_CONCURRENCY: usize = 4;
/// Offered rates as shares of (ii): on FIFO queues, and on standard ones.
const FIFO_RATES: [f64; 3] = [0.5, 0.8, 1.0];
const STANDARD_RATES: [f64; 1] = [0.8];

/// How long and how big.
#[derive(Debug, Clone, Copy)]
struct Plan {
    seconds: f64,
    ceiling_messages: usize,
    quick: bool,
}

impl Plan {
    /// 60 s per rate and the ceilings on `--orders` messages; `--quick`: 5 s, 200 messages.
    fn new(options: &Options) -> Self {
        match options.quick {
            true => Self {
                seconds: 5.0,
                ceiling_messages: options.orders.max(200),
                quick: true,
            },
            false => Self {
                seconds: 60.0,
                ceiling_messages: options.orders,
                quick: false,
            },
        }
    }
}

pub async fn run(services: &Services, options: &Options) -> Result<E2eReport, BenchError> {
    let plan = Plan::new(options);
    let aws = AwsClients::connect(&services.aws).await;
    let (sns, bare) = ceilings(&aws, &plan).await?;
    let fifo = ladder(services, &plan, bare, true, &FIFO_RATES).await?;
    let standard = ladder(services, &plan, bare, false, &STANDARD_RATES).await?;
    Ok(E2eReport {
        quick: plan.quick,
        seconds_per_rate: plan.seconds,
        workers: WORKERS,
        worker_concurrency: WORKER_CONCURRENCY,
        projector_concurrency: projector_polls(),
        relay_steps: relay_steps(),
        ceiling_messages: plan.ceiling_messages,
        sns_publish_per_s: sns,
        bare_pipeline_per_s: bare,
        rates: fifo.steps,
        standard: standard.steps,
        projector_dlq_fifo: fifo.projector_dlq,
        projector_dlq_standard: standard.projector_dlq,
        check: merge(fifo.check, standard.check),
    })
}

/// The relay's steps in flight: its default, or FULFIL_RELAY_STEPS, which the relay
/// process inherits from the bench's environment.
fn relay_steps() -> usize {
    std::env::var("FULFIL_RELAY_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(crate::cli::DEFAULT_RELAY_STEPS)
}

/// The projector's polls: its default, or FULFIL_PROJECTOR_CONCURRENCY from the bench's
/// environment (the table says which).
fn projector_polls() -> usize {
    std::env::var("FULFIL_PROJECTOR_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PROJECTOR_CONCURRENCY)
}

/// (i) and (ii), on the same orders the pipeline gets.
async fn ceilings(aws: &AwsClients, plan: &Plan) -> Result<(f64, f64), BenchError> {
    let id = short_id();
    let n = plan.ceiling_messages;
    let sample = FlashSale {
        product_id: format!("c{id}-bread"),
        stock: n as u32,
        buyers: n as u32,
        units: 1,
        duplicates: 0.0,
        invalid: 0,
        seed: 11,
    }
    .messages()
    .orders;
    eprintln!("e2e: (i) bare SNS PublishBatch -> SQS, {n} messages ...");
    let sns = ceiling::sns_to_sqs(aws, &format!("c{id}-"), &sample).await?;
    eprintln!("e2e: (ii) the bare pipeline, {n} commands ...");
    let polls = bare_pipeline::Polls {
        commands: WORKERS * WORKER_CONCURRENCY,
        events: projector_polls(),
    };
    let bare = bare_pipeline::measure(aws, &format!("p{id}-"), &sample, polls).await?;
    eprintln!("e2e: (i) {sns:.0} msgs/s, (ii) {bare:.0} commands/s");
    Ok((sns, bare))
}

/// The rates on one queue type, and what the checks found after them.
#[derive(Default)]
struct Ladder {
    steps: Vec<RateStep>,
    projector_dlq: Option<i64>,
    check: Option<Check>,
}

async fn ladder(
    services: &Services,
    plan: &Plan,
    bare: f64,
    fifo: bool,
    rates: &[f64],
) -> Result<Ladder, BenchError> {
    let stack = Stack::create_with(services, fifo).await?;
    let redis = connect_redis(&services.redis_url).await?;
    let result = climb(&stack, &redis, plan, bare, rates).await;
    stack.remove(Some(&redis)).await;
    result
}

/// One stack with the pipeline running on it: what each rate runs on.
struct Bed<'a> {
    stack: &'a Stack,
    redis: &'a ConnectionManager,
    read: PgPool,
    roles: Roles,
    /// (ii), which the rates are shares of.
    bare: f64,
}

/// Each rate in turn on one stack; a rate that does not drain ends the ladder (its backlog
/// would spill into the next rate's figures).
async fn climb(
    stack: &Stack,
    redis: &ConnectionManager,
    plan: &Plan,
    bare: f64,
    rates: &[f64],
) -> Result<Ladder, BenchError> {
    let read = db::connect(Database::Read, &stack.settings.read_database_url, 2).await?;
    lag::install(&read).await?;
    let roles = Roles::start(stack).await?;
    let bed = Bed {
        stack,
        redis,
        read,
        roles,
        bare,
    };
    let (mut ladder, mut sales) = (Ladder::default(), Vec::new());
    for (index, of_bare) in rates.iter().enumerate() {
        let offered = Offered {
            queues: if stack.settings.topology.fifo {
                "FIFO"
            } else {
                "standard"
            },
            of_bare: *of_bare,
            per_s: bare * of_bare,
        };
        let sale = Sale::new(stack, plan, offered, index);
        let ordered: usize = sales.iter().map(|s: &Sale| s.order_ids.len()).sum();
        let step = rate(&bed, &sale, offered, ordered).await?;
        let complete = step.complete();
        ladder.steps.push(step);
        sales.push(sale);
        if !complete {
            break;
        }
    }
    let dlq = &stack.provisioned.projector_dlq.url;
    ladder.projector_dlq = queues::depth(&stack.aws, dlq).await.ok();
    bed.roles.stop().await;
    ladder.check = Some(check(stack, &sales, &ladder.steps).await?);
    bed.read.close().await;
    Ok(ladder)
}

/// One rate's flash sale: `rate × seconds` orders of one unit on a stock of two thirds.
struct Sale {
    sale: FlashSale,
    order_ids: Vec<String>,
}

impl Sale {
    fn new(stack: &Stack, plan: &Plan, offered: Offered, index: usize) -> Self {
        let orders = (offered.per_s * plan.seconds).round().max(3.0) as u32;
        let sale = FlashSale {
            product_id: format!("{}r{index}", stack.settings.topology.prefix),
            stock: orders * 2 / 3,
            buyers: orders,
            units: 1,
            duplicates: 0.0,
            invalid: 0,
            seed: 100 + index as u64,
        };
        let order_ids = sale
            .messages()
            .orders
            .into_iter()
            .map(|m| m.group_id)
            .collect();
        Self { sale, order_ids }
    }
}

/// Restocks, publishes open-loop, waits for the drain (at most a minute after the last
/// publish), and reads every order's stages.
async fn rate(
    bed: &Bed<'_>,
    sale: &Sale,
    offered: Offered,
    ordered_before: usize,
) -> Result<RateStep, BenchError> {
    let messages = sale.sale.messages();
    restock(bed.stack, bed.redis, &messages.restock.body).await?;
    eprintln!(
        "e2e: {} queues, {:.0}% of (ii): {:.0} orders/s, {} orders ...",
        offered.queues,
        offered.of_bare * 100.0,
        offered.per_s,
        messages.orders.len()
    );
    let settings = &bed.stack.settings;
    let publisher = crate::publish::publisher(&settings.aws, &settings.topology).await?;
    let before = bed.roles.scrape().await;
    let sent = open_loop::publish(&publisher, &messages.orders, offered.per_s).await?;
    let expected = (ordered_before + messages.orders.len()) as i64;
    lag::wait_projected(&bed.read, expected, Duration::from_secs(60)).await?;
    let profile = bed.roles.scrape().await.since(&before);
    let published: HashMap<String, _> = messages
        .orders
        .iter()
        .zip(&sent.at)
        .map(|(m, at)| (m.group_id.clone(), *at))
        .collect();
    let times = lag::collect(&bed.stack.write, &bed.read, &published).await?;
    Ok(RateStep::new(offered, bed.bare, &sent, &times, profile))
}

/// The restock goes through the batch path in-process (setup, not measured); its event
/// reaches the read side through the relay like any other.
async fn restock(stack: &Stack, redis: &ConnectionManager, body: &str) -> Result<(), BenchError> {
    let locks = StockLock::new(
        redis.clone(),
        LockConfig {
            key_prefix: stack.key_prefix.clone(),
            ..LockConfig::default()
        },
    );
    let cache = StockCache::new(redis.clone(), &stack.key_prefix);
    let worker = Worker::new(stack.write.clone(), locks, cache, Default::default());
    let restock = Incoming {
        message_id: format!("bench-restock-{}", short_id()),
        body: body.to_owned(),
    };
    worker
        .process(&[restock])
        .await
        .map_err(|e| BenchError::Worker(e.to_string()))?;
    Ok(())
}

/// The pipeline's processes on one stack.
struct Roles {
    workers: Vec<RoleProcess>,
    relay: RoleProcess,
    projector: RoleProcess,
}

/// One scrape of each kind of role.
struct Scrapes {
    relay: Scrape,
    projector: Scrape,
    workers: Scrape,
}

impl Scrapes {
    fn since(&self, earlier: &Scrapes) -> Profile {
        Profile::from(
            &self.relay.since(&earlier.relay),
            &self.projector.since(&earlier.projector),
            &self.workers.since(&earlier.workers),
        )
    }
}

impl Roles {
    async fn start(stack: &Stack) -> Result<Self, BenchError> {
        let mut env = stack.role_env();
        env.push(("FULFIL_WORKER_CONCURRENCY", WORKER_CONCURRENCY.to_string()));
        env.push((
            "FULFIL_PROJECTOR_CONCURRENCY",
            projector_polls().to_string(),
        ));
        let relay = RoleProcess::start(&["relay"], &env, "relay started").await?;
        let projector = RoleProcess::start(&["projector"], &env, "projector started").await?;
        let mut workers = Vec::new();
        for _ in 0..WORKERS {
            workers.push(RoleProcess::start(&["worker"], &env, "worker started").await?);
        }
        Ok(Self {
            workers,
            relay,
            projector,
        })
    }

    async fn scrape(&self) -> Scrapes {
        let addrs = |ps: &[&RoleProcess]| -> Vec<_> {
            ps.iter().filter_map(|p| ops_addr(&p.log())).collect()
        };
        let workers: Vec<&RoleProcess> = self.workers.iter().collect();
        Scrapes {
            relay: Scrape::of(&addrs(&[&self.relay])).await,
            projector: Scrape::of(&addrs(&[&self.projector])).await,
            workers: Scrape::of(&addrs(&workers)).await,
        }
    }

    async fn stop(self) {
        for worker in self.workers {
            worker.stop().await;
        }
        self.relay.stop().await;
        self.projector.stop().await;
    }
}

/// Per sale a sell-out with the rest rejected; every order through every stage; the
/// commands DLQ empty; `fulfil verify` clean (within 30 s, while the last events arrive).
async fn check(stack: &Stack, sales: &[Sale], steps: &[RateStep]) -> Result<Check, BenchError> {
    let mut problems = Vec::new();
    let (mut confirmed, mut rejected) = (0, 0);
    for sale in sales {
        let (c, r) = outcomes(stack, &sale.order_ids).await?;
        (confirmed, rejected) = (confirmed + c, rejected + r);
        let s = &sale.sale;
        if c != i64::from(s.stock) || c + r != i64::from(s.buyers) {
            problems.push(format!(
                "{}: {c} confirmed + {r} rejected, expected {} + {}",
                s.product_id,
                s.stock,
                s.buyers - s.stock
            ));
        }
    }
    for step in steps.iter().filter(|s| !s.complete()) {
        problems.push(format!(
            "{} {:.0}%: of {} orders {} decided, {} relayed, {} projected",
            step.queues,
            step.of_bare * 100.0,
            step.commands,
            step.decided,
            step.relayed,
            step.projected
        ));
    }
    let dead = queues::depth(&stack.aws, &stack.provisioned.commands_dlq.url).await?;
    if dead > 0 {
        problems.push(format!("{dead} commands in the commands DLQ"));
    }
    if let Some(differences) = verify_settles(stack).await? {
        problems.push(format!("verify: {differences}"));
    }
    Ok(Check {
        passed: problems.is_empty(),
        confirmed,
        rejected,
        problems,
    })
}

/// (confirmed, rejected) among `order_ids` in the write database.
async fn outcomes(stack: &Stack, order_ids: &[String]) -> Result<(i64, i64), BenchError> {
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM orders WHERE order_id = ANY($1) GROUP BY status",
    )
    .bind(order_ids)
    .fetch_all(&stack.write)
    .await
    .map_err(BenchError::db("count orders"))?;
    let count = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    Ok((count("confirmed"), count("rejected")))
}

/// None once `fulfil verify` finds no difference; its last summary after 30 s otherwise.
async fn verify_settles(stack: &Stack) -> Result<Option<String>, BenchError> {
    let s = &stack.settings;
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let verified =
            crate::projector::verify::verify_databases(&s.write_database_url, &s.read_database_url)
                .await?;
        if verified.is_clean() {
            return Ok(None);
        }
        if tokio::time::Instant::now() >= until {
            return Ok(Some(verified.summary()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One verdict for both ladders, the standard one's problems marked as such.
fn merge(fifo: Option<Check>, standard: Option<Check>) -> Check {
    let (fifo, standard) = (
        fifo.unwrap_or_else(not_run),
        standard.unwrap_or_else(not_run),
    );
    let mut problems = fifo.problems;
    problems.extend(
        standard
            .problems
            .into_iter()
            .map(|p| format!("standard queues: {p}")),
    );
    Check {
        passed: fifo.passed && standard.passed,
        confirmed: fifo.confirmed + standard.confirmed,
        rejected: fifo.rejected + standard.rejected,
        problems,
    }
}

fn not_run() -> Check {
    Check {
        passed: false,
        confirmed: 0,
        rejected: 0,
        problems: vec!["not run".into()],
    }
}
