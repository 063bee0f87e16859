//! The invariant checker: reads the write database, the read database, what was kept as
//! invalid or conflicting, what sits in the dead-letter queues and the list of what was
//! published, and says whether the product kept its promises (contract guarantees 1–7 and
//! ARCHITECTURE.md's invariants). Used by the fault tests, the chaos soak and `fulfil-check`.
//!
//! It reads everything and writes nothing (dead-letter messages are peeked and shown again).
//! Meant for a drained pipeline: work still in flight shows as lost or as differences.
//! Strict about the DLQs: a valid command or any event there is a violation unless the
//! scenario declares it planted ([`Planted`]).

pub mod dead_letters;
pub mod drain;
pub mod ledger;
pub mod published;
pub mod read_side;
pub mod replay;
mod report;
pub mod stock;

use std::time::Duration;

use sqlx::PgPool;

pub use dead_letters::{DeadLetter, Planted};
use fulfil::config::{AwsSettings, SecretUrl, Topology};
use fulfil::db::{self, Database, DbError};
use fulfil::queue::{dlq, topology, AwsClients, QueueError};
use fulfil::store::StoreError;
pub use report::{CheckReport, Violation};

/// How long a peeked dead-letter message stays hidden while the rest are read.
const PEEK_HIDE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("checker: {0}")]
    Store(#[from] StoreError),
    #[error("checker: {0}")]
    Db(#[from] DbError),
    #[error("checker: {0}")]
    Queue(#[from] QueueError),
}

/// Where the checker looks (the queues themselves only to wait for a drain).
pub struct Sources<'a> {
    pub write: &'a PgPool,
    pub read: &'a PgPool,
    pub aws: &'a AwsClients,
    pub commands_queue_url: &'a str,
    pub commands_dlq_url: &'a str,
    pub projector_queue_url: &'a str,
    pub projector_dlq_url: &'a str,
}

/// Checks every invariant; `published` is every body sent, repeats included; `planted` the
/// poisons the scenario dead-lettered on purpose.
pub async fn run(
    sources: &Sources<'_>,
    published: &[String],
    planted: &Planted,
) -> Result<CheckReport, CheckError> {
    let dlq = dlq::peek(sources.aws, sources.commands_dlq_url, PEEK_HIDE).await?;
    let bodies = dlq.iter().map(|m| m.body.clone()).collect();
    let mut report = check_write_side(sources.write, published, bodies).await?;
    dead_letters::commands(&dlq, planted, &mut report);
    read_side::verify(sources.write, sources.read, &mut report).await?;
    let projector_dlq = dlq::peek(sources.aws, sources.projector_dlq_url, PEEK_HIDE).await?;
    dead_letters::projector(&projector_dlq, planted, &mut report);
    Ok(report)
}

/// What `fulfil-check` needs to find everything by itself.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    pub write_database_url: SecretUrl,
    pub read_database_url: SecretUrl,
    pub aws: AwsSettings,
    pub topology: Topology,
}

/// Connects to both databases and the queues named by `settings.topology`, then [`run`]s
/// (nothing planted: an operator's DLQ holds no poison on purpose).
pub async fn connect_and_run(
    settings: &CheckSettings,
    published: &[String],
) -> Result<CheckReport, CheckError> {
    let write = db::connect(Database::Write, &settings.write_database_url, 2).await?;
    let read = db::connect(Database::Read, &settings.read_database_url, 2).await?;
    let aws = AwsClients::connect(&settings.aws).await;
    let url = |name: String| {
        let aws = &aws;
        async move { topology::queue_url(aws, &name).await }
    };
    let t = &settings.topology;
    let (commands, commands_dlq) = (url(t.commands_queue()).await?, url(t.commands_dlq()).await?);
    let (projector, projector_dlq) = (
        url(t.projector_queue()).await?,
        url(t.projector_dlq()).await?,
    );
    let sources = Sources {
        write: &write,
        read: &read,
        aws: &aws,
        commands_queue_url: &commands,
        commands_dlq_url: &commands_dlq,
        projector_queue_url: &projector,
        projector_dlq_url: &projector_dlq,
    };
    let report = run(&sources, published, &Planted::none()).await;
    write.close().await;
    read.close().await;
    report
}

/// Loads what the write database kept and checks everything that needs no read side.
/// `published` is every body sent (repeats included); `dlq` every body in the commands DLQ.
pub async fn check_write_side(
    pool: &PgPool,
    published: &[String],
    dlq: Vec<String>,
) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport::default();
    let outcomes = load_outcomes(pool, dlq).await?;
    ledger::account(published, &outcomes, &mut report);
    stock::check(pool, &mut report).await?;
    replay::check(pool, &mut report).await?;
    Ok(report)
}

async fn load_outcomes(pool: &PgPool, dlq: Vec<String>) -> Result<ledger::Outcomes, StoreError> {
    let inbox: Vec<(String, String, String)> =
        sqlx::query_as("SELECT command_id, fingerprint, outcome FROM inbox")
            .fetch_all(pool)
            .await?;
    let conflicts: Vec<String> = sqlx::query_scalar("SELECT command_id FROM conflicting_commands")
        .fetch_all(pool)
        .await?;
    let invalid: Vec<String> = sqlx::query_scalar("SELECT body FROM invalid_commands")
        .fetch_all(pool)
        .await?;
    Ok(ledger::Outcomes {
        inbox: inbox
            .into_iter()
            .map(|(id, fp, outcome)| (id, (fp, outcome)))
            .collect(),
        conflicts: conflicts.into_iter().collect(),
        invalid_bodies: invalid.into_iter().collect(),
        dlq_bodies: dlq.into_iter().collect(),
    })
}
