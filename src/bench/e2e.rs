//! The e2e scenario: a flash sale's orders published through SNS into the commands queue
//! first, then `fulfil worker` processes started on it, with a relay and a projector already
//! running; timed until the read database holds every order. Commands/s end to end,
//! projection lag, and in the same run LocalStack's bare receive+delete ceiling on the same
//! messages, so the report says what fraction of it the whole pipeline reaches.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName as Attr;
use redis::aio::ConnectionManager;
use serde::Serialize;

use super::check::Check;
use super::env::{connect_redis, Services};
use super::process::RoleProcess;
use super::stack::Stack;
use super::stats::percentile_ms;
use super::{ceiling, lag, BenchError};
use crate::db::{self, Database};
use crate::lock::{LockConfig, StockLock};
use crate::publish;
use crate::queue::{AwsClients, QueueError};
use crate::scenario::FlashSale;
use crate::stock_cache::StockCache;
use crate::worker::{Incoming, Worker};

/// Worker processes, and long polls in each (the worker's default).
pub const WORKERS: usize = 2;
pub const WORKER_CONCURRENCY: usize = 4;

#[derive(Debug, Clone, Serialize)]
pub struct E2eReport {
    pub orders: usize,
    pub workers: usize,
    pub worker_concurrency: usize,
    /// From the workers' start to the last order in the read database.
    pub drained_in_s: f64,
    /// From the workers' start until they had decided every order, and until the relay had
    /// published every event: where the time went.
    pub decided_in_s: Option<f64>,
    pub relayed_in_s: Option<f64>,
    pub commands_per_s: f64,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_resolution_ms: f64,
    /// The bare consumer on the same messages, with as many polls as the workers.
    pub ceiling_messages_per_s: f64,
    pub fraction_of_ceiling: f64,
    /// Publishing the orders through SNS (before the workers start).
    pub publish_per_s: f64,
    pub check: Check,
}

pub async fn run(services: &Services, orders: usize) -> Result<E2eReport, BenchError> {
    let stack = Stack::create(services).await?;
    let redis = connect_redis(&services.redis_url).await?;
    let result = measure(&stack, &redis, orders).await;
    stack.remove(Some(&redis)).await;
    result
}

async fn measure(
    stack: &Stack,
    redis: &ConnectionManager,
    orders: usize,
) -> Result<E2eReport, BenchError> {
    let sale = flash_sale(stack, orders);
    let messages = sale.messages();
    let pollers = WORKERS * WORKER_CONCURRENCY;
    eprintln!("e2e: bare consumer ceiling on {orders} messages, {pollers} polls ...");
    let queue = format!("{}ceiling.fifo", stack.settings.topology.prefix);
    let ceiling = ceiling::measure(&stack.aws, &queue, &messages.orders, pollers).await?;
    restock(stack, redis, &messages.restock.body).await?;
    let env = stack.role_env();
    let relay = RoleProcess::start(&["relay"], &env, "relay started").await?;
    let projector = RoleProcess::start(&["projector"], &env, "projector started").await?;
    eprintln!("e2e: publishing {orders} orders through SNS ...");
    let publish_per_s = publish_orders(stack, &messages.orders).await?;
    let observed = drain(stack, orders).await?;
    let drained = observed.projected;
    let lags = &observed.lags;
    let check = check(stack, &sale).await;
    relay.stop().await;
    projector.stop().await;
    let commands_per_s = orders as f64 / drained.as_secs_f64();
    Ok(E2eReport {
        orders,
        workers: WORKERS,
        worker_concurrency: WORKER_CONCURRENCY,
        drained_in_s: drained.as_secs_f64(),
        commands_per_s,
        decided_in_s: observed.decided.map(|d| d.as_secs_f64()),
        relayed_in_s: observed.relayed.map(|d| d.as_secs_f64()),
        lag_p50_ms: percentile_ms(lags, 0.50),
        lag_p99_ms: percentile_ms(lags, 0.99),
        lag_resolution_ms: lag::POLL.as_secs_f64() * 1000.0,
        ceiling_messages_per_s: ceiling,
        fraction_of_ceiling: commands_per_s / ceiling,
        publish_per_s,
        check: check?,
    })
}

