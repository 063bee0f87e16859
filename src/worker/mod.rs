//! The batch path, ARCHITECTURE.md's seven steps composed from the pieces: parse (invalid ones are
//! kept and done), drop known commands, lock every product the batch touches (one lock round
//! for all its commands: coalescing), read stock from the cache, decide with the pure core,
//! write everything in one transaction, and only after the commit write the cache and
//! release the locks. Receiving and deleting belong to the consumer (`queue::consumer`) or
//! the Lambda adapter; both call [`Worker::process`].

mod attempt;
mod bugs;
mod group;
mod handler;
pub mod plan;
mod stats;
mod steps;
mod unit;

pub use group::GroupLimits;
pub use stats::{GroupFigures, GroupStats};

use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};

use sqlx::PgPool;

use crate::contract::Envelope;
use crate::lock::{LockError, StockLock};
use crate::queue::consumer::Settled;
use crate::stock_cache::{CacheError, StockCache};
use crate::store::{invalid, StoreError};

/// One received message, as the batch path needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub message_id: String,
    pub body: String,
    /// The worker's own span context for this command, written beside its events.
    pub traceparent: Option<String>,
}

/// What the write database holds for a message once the batch path is through with it: its
/// command's decision, an earlier one, or the message kept as invalid. Each is durable, so
/// each means the message is done: the consumer's handler turns every one into
/// [`Disposition::Delete`](crate::queue::consumer::Disposition::Delete). Not the message's
/// fate itself (that is the `Disposition`), nor the domain's
/// [`Outcome`](crate::domain::Outcome), whose code `Decided` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Decided and recorded in the inbox (confirmed, rejected, cancelled, no effect, ...):
    /// `outcome` is the domain outcome's code, `reason` its reason's.
    Decided {
        outcome: String,
        reason: Option<String>,
    },
    /// Already in the inbox with the same body (applied earlier): no second effect.
    Duplicate,
    /// A known command_id with another body: kept as `CONFLICTING_DUPLICATE`.
    Conflict,
    /// Not a valid contract-v1 command: kept with its exact body and the error.
    Invalid { error: String },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WorkerError {
    /// A dependency is down: hold the batch and stop receiving until it is back.
    #[error("{dependency} unavailable: {detail}")]
    Outage {
        dependency: &'static str,
        detail: String,
    },
    /// Nothing was applied; the messages should come back later (contended lock, retries
    /// used up).
    #[error("batch not applied, to be retried: {0}")]
    Transient(String),
    /// Something unexpected; the caller isolates the message that causes it.
    #[error("batch failed: {0}")]
    Failed(String),
}

impl From<StoreError> for WorkerError {
    fn from(err: StoreError) -> Self {
        match err {
            e if e.is_outage() => WorkerError::Outage {
                dependency: "write database",
                detail: e.to_string(),
            },
            e if e.is_retryable() => WorkerError::Transient(e.to_string()),
            e => WorkerError::Failed(e.to_string()),
        }
    }
}

impl From<LockError> for WorkerError {
    fn from(err: LockError) -> Self {
        match err {
            LockError::Timeout { .. } => WorkerError::Transient(err.to_string()),
            LockError::Redis { .. } | LockError::OutOfMemory { .. } => WorkerError::Outage {
                dependency: "redis",
                detail: format!("{err}: {:?}", std::error::Error::source(&err)),
            },
        }
    }
}

/// A failpoint's injected error is a transient one: the batch is tried again.
impl From<crate::failpoint::Injected> for WorkerError {
    fn from(err: crate::failpoint::Injected) -> Self {
        WorkerError::Transient(err.to_string())
    }
}

impl From<CacheError> for WorkerError {
    fn from(err: CacheError) -> Self {
        match err.is_outage() {
            true => WorkerError::Outage {
                dependency: "redis",
                detail: err.to_string(),
            },
            false => WorkerError::Failed(err.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// In-process attempts after a stale read, a lost lock or a write conflict.
    pub max_attempts: u32,
    /// How commands are grouped into commits.
    pub groups: GroupLimits,
    /// Longest a unit's transaction may take, from the first statement to the commit, before
    /// the unit gives its locks back (at most the lock lease: the database's own timeouts
    /// end a stuck session well before it).
    pub transaction_deadline: std::time::Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            groups: GroupLimits::default(),
            transaction_deadline: std::time::Duration::from_secs(5),
        }
    }
}

/// The batch path with its adapters; cheap to clone, one per process.
#[derive(Clone)]
pub struct Worker {
    pool: PgPool,
    locks: StockLock,
    cache: StockCache,
    settings: WorkerSettings,
    stats: Arc<GroupStats>,
    groups: Arc<unit::Dispatcher>,
}

/// Failpoint `worker::poison` (failpoints builds only): a batch holding the command id given
/// as its argument fails every time, as a valid command that always breaks something would.
fn poisoned(valid: &[&Valid]) -> Result<(), WorkerError> {
    match crate::failpoint::value("worker::poison") {
        Some(id) if valid.iter().any(|v| v.envelope.command_id == id) => Err(WorkerError::Failed(
            format!("failpoint worker::poison on {id}"),
        )),
        _ => Ok(()),
    }
}

/// A valid command with where it came from. `index` is its position in the receive, and
/// in its unit once it joins one.
#[derive(Clone)]
pub(crate) struct Valid {
    pub index: usize,
    pub envelope: Envelope,
    /// [`Envelope::fingerprint`] and the command as the inbox stores it
    /// ([`Envelope::to_json`]): made on receipt, so no unit makes them while it holds locks.
    pub fingerprint: String,
    pub inbox_json: String,
    pub message_id: String,
    pub body: String,
    pub traceparent: Option<String>,
}

impl Worker {
    pub fn new(
        pool: PgPool,
        locks: StockLock,
        cache: StockCache,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            pool,
            locks,
            cache,
            groups: Arc::new(unit::Dispatcher::new(settings.groups)),
            settings,
            stats: Arc::default(),
        }
    }

