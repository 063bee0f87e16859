//! Per-product Redis locks for the worker's batch path (ARCHITECTURE.md steps 3 and 6).
//!
//! A batch takes all its products' locks in one atomic script call: there is no lock order to
//! get wrong and never a half-held set. Every acquisition also gets a fencing token, because
//! a lease can expire behind a paused worker's back; PostgreSQL's `fence <= $token` check, not
//! the lock, is what finally stops a stale worker from overselling.
//!
//! The tokens come from one counter for all products. A token need only be above every token
//! handed out before for the same product, and one counter that only rises gives that for
//! every product at once, with no key per product beside its lock (deleted on release, and
//! expiring with its lease): a command naming a product that does not exist leaves nothing
//! behind, and the keys are as many as the locks held. The counter expires after
//! [`FENCE_TTL`] unused; that, like a flush or a restart of Redis, restarts it low. It is
//! safe because PostgreSQL keeps each product's highest fence written: a write with a low
//! token is refused as stale, and the worker lifts the counter above the database's fence
//! ([`StockLock::reseed_fence`]) before trying again. A lost counter costs a retry, never a
//! wrong write.
//! Touches only the Redis keys `{key_prefix}lock:{product}` and `{key_prefix}fence`.

mod error;
mod held;
mod scripts;
mod watchdog;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use redis::aio::ConnectionManager;
use tokio::time::{sleep_until, timeout_at, Instant};
use uuid::Uuid;

pub use error::LockError;

/// How long the fence counter lives without an acquisition; long enough that only an idle
/// deployment ever loses it (and then recovers it, see the module's doc).
pub const FENCE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
pub use held::{HeldLocks, ReleaseReport};

use held::Granted;
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
    conn: ConnectionManager,
    config: Arc<LockConfig>,
    scripts: Arc<Scripts>,
}

/// The lock keys of a sorted, deduplicated product list (index-aligned), and the counter
/// their fencing token comes from.
struct Keys {
    product_ids: Vec<String>,
    locks: Vec<String>,
    fence: String,
}

impl StockLock {
    /// Every Redis call is also bounded by the lease, because the manager's own response
    /// timeout does not cover its reconnection retries (seconds during an outage).
    pub fn new(conn: ConnectionManager, config: LockConfig) -> Self {
        let scripts = Arc::new(Scripts::new());
        Self {
            conn,
            config: Arc::new(config),
            scripts,
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
        let keys = self.keys_for(product_ids);
        let token = Uuid::new_v4().to_string();
        let deadline = Instant::now() + self.config.acquire_timeout;
        let mut backoff = Backoff::default();
        loop {
            let sent = Instant::now();
            match self.attempt(&keys, &token, sent).await? {
                Attempt::Acquired(fence) => return Ok(self.grant(keys, token, fence, sent)),
                Attempt::Held(index) if Instant::now() >= deadline => {
                    return Err(self.timeout(keys, index));
                }
                Attempt::Held(_) => sleep_until(backoff.next_wake().min(deadline)).await,
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
        let keys = self.keys_for(product_ids);
        let token = Uuid::new_v4().to_string();
        let sent = Instant::now();
        match self.attempt(&keys, &token, sent).await? {
            Attempt::Acquired(fence) => Ok(Ok(self.grant(keys, token, fence, sent))),
            Attempt::Held(index) => Ok(Err(keys.product_ids[index].clone())),
        }
    }

    /// After Redis lost the fence counter (FLUSHALL, restart, [`FENCE_TTL`]) it restarts low
    /// while PostgreSQL keeps the highest fence ever written; the worker calls this with
    /// `product_id`'s fence in the DB so the next token is above it.
    ///
    /// # Errors
    /// `Redis` if Redis failed or did not answer within the lease; the counter is then as before.
    pub async fn reseed_fence(&self, product_id: &str, at_least: i64) -> Result<(), LockError> {
        let key = self.fence_key();
        let mut conn = self.conn.clone();
        let reseed = self.scripts.reseed(&mut conn, &key, at_least);
        let fence = bounded(Instant::now() + self.config.lease, "reseed fence", reseed).await?;
        tracing::debug!(product_id, at_least, fence, "fence counter reseeded");
        Ok(())
    }

    fn keys_for(&self, product_ids: &[&str]) -> Keys {
        let mut product_ids: Vec<String> = product_ids.iter().map(|&id| id.to_owned()).collect();
        product_ids.sort_unstable();
        product_ids.dedup();
        let prefix = &self.config.key_prefix;
        let locks = product_ids
            .iter()
            .map(|id| format!("{prefix}lock:{id}"))
            .collect();
        Keys {
            product_ids,
            locks,
            fence: self.fence_key(),
        }
    }

    fn fence_key(&self) -> String {
        format!("{}fence", self.config.key_prefix)
    }

    /// A grant that arrives after the lease could have run out is worthless, so the call is
    /// abandoned then; if the script did run, its keys expire by their lease.
    async fn attempt(&self, keys: &Keys, token: &str, sent: Instant) -> Result<Attempt, LockError> {
        let mut conn = self.conn.clone();
        let key_lists = (keys.locks.as_slice(), keys.fence.as_str());
        let attempt = self
            .scripts
            .acquire(&mut conn, key_lists, token, self.config.lease);
        bounded(
            watchdog::assured_until(sent, self.config.lease),
            "acquire",
            attempt,
        )
        .await
    }

    /// `sent` is when the winning attempt left: the lease started no earlier than that.
    fn grant(&self, keys: Keys, token: String, fence: i64, sent: Instant) -> HeldLocks {
        tracing::debug!(product_ids = ?keys.product_ids, fence, "locks acquired");
        HeldLocks::start(Granted {
            conn: self.conn.clone(),
            scripts: Arc::clone(&self.scripts),
            token,
            product_ids: keys.product_ids,
            locks: keys.locks,
            fence,
            lease: self.config.lease,
            assured: watchdog::assured_until(sent, self.config.lease),
        })
    }

    fn timeout(&self, keys: Keys, held_index: usize) -> LockError {
        let product_id = keys
            .product_ids
            .into_iter()
            .nth(held_index)
            .unwrap_or_default();
        let waited = self.config.acquire_timeout;
        LockError::Timeout { product_id, waited }
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

/// Exponential backoff from 1 ms to 25 ms with "equal jitter" (half fixed, half random): the
/// random half spreads contenders apart, the fixed half keeps the loop from ever spinning.
struct Backoff {
    ceiling: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(1);
    const CAP: Duration = Duration::from_millis(25);

    fn next_wake(&mut self) -> Instant {
        let half = self.ceiling / 2;
        let max_extra = u64::try_from(half.as_micros()).unwrap_or(u64::MAX);
        let extra = Duration::from_micros(rand::rng().random_range(0..=max_extra));
        self.ceiling = (self.ceiling * 2).min(Self::CAP);
        Instant::now() + half + extra
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            ceiling: Self::FIRST,
        }
    }
}
