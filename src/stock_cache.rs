//! The stock cache: each product's stock and version in Redis, so a hot product's batch reads
//! no row from PostgreSQL. The database stays the record: a miss hydrates from it, an entry
//! is written only after the commit (and never over a newer version), and a stale entry
//! (a worker died between commit and cache write) is caught by the version-conditional write
//! in `store::products`, dropped here and re-read. An entry that cannot be read (garbage, an
//! older format, another type of key) is a miss: it is hydrated and replaced like any miss.
//! Every entry expires a day after its last write, so entries of products no longer sold
//! do not pile up; entries are only ever written for products the database holds.
//! Keys are `{prefix}stock:{<product>}`: the product is the hash tag, so on a Redis Cluster
//! an entry sits in the slot of the product's lock, and the conditional write runs once per
//! slot (a script's keys must share one); MGET and DEL the cluster client splits by itself.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::Product;
use crate::redis_conn::RedisConnection;
use crate::redis_slot::group_by_slot;
use crate::store::products::StoredProduct;

/// Entries not written for a day expire; a miss only costs one read.
const TTL: Duration = Duration::from_secs(24 * 3600);

/// The entry format this build writes and reads; an entry of any other (or none) is a miss.
/// Change it with any change to [`Entry`] that an older reader would misread.
const FORMAT: u32 = 1;

/// Sets each key unless it holds a readable entry of a newer version: a slow writer can
/// never put an older state over a newer one, and an unreadable entry (garbage, another
/// format, another type of key) never blocks the write that replaces it.
/// KEYS = entry keys; ARGV = one encoded entry per key, then the TTL in ms, then the format.
const PUT_SCRIPT: &str = r#"
local n = #KEYS
local ttl, format = ARGV[n + 1], tonumber(ARGV[n + 2])
local function version_of(raw)
  if type(raw) ~= 'string' then
    return nil
  end
  local ok, entry = pcall(cjson.decode, raw)
  if ok and type(entry) == 'table' and entry.format == format and type(entry.version) == 'number' then
    return entry.version
  end
  return nil
end
for i, key in ipairs(KEYS) do
  local new = cjson.decode(ARGV[i])
  local current = version_of(redis.pcall('GET', key))
  if current == nil or current < new.version then
    redis.call('SET', key, ARGV[i], 'PX', ttl)
  end
end
return n
"#;

#[derive(Debug, thiserror::Error)]
#[error("stock cache: {operation} failed{}: {source}", oom_hint(.source))]
pub struct CacheError {
    pub operation: &'static str,
    #[source]
    pub source: redis::RedisError,
}

impl CacheError {
    /// Redis unreachable or out of memory (as opposed to a bad reply): stop receiving until
    /// it is back.
    pub fn is_outage(&self) -> bool {
        crate::redis_fault::is_outage(&self.source)
    }
}

/// Says so when Redis refused for want of memory; its own message only hints at it.
fn oom_hint(source: &redis::RedisError) -> String {
    match crate::redis_fault::is_out_of_memory(source) {
        true => format!(" ({})", crate::redis_fault::OUT_OF_MEMORY),
        false => String::new(),
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    format: u32,
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
    conn: RedisConnection,
    prefix: String,
    put: std::sync::Arc<redis::Script>,
}

impl StockCache {
    pub fn new(conn: impl Into<RedisConnection>, key_prefix: &str) -> Self {
        let conn = conn.into();
        let put = std::sync::Arc::new(redis::Script::new(PUT_SCRIPT));
        Self {
            conn,
            prefix: key_prefix.to_owned(),
            put,
        }
    }

    fn key(&self, product_id: &str) -> String {
        format!("{}stock:{{{product_id}}}", self.prefix)
    }

    /// The cached entries among `ids`; absent or unreadable entries are misses (the latter
    /// logged: the hydration that follows replaces them).
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
            .filter_map(|(id, raw)| Some((id.clone(), readable(id, &raw?)?)))
            .collect())
    }

    /// Writes the committed states (id, product, version); never called before the commit.
    /// On a cluster the slots' writes go out together (they are independent: each slot's
    /// script only compares and sets its own keys), so a spread group waits for one round
    /// trip, not one per slot.
    pub async fn put_many(&self, entries: &[(String, Product, i64)]) -> Result<(), CacheError> {
        let slots = self.by_slot(entries);
        let writes = slots
            .iter()
            .map(|slot_entries| self.put_one_slot(slot_entries));
        futures::future::try_join_all(writes).await?;
        Ok(())
    }

    /// All entries together on a single node; one share per slot on a cluster.
    fn by_slot<'a>(
        &self,
        entries: &'a [(String, Product, i64)],
    ) -> Vec<Vec<&'a (String, Product, i64)>> {
        let entries: Vec<_> = entries.iter().collect();
        match (entries.is_empty(), self.conn.is_cluster()) {
            (true, _) => Vec::new(),
            (false, false) => vec![entries],
            (false, true) => group_by_slot(entries, |(id, _, _)| self.key(id))
                .into_values()
                .collect(),
        }
    }

    async fn put_one_slot(&self, entries: &[&(String, Product, i64)]) -> Result<(), CacheError> {
        let mut invocation = self.put.prepare_invoke();
        for (id, product, version) in entries {
            invocation.key(self.key(id)).arg(encode(product, *version));
        }
        invocation.arg(TTL.as_millis() as u64).arg(FORMAT);
        let _: i64 = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|source| CacheError {
                operation: "put",
                source,
            })?;
        Ok(())
    }

    /// Whether Redis takes a write: part of the worker's health probe. PING would not do:
    /// Redis out of memory answers it while refusing every write.
    pub async fn takes_writes(&self) -> bool {
        let mut set = redis::cmd("SET");
        set.arg(format!("{}health", self.prefix))
            .arg("1")
            .arg("PX")
            .arg(10_000);
        let done: Result<(), _> = set.query_async(&mut self.conn.clone()).await;
        done.is_ok()
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
        format: FORMAT,
        name: p.name.clone(),
        available: p.available,
        restocked: p.restocked,
        confirmed: p.confirmed,
        cancelled: p.cancelled,
        version,
    };
    serde_json::to_string(&entry).unwrap_or_default()
}

/// The entry `raw` of product `id`, or `None` (logged) when it cannot be read.
fn readable(id: &str, raw: &str) -> Option<Cached> {
    let entry = decode(raw);
    if entry.is_none() {
        tracing::warn!(
            product_id = id,
            "unreadable stock-cache entry (garbage or another format): read from the database and replaced"
        );
    }
    entry
}

fn decode(raw: &str) -> Option<Cached> {
    let e: Entry = serde_json::from_str(raw).ok()?;
    if e.format != FORMAT {
        return None;
    }
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

    #[test]
    fn an_entry_of_another_format_or_none_is_a_miss() {
        let unmarked =
            r#"{"name":null,"available":1,"restocked":1,"confirmed":0,"cancelled":0,"version":3}"#;
        assert_eq!(decode(unmarked), None);
        let newer = unmarked.replace("{", r#"{"format":2,"#);
        assert_eq!(decode(&newer), None);
        let current = unmarked.replace("{", r#"{"format":1,"#);
        assert!(decode(&current).is_some());
    }
}
