//! Peak RSS of a `fulfil worker` process under load: a stack of its own, a flash sale of
//! `orders` one-unit orders published through SNS as upstream would, and the worker's
//! `VmHWM` once every order is decided. The drain rate comes along as a by-product.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::env::{connect_redis, Services};
use super::process::RoleProcess;
use super::stack::Stack;
use super::BenchError;
use fulfil::publish;
use fulfil_testkit::scenario::FlashSale;

#[derive(Debug, Clone, Serialize)]
pub struct RssReport {
    pub orders: usize,
    /// The worker's default: concurrent long polls of 10 messages.
    pub worker_concurrency: usize,
    pub peak_rss_mib: f64,
    /// From the first order published to the last one decided.
    pub drained_in_s: f64,
    pub commands_per_s: f64,
}

pub(super) async fn measure(services: &Services, orders: usize) -> Result<RssReport, BenchError> {
    let stack = Stack::create(services).await?;
    let measured = load_and_measure(&stack, orders).await;
    let redis = connect_redis(&services.redis_url).await.ok();
    stack.remove(redis.as_ref()).await;
    measured
}

async fn load_and_measure(stack: &Stack, orders: usize) -> Result<RssReport, BenchError> {
    let worker = RoleProcess::start(&["worker"], &stack.role_env(), "worker started").await?;
    let sale = FlashSale {
        product_id: format!("{}bread", stack.settings.topology.prefix),
        stock: (orders * 2 / 3) as u32,
        buyers: orders as u32,
        units: 1,
        duplicates: 0.0,
        invalid: 0,
        seed: 7,
    };
    let messages = sale.messages();
    let publisher = publish::publisher(&stack.settings.aws, &stack.settings.topology).await?;
    publisher
        .publish(std::slice::from_ref(&messages.restock), |_| {})
        .await?;
    wait_decided(stack, 1, Duration::from_secs(60)).await?;
    let started = Instant::now();
    let report = publisher.publish(&messages.orders, |_| {}).await?;
    if !report.failed.is_empty() {
        return Err(BenchError::Worker(format!(
            "{} orders not published: {:?}",
            report.failed.len(),
            report.failed.first()
        )));
    }
    let deadline = Duration::from_secs(60 + orders as u64 / 10);
    wait_decided(stack, orders as i64 + 1, deadline).await?;
    let drained = started.elapsed().as_secs_f64();
    let peak = worker.peak_rss_kib()?;
    worker.stop().await;
    Ok(RssReport {
        orders,
        worker_concurrency: 4,
        peak_rss_mib: peak as f64 / 1024.0,
        drained_in_s: drained,
        commands_per_s: orders as f64 / drained,
    })
}

async fn wait_decided(stack: &Stack, count: i64, deadline: Duration) -> Result<(), BenchError> {
    let until = Instant::now() + deadline;
    loop {
        if stack.decided().await? >= count {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(BenchError::Timeout {
                what: format!("{count} commands decided by the worker"),
                seconds: deadline.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
