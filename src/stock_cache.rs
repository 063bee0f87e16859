//! The stock cache: each product's stock and version in Redis, so a hot product's batch reads
//! no row from PostgreSQL. The database stays the record: a miss hydrates from it, an entry
//! is written only after the commit (and never over a newer version), and a stale entry
//! (a worker died between commit and cache write) is caught by the version-conditional write
//! in `store::products`, dropped here and re-read.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::domain::Product;
use crate::store::products::StoredProduct;

/// Entries unused for a day expire; a miss only costs one read.
const TTL: Duration = Duration::from_secs(24 * 3600);

/// Sets each key unless the cached version is already newer: a slow writer can never put an
/// older state over a newer one.
const PUT_SCRIPT: &str = r#"
for i, key in ipairs(KEYS) do
  local new = cjson.decode(ARGV[i])
  local current = redis.call('GET', key)
  if (not current) or cjson.decode(current).version < new.version then
    redis.call('SET', key, ARGV[i], 'PX', ARGV[#KEYS + 1])
  end
end
return #KEYS
"#;

#[derive(Debug, thiserror::Error)]
#[error("stock cache: {operation} failed: {source}")]
pub struct CacheError {
    pub operation: &'static str,
    #[source]
    pub source: redis::RedisError,
}

impl CacheError {
    /// Redis unreachable (as opposed to a bad reply): stop receiving until it is back.
    pub fn is_outage(&self) -> bool {
        self.source.is_io_error()
            || self.source.is_connection_dropped()
            || self.source.is_timeout()
            || self.source.is_connection_refusal()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    name: Option<String>,
    available: i64,
    restocked: i64,
    confirmed: i64,
    cancelled: i64,
    version: i64,
}

/// A cached product: its stock and the version it was read at.
pub type Cached = (Product, i64);

#[derive(Clone)]
pub struct StockCache {
    conn: ConnectionManager,
    prefix: String,
    put: std::sync::Arc<redis::Script>,
}

impl StockCache {
    pub fn new(conn: ConnectionManager, key_prefix: &str) -> Self {
        let put = std::sync::Arc::new(redis::Script::new(PUT_SCRIPT));
        Self {
            conn,
            prefix: key_prefix.to_owned(),
            put,
        }
    }

    fn key(&self, product_id: &str) -> String {
        format!("{}stock:{product_id}", self.prefix)
    }

    /// The cached entries among `ids`; absent or unreadable entries are misses.
    pub async fn get_many(&self, ids: &[String]) -> Result<BTreeMap<String, Cached>, CacheError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        let mut cmd = redis::cmd("MGET");
        cmd.arg(&keys);
        let values: Vec<Option<String>> =
            cmd.query_async(&mut self.conn.clone())
                .await
                .map_err(|source| CacheError {
                    operation: "MGET",
                    source,
                })?;
        Ok(ids
            .iter()
            .zip(values)
            .filter_map(|(id, v)| Some((id.clone(), decode(v?.as_str())?)))
            .collect())
    }

    /// Writes the committed states (id, product, version); never called before the commit.
    pub async fn put_many(&self, entries: &[(String, Product, i64)]) -> Result<(), CacheError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut invocation = self.put.prepare_invoke();
        for (id, product, version) in entries {
            invocation.key(self.key(id)).arg(encode(product, *version));
        }
        invocation.arg(TTL.as_millis() as u64);
        let _: i64 = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|source| CacheError {
                operation: "put",
                source,
            })?;
        Ok(())
    }

    /// Whether Redis answers: part of the worker's health probe.
    pub async fn ping(&self) -> bool {
        let pong: Result<String, _> = redis::cmd("PING").query_async(&mut self.conn.clone()).await;
        pong.is_ok()
    }

    /// Drops entries found stale, so the next read hydrates from the database.
    pub async fn forget(&self, ids: &[String]) -> Result<(), CacheError> {
        if ids.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        let mut cmd = redis::cmd("DEL");
        cmd.arg(&keys);
        let _: i64 = cmd
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|source| CacheError {
                operation: "DEL",
                source,
            })?;
        Ok(())
    }
}

impl From<&StoredProduct> for (Product, i64) {
    fn from(stored: &StoredProduct) -> Self {
        (stored.product.clone(), stored.version)
    }
}

fn encode(p: &Product, version: i64) -> String {
    let entry = Entry {
        name: p.name.clone(),
        available: p.available,
        restocked: p.restocked,
        confirmed: p.confirmed,
        cancelled: p.cancelled,
        version,
    };
    serde_json::to_string(&entry).unwrap_or_default()
}

fn decode(raw: &str) -> Option<Cached> {
    let e: Entry = serde_json::from_str(raw).ok()?;
    let product = Product {
        name: e.name,
        available: e.available,
        restocked: e.restocked,
        confirmed: e.confirmed,
        cancelled: e.cancelled,
    };
    Some((product, e.version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_and_garbage_is_a_miss() {
        let p = Product {
            name: Some("Bread".into()),
            available: 3,
            restocked: 5,
            confirmed: 2,
            cancelled: 0,
        };
        assert_eq!(decode(&encode(&p, 7)), Some((p, 7)));
        assert_eq!(decode("not json"), None);
    }
}
