//! AWS Lambda entry point (`provided.al2023`): SQS events through the same batch handlers as
//! the long-running roles, answered with partial batch failures. `FULFIL_LAMBDA_HANDLER`
//! picks `worker` (the commands queue; the default) or `projector` (the projector queue).
//! Clients and pools are built once per container, and pools are small: many containers
//! share one database. Settings come from the same environment variables as the roles; a
//! URL may instead be given as a Secrets Manager ARN (`FULFIL_<NAME>_SECRET_ARN`), since
//! Lambda cannot inject secrets into the environment. The worker refuses to start when the
//! function timeout (`FULFIL_LAMBDA_TIMEOUT_SECONDS`) is shorter than its own retry budget
//! (`fulfil::lambda::budget`), and each invocation answers before its context's deadline
//! (or, when the runtime API sends one already past, before the function timeout:
//! `fulfil::lambda::invocation_deadline`).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use clap::Parser;
use fulfil::cli::projector::ProjectorArgs;
use fulfil::cli::worker::WorkerArgs;
use fulfil::db::{self, Database};
use fulfil::lambda::budget::{self, RetryBudget};
use fulfil::lock::StockLock;
use fulfil::projector::Projector;
use fulfil::queue::consumer::BatchHandler;
use fulfil::run::projector::ProjectorRunSettings;
use fulfil::run::worker::WorkerRunSettings;
use fulfil::stock_cache::StockCache;
use fulfil::telemetry::SpanFlush;
use fulfil::worker::{Worker, WorkerSettings};
use lambda_runtime::{service_fn, LambdaEvent};

/// The allocator of every product binary (why: `src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lambda passes no arguments: everything comes from the environment.
#[derive(Debug, Parser)]
struct WorkerEnv {
    #[command(flatten)]
    worker: WorkerArgs,
}

#[derive(Debug, Parser)]
struct ProjectorEnv {
    #[command(flatten)]
    projector: ProjectorArgs,
}

const SECRET_URLS: [&str; 3] = [
    "FULFIL_WRITE_DATABASE_URL",
    "FULFIL_READ_DATABASE_URL",
    "FULFIL_REDIS_URL",
];

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let telemetry = fulfil::telemetry::init(fulfil::telemetry::LogFormat::Json, "fulfil-lambda");
    let spans = telemetry.flusher();
    resolve_secret_urls().await?;
    let timeout = function_timeout()?;
    match std::env::var("FULFIL_LAMBDA_HANDLER").as_deref() {
        Ok("projector") => serve(projector().await?, projector_fifo()?, timeout, spans).await,
        Ok("worker") | Err(_) => {
            serve(worker(timeout).await?, worker_fifo()?, timeout, spans).await
        }
        Ok(other) => {
            Err(format!("FULFIL_LAMBDA_HANDLER: {other:?} is not worker or projector").into())
        }
    }
}

