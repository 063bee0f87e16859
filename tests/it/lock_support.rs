//! Redis helpers for the lock tests, on top of the shared harness: connects to the Redis the project's scripts started (it starts
//! nothing), fails loudly naming the URL when it is absent, and gives each test its own key
//! prefix so tests run in parallel on one server.

use std::time::Duration;

use fulfil::lock::{LockConfig, LockError, StockLock};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

pub const SHORT: Duration = Duration::from_millis(100);

pub use crate::harness::redis_url;

/// One test's view of Redis: a connection and a key prefix no other test uses.
pub struct Ctx {
    pub conn: ConnectionManager,
    prefix: String,
}

impl Ctx {
    pub async fn new() -> Self {
        let conn = crate::harness::redis().await;
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        Self { conn, prefix }
    }

    pub fn lock(&self, lease: Duration, acquire_timeout: Duration) -> StockLock {
        self.lock_on(self.conn.clone(), lease, acquire_timeout)
    }

    pub fn lock_on(
        &self,
        conn: ConnectionManager,
        lease: Duration,
        timeout: Duration,
    ) -> StockLock {
        let config = LockConfig {
            key_prefix: self.prefix.clone(),
            lease,
            acquire_timeout: timeout,
        };
        StockLock::new(conn, config)
    }

    pub fn key(&self, kind: &str, product_id: &str) -> String {
        format!("{}{kind}:{{{product_id}}}", self.prefix)
    }

    /// The one fence counter of every product.
    pub fn fence_key(&self) -> String {
        format!("{}fence", self.prefix)
    }

    /// Every key under this test's prefix, sorted.
    pub async fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut self.conn.clone())
            .await
            .expect("KEYS");
        keys.sort();
        keys
    }

    /// A key's time to live in ms (-1: none, -2: no such key).
    pub async fn pttl(&self, key: &str) -> i64 {
        self.conn.clone().pttl(key).await.expect("PTTL")
    }

    pub async fn get(&self, key: &str) -> Option<String> {
        self.conn.clone().get(key).await.expect("GET")
    }

    pub async fn set(&self, key: &str, value: &str) {
        let () = self.conn.clone().set(key, value).await.expect("SET");
    }

    pub async fn del(&self, key: &str) {
        let _: i64 = self.conn.clone().del(key).await.expect("DEL");
    }

    /// Stands in for FLUSHALL without disturbing the other tests on the server; also the
    /// cleanup at a test's end (the fence counter lives for days).
    pub async fn delete_all_keys(&self) {
        for key in self.keys().await {
            self.del(&key).await;
        }
    }
}

pub async fn wait_until_cancelled(token: &CancellationToken, within: Duration, what: &str) {
    timeout(within, token.cancelled())
        .await
        .unwrap_or_else(|_| panic!("{what}: not cancelled within {within:?}"));
}

pub async fn expect_timeout(lock: &StockLock, product_ids: &[&str]) -> String {
    match lock.acquire(product_ids).await {
        Err(LockError::Timeout { product_id, .. }) => product_id,
        Err(other) => panic!("expected a timeout, got {other}"),
        Ok(held) => panic!("expected a timeout, acquired {held:?}"),
    }
}
