//! Per-product Redis locks for the worker's batch path (ARCHITECTURE.md steps 3 and 6).
//!
//! A batch takes all its products' locks or none: one atomic script per hash slot, slots in
//! ascending order, and when a later slot's product is held the slots already taken are
//! released again (compare-and-delete with our owner token) before the attempt reports the
//! product held. There is never a half-held set once an attempt returns, and no lock order
//! to get wrong. On a single Redis every product shares one slot group: one script call.
//! Every acquisition also gets fencing tokens, because a lease can expire behind a paused
//! worker's back; PostgreSQL's `fence <= $token` check, not the lock, is what finally stops a
//! stale worker from overselling.
//!
//! The tokens come from one counter per slot group: on a single node one counter for all
//! products, on a Redis Cluster one counter per hash slot, tagged to live in that slot
//! (`keys.rs`). A product always hashes to the same slot, so its tokens always come from the
//! same counter. A token need only be above every token handed out before for the same
//! product, and a counter that only rises gives that for every product of its slot, with no
//! key per product beside its lock (deleted on release, and expiring with its lease): a
//! command naming a product that does not exist leaves nothing behind. A counter expires
//! after [`FENCE_TTL`] unused; that, like a flush or a restart of Redis, restarts it low. It
//! is safe because PostgreSQL keeps each product's highest fence written: a write with a low
//! token is refused as stale, and the worker lifts the product's counter above the
//! database's fence ([`StockLock::reseed_fence`]) before trying again. A lost counter costs a
//! retry, never a wrong write.
//! Touches only the Redis keys `{key_prefix}lock:{<product>}` and `{key_prefix}fence` (single
//! node) or `{key_prefix}fence:{<slot tag>}` (cluster).

mod backoff;
mod error;
mod held;
mod keys;
mod scripts;
mod watchdog;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep_until, timeout_at, Instant};
use uuid::Uuid;

use crate::redis_conn::RedisConnection;

pub use error::LockError;

/// How long the fence counter lives without an acquisition; long enough that only an idle
/// deployment ever loses it (and then recovers it, see the module's doc).
pub const FENCE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
pub use held::{HeldLocks, ReleaseReport};

use backoff::Backoff;
use held::Granted;
use keys::{KeyLayout, SlotGroup};
use scripts::{Attempt, Scripts};

/// Where the keys live and how long a lock lasts without its watchdog.
#[derive(Debug, Clone)]
pub struct LockConfig {
    pub key_prefix: String,
    /// How long a dead worker's locks block others; the watchdog extends it while alive.
    pub lease: Duration,
    /// How long to wait for contended products before leaving the message for redelivery.
    pub acquire_timeout: Duration,
}

impl Default for LockConfig {
    fn default() -> Self {
        Self {
            key_prefix: "fulfil:".to_owned(),
            lease: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(2),
        }
    }
}

/// Hands out `HeldLocks`; cheap to clone, one per process is enough.
#[derive(Clone)]
pub struct StockLock {
    conn: RedisConnection,
    config: Arc<LockConfig>,
    layout: Arc<KeyLayout>,
    scripts: Arc<Scripts>,
}

/// What one all-or-nothing attempt over every slot group found.
enum Outcome {
    /// Every group is ours; one fencing token per group, index-aligned.
    Taken(Vec<i64>),
    /// Nothing is held because this product is someone else's.
    Held(String),
}

impl StockLock {
    /// Every Redis call is also bounded by the lease, because the connection's own response
    /// timeout does not cover its reconnection retries (seconds during an outage).
    pub fn new(conn: impl Into<RedisConnection>, config: LockConfig) -> Self {
        let conn = conn.into();
        let layout = KeyLayout::new(&config.key_prefix, conn.is_cluster());
        Self {
            conn,
            config: Arc::new(config),
            layout: Arc::new(layout),
            scripts: Arc::new(Scripts::new()),
        }
    }

    /// Takes every product's lock or none. Keys deduplicated and sorted.
    ///
    /// Retries with jittered backoff while any product is held, so a thousand workers on one
    /// hot product neither spin on Redis nor retry in lockstep.
    ///
    /// # Errors
    /// `Timeout` naming a product still held at `acquire_timeout`; `Redis` if Redis failed or
    /// did not answer within the lease. Both leave nothing held.
    pub async fn acquire(&self, product_ids: &[&str]) -> Result<HeldLocks, LockError> {
        let groups = self.layout.groups(product_ids);
        let token = Uuid::new_v4().to_string();
        let deadline = Instant::now() + self.config.acquire_timeout;
        let mut backoff = Backoff::default();
        loop {
            let sent = Instant::now();
            match self.attempt(&groups, &token, sent).await? {
                Outcome::Taken(fences) => return Ok(self.grant(groups, token, fences, sent)),
                Outcome::Held(product_id) if Instant::now() >= deadline => {
                    let waited = self.config.acquire_timeout;
                    return Err(LockError::Timeout { product_id, waited });
                }
                Outcome::Held(_) => sleep_until(backoff.next_wake().min(deadline)).await,
            }
        }
    }