fn flash_sale(stack: &Stack, orders: usize) -> FlashSale {
    FlashSale {
        product_id: format!("{}bread", stack.settings.topology.prefix),
        stock: (orders * 2 / 3) as u32,
        buyers: orders as u32,
        units: 1,
        duplicates: 0.0,
        invalid: 0,
        seed: 11,
    }
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
        message_id: "bench-restock".into(),
        body: body.to_owned(),
    };
    worker
        .process(&[restock])
        .await
        .map_err(|e| BenchError::Worker(e.to_string()))?;
    Ok(())
}

/// Publishes through SNS and waits until the commands queue holds every message.
async fn publish_orders(
    stack: &Stack,
    orders: &[crate::queue::publisher::Outgoing],
) -> Result<f64, BenchError> {
    let publisher = publish::publisher(&stack.settings.aws, &stack.settings.topology).await?;
    let started = Instant::now();
    let report = publisher.publish(orders, |_| {}).await?;
    let rate = orders.len() as f64 / started.elapsed().as_secs_f64();
    if let Some((index, why)) = report.failed.first() {
        return Err(BenchError::Worker(format!(
            "order {index} not published: {why}"
        )));
    }
    wait_visible(
        &stack.aws,
        &stack.provisioned.commands_queue.url,
        orders.len(),
    )
    .await?;
    Ok(rate)
}

/// Starts the workers and times them until the read database has every order.
async fn drain(stack: &Stack, orders: usize) -> Result<lag::Observed, BenchError> {
    let read = db::connect(Database::Read, &stack.settings.read_database_url, 2).await?;
    let mut env = stack.role_env();
    env.push(("FULFIL_WORKER_CONCURRENCY", WORKER_CONCURRENCY.to_string()));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        workers.push(RoleProcess::start(&["worker"], &env, "worker started").await?);
    }
    eprintln!("e2e: {WORKERS} workers draining {orders} orders ...");
    let deadline = Duration::from_secs(120 + orders as u64 / 10);
    let observed = lag::until_projected(&stack.write, &read, orders, deadline).await;
    for worker in workers {
        worker.stop().await;
    }
    read.close().await;
    observed
}

/// Waits until `url` shows at least `count` visible messages (SNS delivers asynchronously).
pub async fn wait_visible(aws: &AwsClients, url: &str, count: usize) -> Result<(), BenchError> {
    let budget = Duration::from_secs(120);
    let until = Instant::now() + budget;
    loop {
        let out = aws
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(Attr::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| QueueError::aws("GetQueueAttributes", url, &aws.endpoint, e))?;
        let visible: usize = out
            .attributes()
            .and_then(|a| a.get(&Attr::ApproximateNumberOfMessages))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if visible >= count {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(BenchError::Timeout {
                what: format!("{count} messages visible in {url} (saw {visible})"),
                seconds: budget.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A sell-out with the rest rejected, and `fulfil verify` clean (within 30 s, while the
/// last product events arrive): the read side is a replay of the write side's log.
async fn check(stack: &Stack, sale: &FlashSale) -> Result<Check, BenchError> {
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM orders GROUP BY status")
            .fetch_all(&stack.write)
            .await
            .map_err(BenchError::db("count orders"))?;
    let count = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    let (confirmed, rejected) = (count("confirmed"), count("rejected"));
    let mut problems = Vec::new();
    if confirmed != i64::from(sale.stock) {
        problems.push(format!("{confirmed} confirmed, expected {}", sale.stock));
    }
    if confirmed + rejected != i64::from(sale.buyers) {
        problems.push(format!(
            "{confirmed} confirmed + {rejected} rejected != {} orders",
            sale.buyers
        ));
    }
    if let Some(differences) = verify_settles(stack).await? {
        problems.push(format!("verify: {differences}"));
    }
    Ok(Check {
        passed: problems.is_empty(),
        confirmed,
        rejected,
        available: None,
        problems,
    })
}

/// None once `fulfil verify` finds no difference; its last summary after 30 s otherwise.
async fn verify_settles(stack: &Stack) -> Result<Option<String>, BenchError> {
    let s = &stack.settings;
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let verified =
            crate::projector::verify::verify_databases(&s.write_database_url, &s.read_database_url)
                .await?;
        if verified.is_clean() {
            return Ok(None);
        }
        if Instant::now() >= until {
            return Ok(Some(verified.summary()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