    /// Commands per commit and lock rounds since the last call (the bench reports them).
    pub fn take_group_figures(&self) -> GroupFigures {
        self.stats.take()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs the batch path; what was recorded for each message, in order. An error means nothing of the
    /// batch's valid commands was applied (invalid ones may already be kept: idempotent).
    pub async fn process(&self, batch: &[Incoming]) -> Result<Vec<Recorded>, WorkerError> {
        self.process_settling(batch, None).await
    }

    /// [`Worker::process`], telling `settled` of each message as soon as it is recorded
    /// (its unit committed), so the consumer can delete it before the rest are decided.
    pub async fn process_settling(
        &self,
        batch: &[Incoming],
        settled: Option<&Settled>,
    ) -> Result<Vec<Recorded>, WorkerError> {
        crate::failpoint::step("worker::after_receive")?;
        let mut records: Vec<Option<Recorded>> = vec![None; batch.len()];
        let mut valid = Vec::new();
        for (index, message) in batch.iter().enumerate() {
            match Envelope::parse(&message.body) {
                Ok(envelope) => valid.push(Valid {
                    index,
                    fingerprint: envelope.fingerprint(),
                    inbox_json: envelope.to_json(),
                    envelope,
                    message_id: message.message_id.clone(),
                    body: message.body.clone(),
                    traceparent: message.traceparent.clone(),
                }),
                Err(e) => records[index] = Some(self.keep_invalid(message, &e).await?),
            }
        }
        let message_ids: Vec<&str> = batch.iter().map(|m| m.message_id.as_str()).collect();
        let mut known: Vec<(usize, Recorded)> = records
            .into_iter()
            .enumerate()
            .filter_map(|(i, f)| Some((i, f?)))
            .collect();
        known.extend(self.apply(valid, settled).await?);
        in_order(&message_ids, known)
    }

    async fn keep_invalid(
        &self,
        message: &Incoming,
        err: &crate::contract::ContractError,
    ) -> Result<Recorded, WorkerError> {
        let error = err.to_string();
        tracing::warn!(message_id = %message.message_id, %error, "invalid command kept");
        invalid::keep_invalid(
            &self.pool,
            &message.message_id,
            &message.body,
            err.code(),
            err.field(),
            &error,
        )
        .await?;
        Ok(Recorded::Invalid { error })
    }

    /// Hands each command to the group of its products and waits for every answer; a
    /// command the inbox already has is found so inside its unit's transaction (no look-up
    /// per receive: issue 10's profile). Any error fails the receive as a whole (the worst
    /// one wins: an outage, then a failure, then a retry); what was applied meanwhile is a
    /// duplicate when it comes again.
    async fn apply(
        &self,
        valid: Vec<Valid>,
        settled: Option<&Settled>,
    ) -> Result<Vec<(usize, Recorded)>, WorkerError> {
        let mut records = Vec::with_capacity(valid.len());
        let products = self.products_of_each(&valid).await?;
        let answers = self.submit(valid.into_iter().zip(products).collect());
        let mut answers: FuturesUnordered<_> = answers
            .into_iter()
            .map(|(index, answer)| async move { (index, answer.await) })
            .collect();
        let mut worst: Option<WorkerError> = None;
        while let Some((index, answer)) = answers.next().await {
            let gone = || {
                Err(WorkerError::Failed(
                    "its unit ended without an answer".into(),
                ))
            };
            match answer.unwrap_or_else(|_| gone()) {
                Ok(record) => {
                    if let Some(settled) = settled {
                        settled.done(index);
                    }
                    records.push((index, record));
                }
                Err(e) => worst = Some(worse(worst, e)),
            }
        }
        worst.map_or(Ok(records), Err)
    }

    /// Whether the write database answers and Redis takes writes: the consumer's probe during
    /// an outage, and readiness. Each probe is bounded: a black-holed dependency must read as
    /// unhealthy, not hang.
    pub async fn healthy(&self) -> bool {
        let bound = std::time::Duration::from_secs(2);
        let db = sqlx::query("SELECT 1").execute(&self.pool);
        let db = matches!(tokio::time::timeout(bound, db).await, Ok(Ok(_)));
        db && tokio::time::timeout(bound, self.cache.takes_writes())
            .await
            .unwrap_or(false)
    }
}

/// Records by position (`records` keyed by index into `message_ids`). Every message gets one; a
/// gap would be a bug, and guessing one could delete a message never applied.
fn in_order(
    message_ids: &[&str],
    records: Vec<(usize, Recorded)>,
) -> Result<Vec<Recorded>, WorkerError> {
    let mut slots: Vec<Option<Recorded>> = vec![None; message_ids.len()];
    for (index, record) in records {
        if let Some(slot) = slots.get_mut(index) {
            *slot = Some(record);
        }
    }
    let missing =
        |i: usize| WorkerError::Failed(format!("no record for message {}", message_ids[i]));
    slots
        .into_iter()
        .enumerate()
        .map(|(i, f)| f.ok_or_else(|| missing(i)))
        .collect()
}

/// The error that decides what becomes of a receive: an outage holds it, a failure isolates its
/// messages, a transient error only leaves it for redelivery.
fn worse(current: Option<WorkerError>, new: WorkerError) -> WorkerError {
    let rank = |e: &WorkerError| match e {
        WorkerError::Outage { .. } => 2,
        WorkerError::Failed(_) => 1,
        WorkerError::Transient(_) => 0,
    };
    match current {
        Some(c) if rank(&c) >= rank(&new) => c,
        _ => new,
    }
}
