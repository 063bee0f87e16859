//! The bench's plain Redis lock, shared by baseline (a) and the ceiling so that both pay the
//! same lock round: SET NX PX with a random token, spinning with a short jittered backoff
//! while another holds it (0.5 to 2 ms, close to the prompt hand-over Redisson's pub/sub
//! wake-up gives), released by compare-and-delete.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use redis::aio::ConnectionManager;

use crate::bench::BenchError;

const LEASE_MS: u64 = 5_000;
/// Give up on a lock after this long: with a 5 s lease nothing legitimate waits that long.
const GIVE_UP: Duration = Duration::from_secs(30);
const UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

pub struct RedisMutex {
    redis: ConnectionManager,
    unlock: redis::Script,
    /// Which path's lock, for error messages.
    path: &'static str,
}

impl RedisMutex {
    pub fn new(redis: ConnectionManager, path: &'static str) -> Self {
        Self {
            redis,
            unlock: redis::Script::new(UNLOCK),
            path,
        }
    }

    /// Runs `work` holding `key`; the lock is released whatever `work` returned.
    pub async fn with_lock<T>(
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
        let deadline = tokio::time::Instant::now() + GIVE_UP;
        while !self.try_lock(key, token).await? {
            if tokio::time::Instant::now() >= deadline {
                return Err(BenchError::Timeout {
                    what: format!("{} lock {key}", self.path),
                    seconds: GIVE_UP.as_secs(),
                });
            }
            let pause = rand::rng().random_range(500..=2_000);
            tokio::time::sleep(Duration::from_micros(pause)).await;
        }
        Ok(())
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
        Ok(())
    }
}