    /// One attempt, no waiting: every product's lock, or the id of a product held by someone
    /// else (then nothing is held), so a caller can go on without that product.
    ///
    /// # Errors
    /// `Redis` if Redis failed or did not answer within the lease.
    pub async fn try_acquire(
        &self,
        product_ids: &[&str],
    ) -> Result<Result<HeldLocks, String>, LockError> {
        let groups = self.layout.groups(product_ids);
        let token = Uuid::new_v4().to_string();
        let sent = Instant::now();
        match self.attempt(&groups, &token, sent).await? {
            Outcome::Taken(fences) => Ok(Ok(self.grant(groups, token, fences, sent))),
            Outcome::Held(product_id) => Ok(Err(product_id)),
        }
    }

    /// After Redis lost a fence counter (FLUSHALL, restart, [`FENCE_TTL`]) it restarts low
    /// while PostgreSQL keeps the highest fence ever written; the worker calls this with
    /// `product_id`'s fence in the DB so the next token of its counter is above it.
    ///
    /// # Errors
    /// `Redis` if Redis failed or did not answer within the lease; the counter is then as before.
    pub async fn reseed_fence(&self, product_id: &str, at_least: i64) -> Result<(), LockError> {
        let key = self.layout.fence_key(product_id);
        let mut conn = self.conn.clone();
        let reseed = self.scripts.reseed(&mut conn, &key, at_least);
        let fence = bounded(Instant::now() + self.config.lease, "reseed fence", reseed).await?;
        tracing::debug!(product_id, at_least, fence, "fence counter reseeded");
        Ok(())
    }

    /// Slot group after slot group, in ascending slot order; a held product or a failure
    /// releases the groups already taken. A grant that arrives after the lease could have
    /// run out is worthless, so every call is abandoned then; if its script did run, its keys
    /// expire by their lease.
    async fn attempt(
        &self,
        groups: &[SlotGroup],
        token: &str,
        sent: Instant,
    ) -> Result<Outcome, LockError> {
        let assured = watchdog::assured_until(sent, self.config.lease);
        let mut fences = Vec::with_capacity(groups.len());
        for (taken, group) in groups.iter().enumerate() {
            let outcome = match self.attempt_group(group, token, assured).await {
                Ok(Attempt::Acquired(fence)) => {
                    fences.push(fence);
                    continue;
                }
                Ok(Attempt::Held(index)) => Ok(Outcome::Held(group.product_id(index))),
                Err(error) => Err(error),
            };
            self.roll_back(&groups[..taken], token).await;
            return outcome;
        }
        Ok(Outcome::Taken(fences))
    }

    async fn attempt_group(
        &self,
        group: &SlotGroup,
        token: &str,
        assured: Instant,
    ) -> Result<Attempt, LockError> {
        let mut conn = self.conn.clone();
        let keys = (group.locks.as_slice(), group.fence.as_str());
        let lease = self.config.lease;
        let attempt = self.scripts.acquire(&mut conn, keys, token, lease);
        bounded(assured, "acquire", attempt).await
    }

    /// Gives back the groups an attempt took before it met a held product. On a Redis error
    /// the keys are left to expire by their lease: nothing of ours is held past it.
    async fn roll_back(&self, taken: &[SlotGroup], token: &str) {
        let deadline = Instant::now() + self.config.lease;
        for group in taken {
            let mut conn = self.conn.clone();
            let release = self.scripts.release(&mut conn, &group.locks, token);
            if let Err(error) = bounded(deadline, "roll back", release).await {
                let keys = &group.locks;
                tracing::warn!(%error, ?keys, "rolling back a partial acquisition failed; the keys expire by their lease");
            }
        }
    }

    /// `sent` is when the winning attempt left: every lease started no earlier than that.
    fn grant(
        &self,
        groups: Vec<SlotGroup>,
        token: String,
        fences: Vec<i64>,
        sent: Instant,
    ) -> HeldLocks {
        tracing::debug!(?groups, ?fences, "locks acquired");
        HeldLocks::start(Granted {
            conn: self.conn.clone(),
            scripts: Arc::clone(&self.scripts),
            token,
            groups: groups.into_iter().zip(fences).collect(),
            lease: self.config.lease,
            assured: watchdog::assured_until(sent, self.config.lease),
        })
    }
}

/// Runs a Redis call, giving up at `deadline` with an I/O timeout error (retryable like any
/// other Redis failure).
pub(super) async fn bounded<T>(
    deadline: Instant,
    operation: &'static str,
    call: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, LockError> {
    match timeout_at(deadline, call).await {
        Ok(result) => result.map_err(LockError::redis(operation)),
        Err(_elapsed) => {
            let late = io::Error::new(io::ErrorKind::TimedOut, "no reply from Redis in time");
            Err(LockError::Redis {
                operation,
                source: late.into(),
            })
        }
    }
}
