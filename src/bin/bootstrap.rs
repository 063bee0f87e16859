//! AWS Lambda entry point (`provided.al2023`): the worker's batch path for SQS events from
//! the commands queue, with partial batch failures. Clients and pools are built once per
//! container, and pools are small: many containers share one database.
//! Settings come from the same environment variables as `fulfil worker`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use clap::Parser;
use fulfil::cli::WorkerArgs;
use fulfil::db::{self, Database};
use fulfil::lock::StockLock;
use fulfil::stock_cache::StockCache;
use fulfil::worker::{Worker, WorkerSettings};
use lambda_runtime::{service_fn, LambdaEvent};

/// Lambda passes no arguments: everything comes from the environment.
#[derive(Debug, Parser)]
struct Env {
    #[command(flatten)]
    worker: WorkerArgs,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fulfil::telemetry::init(fulfil::telemetry::LogFormat::Json);
    let settings = Env::parse_from(["bootstrap"]).worker.into_settings()?;
    let pool = db::connect(Database::Write, &settings.write_database_url, 2).await?;
    let redis = fulfil::run::connect_redis(&settings.redis_url).await?;
    let locks = StockLock::new(redis.clone(), settings.lock.clone());
    let worker = Arc::new(Worker::new(
        pool,
        locks,
        StockCache::new(redis, &settings.redis_key_prefix),
        WorkerSettings::default(),
    ));
    let fifo = settings.topology.fifo;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = Arc::clone(&worker);
        async move {
            Ok::<_, lambda_runtime::Error>(
                fulfil::lambda::handle_sqs_event(worker.as_ref(), event.payload, fifo).await,
            )
        }
    }))
    .await
}
