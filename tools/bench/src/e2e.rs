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
use super::e2e_check::Sale;
use super::e2e_report::{Offered, RateStep};
use super::e2e_roles::Roles;
use super::env::{connect_redis, short_id, Services};
use super::stack::Stack;
use super::{bare_pipeline, ceiling, e2e_check, lag, open_loop, queues, BenchError, Options};
use fulfil::db::{self, Database};
use fulfil::lock::{LockConfig, StockLock};
use fulfil::queue::AwsClients;
use fulfil::stock_cache::StockCache;
use fulfil::worker::{Incoming, Worker};
use fulfil_testkit::scenario::FlashSale;

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
        localstack_settings: localstack_settings(),
        sns_publish_per_s: sns,
        bare_pipeline_per_s: bare,
        rates: fifo.steps,
        standard: standard.steps,
        projector_dlq_fifo: fifo.projector_dlq,
        projector_dlq_standard: standard.projector_dlq,
        check: e2e_check::merge(fifo.check, standard.check),
    })
}

/// What LocalStack runs with, as `./dev bench` passes it on.
fn localstack_settings() -> Option<String> {
    std::env::var("FULFIL_BENCH_LOCALSTACK_SETTINGS")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// The relay's steps in flight: its default, or FULFIL_RELAY_STEPS, which the relay
/// process inherits from the bench's environment.
fn relay_steps() -> usize {
    std::env::var("FULFIL_RELAY_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(fulfil::cli::DEFAULT_RELAY_STEPS)
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
    let roles = Roles::start(stack, WORKERS, WORKER_CONCURRENCY, projector_polls()).await?;
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
        let sale = sale_at(stack, plan, offered, index);
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
    ladder.check = Some(e2e_check::check(stack, &sales, &ladder.steps).await?);
    bed.read.close().await;
    Ok(ladder)
}

/// One rate's flash sale: `rate × seconds` orders of one unit on a stock of two thirds.
fn sale_at(stack: &Stack, plan: &Plan, offered: Offered, index: usize) -> Sale {
    let orders = (offered.per_s * plan.seconds).round().max(3.0) as u32;
    Sale::of(FlashSale {
        product_id: format!("{}r{index}", stack.settings.topology.prefix),
        stock: orders * 2 / 3,
        buyers: orders,
        units: 1,
        duplicates: 0.0,
        invalid: 0,
        seed: 100 + index as u64,
    })
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
    restock(
        bed.stack,
        bed.redis,
        std::slice::from_ref(&messages.restock.body),
    )
    .await?;
    eprintln!(
        "e2e: {} queues, {:.0}% of (ii): {:.0} orders/s, {} orders ...",
        offered.queues,
        offered.of_bare * 100.0,
        offered.per_s,
        messages.orders.len()
    );
    let settings = &bed.stack.settings;
    let publisher = fulfil::publish::publisher(&settings.aws, &settings.topology).await?;
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

/// Restocks go through the batch path in-process, ten at a time as a receive brings them
/// (setup, not measured); their events reach the read side through the relay like any other.
pub(super) async fn restock(
    stack: &Stack,
    redis: &ConnectionManager,
    bodies: &[String],
) -> Result<(), BenchError> {
    let locks = StockLock::new(
        redis.clone(),
        LockConfig {
            key_prefix: stack.key_prefix.clone(),
            ..LockConfig::default()
        },
    );
    let cache = StockCache::new(redis.clone(), &stack.key_prefix);
    let worker = Worker::new(stack.write.clone(), locks, cache, Default::default());
    for chunk in bodies.chunks(10) {
        let incoming: Vec<Incoming> = chunk
            .iter()
            .map(|body| Incoming {
                message_id: format!("bench-restock-{}", short_id()),
                body: body.clone(),
                traceparent: None,
            })
            .collect();
        worker
            .process(&incoming)
            .await
            .map_err(|e| BenchError::Worker(e.to_string()))?;
    }
    Ok(())
}