/// Fills `NAME` from the secret `NAME_SECRET_ARN` names, before any setting is read.
async fn resolve_secret_urls() -> Result<(), lambda_runtime::Error> {
    let wanted: Vec<(&str, String)> = SECRET_URLS
        .iter()
        .filter(|name| std::env::var_os(name).is_none())
        .filter_map(|name| Some((*name, std::env::var(format!("{name}_SECRET_ARN")).ok()?)))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    for (name, arn) in wanted {
        let out = secrets.get_secret_value().secret_id(&arn).send().await;
        let out = out.map_err(|e| {
            format!(
                "{name}_SECRET_ARN {arn}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        })?;
        let value = out
            .secret_string()
            .ok_or_else(|| format!("{name}_SECRET_ARN {arn}: the secret has no string value"))?;
        // Still single-threaded in effect: nothing else has started reading the environment.
        std::env::set_var(name, value);
    }
    Ok(())
}

/// `FULFIL_LAMBDA_TIMEOUT_SECONDS`, read once: the worker's start-up check and every
/// invocation's stand-in deadline use the same value.
fn function_timeout() -> Result<Option<std::time::Duration>, lambda_runtime::Error> {
    let given = std::env::var(budget::TIMEOUT_SETTING).ok();
    budget::function_timeout(given.as_deref()).map_err(|refused| {
        tracing::error!(%refused, "refusing to start");
        refused.into()
    })
}

async fn worker(timeout: Option<std::time::Duration>) -> Result<Worker, lambda_runtime::Error> {
    let settings = WorkerRunSettings::try_from(&WorkerEnv::parse_from(["bootstrap"]).worker)?;
    let worker_settings = WorkerSettings {
        groups: settings.groups,
        transaction_deadline: settings.lock.lease,
        ..WorkerSettings::default()
    };
    // Before any connection: a wrong timeout is a configuration error, not an outage.
    check_timeout(&worker_settings, settings.lock.acquire_timeout, timeout)?;
    let size = u32::try_from(settings.groups.max_units + 2).unwrap_or(u32::MAX);
    let limits = Some(settings.db_limits);
    let pool =
        db::connect_limited(Database::Write, &settings.write_database_url, size, limits).await?;
    let redis = fulfil::run::connect_redis(&settings.redis_url).await?;
    let locks = StockLock::new(redis.clone(), settings.lock.clone());
    let cache = StockCache::new(redis, &settings.redis_key_prefix);
    Ok(Worker::new(pool, locks, cache, worker_settings))
}

/// Refuses a function timeout (`FULFIL_LAMBDA_TIMEOUT_SECONDS`, set by Terraform) shorter
/// than the worker's worst-case retry budget; unset, says the check was skipped.
fn check_timeout(
    settings: &WorkerSettings,
    lock_wait: std::time::Duration,
    timeout: Option<std::time::Duration>,
) -> Result<(), lambda_runtime::Error> {
    let retries = RetryBudget {
        attempts: settings.max_attempts,
        lock_wait,
        transaction_deadline: settings.transaction_deadline,
    };
    let checked = match timeout {
        Some(timeout) => budget::check(&retries, timeout),
        None => {
            tracing::warn!(
                needed_secs = retries.shortest_timeout_secs(),
                "{} unset: the function timeout is not checked against the worker's retry budget",
                budget::TIMEOUT_SETTING
            );
            Ok(())
        }
    };
    checked.map_err(|refused| {
        tracing::error!(%refused, "refusing to start");
        refused.into()
    })
}

fn worker_fifo() -> Result<bool, lambda_runtime::Error> {
    let settings = WorkerRunSettings::try_from(&WorkerEnv::parse_from(["bootstrap"]).worker)?;
    Ok(settings.topology.fifo)
}

async fn projector() -> Result<Projector, lambda_runtime::Error> {
    let args = ProjectorEnv::parse_from(["bootstrap"]).projector;
    let settings = ProjectorRunSettings::try_from(&args)?;
    let pool = db::connect(Database::Read, &settings.read_database_url, 2).await?;
    Ok(Projector::new(pool))
}

fn projector_fifo() -> Result<bool, lambda_runtime::Error> {
    let args = ProjectorEnv::parse_from(["bootstrap"]).projector;
    Ok(ProjectorRunSettings::try_from(&args)?.topology.fifo)
}

async fn serve<H: BatchHandler>(
    handler: H,
    fifo: bool,
    timeout: Option<std::time::Duration>,
    spans: SpanFlush,
) -> Result<(), lambda_runtime::Error> {
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (handler, spans) = (Arc::clone(&handler), spans.clone());
        async move {
            let deadline = fulfil::lambda::invocation_deadline(event.context.deadline(), timeout);
            let response: SqsBatchResponse =
                fulfil::lambda::handle_sqs_event(handler.as_ref(), event.payload, fifo, deadline)
                    .await;
            // Before the response: once it is sent the environment may be frozen.
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            spans.flush(flush_wait(left)).await;
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}

/// The longest an invocation waits for its spans to leave.
const FLUSH_AT_MOST: std::time::Duration = std::time::Duration::from_secs(1);
/// The end of an invocation's time kept for its answer: the answer matters more than spans.
const KEPT_FOR_THE_ANSWER: std::time::Duration = std::time::Duration::from_millis(500);

/// How long an invocation with `left` before its deadline waits for its spans:
/// [`FLUSH_AT_MOST`], and never into the last [`KEPT_FOR_THE_ANSWER`].
fn flush_wait(left: std::time::Duration) -> std::time::Duration {
    left.saturating_sub(KEPT_FOR_THE_ANSWER).min(FLUSH_AT_MOST)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::flush_wait;

    #[test]
    fn the_flush_waits_a_second_at_most_and_never_into_the_deadlines_last_half_second() {
        let ms = Duration::from_millis;
        assert_eq!(flush_wait(ms(10_000)), ms(1_000));
        assert_eq!(flush_wait(ms(800)), ms(300));
        assert_eq!(flush_wait(ms(200)), Duration::ZERO);
        assert_eq!(flush_wait(Duration::ZERO), Duration::ZERO);
    }
}
