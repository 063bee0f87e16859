//! The Lua scripts behind the lock. Each check-then-act runs as one script because Redis
//! executes a script atomically: between a GET and a DEL run as separate commands, the key
//! can expire and be taken by another worker, whose lock we would then delete.
//!
//! A script's keys must share one hash slot on a Redis Cluster (or it answers `CROSSSLOT`):
//! the lock calls each script once per slot group (`keys.rs`), never across slots.

use std::time::Duration;

use redis::{ErrorKind, RedisError, RedisResult, Script};

use crate::redis_conn::RedisConnection;

/// All-or-nothing: checking every key before setting any is what keeps a batch from holding
/// half its products (and so from deadlocking against a batch holding the other half). The
/// fence comes first: if Redis refuses the write (out of memory), no lock is left set.
/// KEYS = n lock keys then the fence counter; ARGV = owner token, lease in ms, counter TTL
/// in ms. Returns {1, fence} or {0, index of the first held key}.
const ACQUIRE: &str = r"
local n = #KEYS - 1
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    return {0, i}
  end
end
local fence = redis.call('INCR', KEYS[n + 1])
redis.call('PEXPIRE', KEYS[n + 1], ARGV[3])
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return {1, fence}
";

/// Extends only keys that still carry our token: extending someone else's lock would let
/// it outlive its owner. Returns the 1-based indices of keys that are no longer ours.
const EXTEND: &str = r"
local not_ours = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  else
    not_ours[#not_ours + 1] = i
  end
end
return not_ours
";

/// Compare-and-delete, for the same reason as EXTEND. Returns indices no longer ours.
const RELEASE: &str = r"
local not_ours = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
  else
    not_ours[#not_ours + 1] = i
  end
end
return not_ours
";

/// Only ever raises the counter: two workers reseeding from different DB snapshots must not
/// pull it back below a token already handed out. ARGV = the least value, the counter's TTL
/// in ms. Returns the counter's value afterwards.
const RESEED: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local wanted = tonumber(ARGV[1])
if current < wanted then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return wanted
end
return current
";

/// What one acquisition attempt found.
pub(super) enum Attempt {
    /// Every key is ours, under this fencing token.
    Acquired(i64),
    /// Nothing was set because the key at this (0-based) index is held.
    Held(usize),
}

/// The loaded scripts; shared behind an `Arc` so clones of the lock reuse their hashes.
pub(super) struct Scripts {
    acquire: Script,
    extend: Script,
    release: Script,
    reseed: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            acquire: Script::new(ACQUIRE),
            extend: Script::new(EXTEND),
            release: Script::new(RELEASE),
            reseed: Script::new(RESEED),
        }
    }

    pub(super) async fn acquire(
        &self,
        conn: &mut RedisConnection,
        keys: (&[String], &str),
        token: &str,
        lease: Duration,
    ) -> RedisResult<Attempt> {
        let (locks, fence) = keys;
        let mut call = self.acquire.prepare_invoke();
        call.key(locks).key(fence).arg(token).arg(lease_ms(lease));
        call.arg(lease_ms(super::FENCE_TTL));
        parse_attempt(call.invoke_async(conn).await?)
    }

    pub(super) async fn extend(
        &self,
        conn: &mut RedisConnection,
        locks: &[String],
        token: &str,
        lease: Duration,
    ) -> RedisResult<Vec<usize>> {
        let mut call = self.extend.prepare_invoke();
        call.key(locks).arg(token).arg(lease_ms(lease));
        Ok(zero_based(call.invoke_async(conn).await?))
    }

    pub(super) async fn release(
        &self,
        conn: &mut RedisConnection,
        locks: &[String],
        token: &str,
    ) -> RedisResult<Vec<usize>> {
        let mut call = self.release.prepare_invoke();
        call.key(locks).arg(token);
        Ok(zero_based(call.invoke_async(conn).await?))
    }

    pub(super) async fn reseed(
        &self,
        conn: &mut RedisConnection,
        fence_key: &str,
        at_least: i64,
    ) -> RedisResult<i64> {
        let mut call = self.reseed.prepare_invoke();
        call.key(fence_key)
            .arg(at_least)
            .arg(lease_ms(super::FENCE_TTL));
        call.invoke_async(conn).await
    }
}

/// PX 0 is a Redis error, and a sub-millisecond lease is a configuration mistake anyway.
fn lease_ms(lease: Duration) -> u64 {
    u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn parse_attempt(reply: Vec<i64>) -> RedisResult<Attempt> {
    match reply.split_first() {
        Some((1, [fence])) => Ok(Attempt::Acquired(*fence)),
        Some((0, [held])) if *held >= 1 => Ok(Attempt::Held(index_from_lua(*held))),
        _ => Err(RedisError::from((
            ErrorKind::UnexpectedReturnType,
            "acquire script returned an unexpected reply",
            format!("{reply:?}"),
        ))),
    }
}

fn zero_based(lua_indices: Vec<i64>) -> Vec<usize> {
    lua_indices.into_iter().map(index_from_lua).collect()
}

/// Lua arrays start at 1; the script only ever returns indices it enumerated from KEYS.
fn index_from_lua(index: i64) -> usize {
    usize::try_from(index - 1).unwrap_or(usize::MAX)
}
