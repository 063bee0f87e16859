//! The bench's plain Redis lock, shared by baseline (a) and the ceiling so that both pay the
//! same lock round: SET NX PX with a random token, released by compare-and-delete. A waiter
//! waits as Redisson's does: its unlock publishes a message that wakes one waiting thread of
//! each client, which then tries again. All of the bench's waiters are in this process, so a
//! [`Notify`] per key stands in for the pub/sub channel: one waiter woken per unlock, at
//! once, with no spinning that would take CPU from the holder on a small machine.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::Notify;

use crate::BenchError;

const LEASE_MS: u64 = 5_000;
/// Give up on a lock after this long without seeing it released: with a 5 s lease a lock
/// that nobody releases for that long is stuck. A waiter woken by a release starts the
/// count again, since the lock is not fair (as Redisson's is not): under many waiters one of
/// them may lose every race for longer than this while the lock is making progress.
const GIVE_UP: Duration = Duration::from_secs(30);
/// A waiter tries again after this long even unwoken (Redisson: after the lock's TTL), in
/// case a holder outside this process (none in the bench) let the lock go.
const RETRY: Duration = Duration::from_millis(100);
const UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

pub(super) struct RedisMutex {
    redis: ConnectionManager,
    unlock: redis::Script,
    /// Which path's lock, for error messages.
    path: &'static str,
    /// Per key: the "lock released" channel of this process's waiters.
    released: Mutex<HashMap<String, Arc<Notify>>>,
}

impl RedisMutex {
    pub(super) fn new(redis: ConnectionManager, path: &'static str) -> Self {
        Self {
            redis,
            unlock: redis::Script::new(UNLOCK),
            path,
            released: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `work` holding `key`; the lock is released whatever `work` returned.
    pub(super) async fn with_lock<T>(
        &self,
        key: &str,
        work: impl Future<Output = Result<T, BenchError>>,
    ) -> Result<T, BenchError> {
        let token = uuid::Uuid::new_v4().to_string();
        self.lock(key, &token).await?;
        let done = work.await;
        let unlocked = self.unlock(key, &token).await;
        let done = done?;
        unlocked.map(|()| done)
    }

    async fn lock(&self, key: &str, token: &str) -> Result<(), BenchError> {
        let released = self.released(key);
        let mut deadline = tokio::time::Instant::now() + GIVE_UP;
        loop {
            // Listen before trying, so an unlock between a failed try and the wait wakes us.
            let woken = released.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.try_lock(key, token).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BenchError::Timeout {
                    what: format!("a release of the {} lock {key}", self.path),
                    seconds: GIVE_UP.as_secs(),
                });
            }
            if tokio::time::timeout(RETRY, woken).await.is_ok() {
                deadline = tokio::time::Instant::now() + GIVE_UP;
            }
        }
    }

    fn released(&self, key: &str) -> Arc<Notify> {
        let mut channels = self.released.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(channels.entry(key.to_owned()).or_default())
    }

    async fn try_lock(&self, key: &str, token: &str) -> Result<bool, BenchError> {
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(LEASE_MS)
            .query_async(&mut self.redis.clone())
            .await
            .map_err(BenchError::redis(format!("{} lock", self.path)))?;
        Ok(set.is_some())
    }

    async fn unlock(&self, key: &str, token: &str) -> Result<(), BenchError> {
        let _: i64 = self
            .unlock
            .key(key)
            .arg(token)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(BenchError::redis(format!("{} unlock", self.path)))?;
        self.released(key).notify_one();
        Ok(())
    }
}
