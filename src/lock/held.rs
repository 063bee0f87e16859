//! One acquisition's locks: the fencing tokens the write DB checks, the `lost` alarm the batch
//! watches, and the release that must come only after the commit (ARCHITECTURE.md step 6).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::keys::SlotGroup;
use super::scripts::Scripts;
use super::watchdog::{Lease, Watchdog};
use super::{bounded, LockError};
use crate::redis_conn::RedisConnection;

/// What `release` found. Keys that were no longer ours mean the lease expired or was taken
/// over while we worked: the fence check in the DB is what kept that harmless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseReport {
    pub released: usize,
    /// Product ids (not Redis keys) whose lock no longer held our owner token.
    pub not_ours: Vec<String>,
}

/// Locks held for one batch: per slot group (one on a single node) its sorted products,
/// their keys and the fencing token of that group's counter.
pub struct HeldLocks {
    conn: RedisConnection,
    scripts: Arc<Scripts>,
    token: String,
    groups: Vec<(SlotGroup, i64)>,
    lease: Duration,
    lost: CancellationToken,
    watchdog: Option<Watchdog>,
}

/// What a successful acquisition hands over; built by `StockLock::acquire`.
pub(super) struct Granted {
    pub(super) conn: RedisConnection,
    pub(super) scripts: Arc<Scripts>,
    pub(super) token: String,
    pub(super) groups: Vec<(SlotGroup, i64)>,
    pub(super) lease: Duration,
    pub(super) assured: Instant,
}

impl HeldLocks {
    /// Starts the watchdog at once: the lease has been running since the acquire was sent.
    pub(super) fn start(granted: Granted) -> Self {
        let lost = CancellationToken::new();
        let Granted {
            conn,
            scripts,
            token,
            groups,
            lease,
            assured,
        } = granted;
        let locks: Vec<Vec<String>> = groups.iter().map(|(g, _)| g.locks.clone()).collect();
        let watchdog = locks.iter().any(|l| !l.is_empty()).then(|| {
            let guarded = Lease {
                conn: conn.clone(),
                scripts: Arc::clone(&scripts),
                groups: locks,
                token: token.clone(),
                lease,
                lost: lost.clone(),
            };
            Watchdog::spawn(guarded, assured)
        });
        Self {
            conn,
            scripts,
            token,
            groups,
            lease,
            lost,
            watchdog,
        }
    }

    /// The token to write with `fence <= $token`; `None` for a product this batch did not
    /// lock. Products of one slot group share it.
    pub fn fence(&self, product_id: &str) -> Option<i64> {
        let holds =
            |(group, _): &&(SlotGroup, i64)| group.product_ids.iter().any(|id| id == product_id);
        self.groups.iter().find(holds).map(|(_, fence)| *fence)
    }

    /// Every product held, sorted.
    pub fn product_ids(&self) -> impl Iterator<Item = &str> {
        let mut ids: Vec<&str> = self
            .groups
            .iter()
            .flat_map(|(g, _)| g.product_ids.iter().map(String::as_str))
            .collect();
        ids.sort_unstable();
        ids.into_iter()
    }

    /// Cancelled once any key is known lost or its lease can no longer be vouched for, and
    /// when these locks are released or dropped: past that point nothing guards the products.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Stops the watchdog before deleting, so it cannot extend a key we are giving up. Every
    /// slot group is released even when one fails; on a Redis error the keys are left to
    /// expire by their lease, which also bounds the wait: by then there is nothing left to
    /// release.
    ///
    /// # Errors
    /// `Redis` (the first failure) if Redis failed or did not answer within the lease.
    pub async fn release(mut self) -> Result<ReleaseReport, LockError> {
        self.watchdog.take();
        let deadline = Instant::now() + self.lease;
        let (mut not_ours, mut failed) = (Vec::new(), None);
        for (group, _) in &self.groups {
            let release = self
                .scripts
                .release(&mut self.conn, &group.locks, &self.token);
            match bounded(deadline, "release", release).await {
                Ok(lost) => not_ours.extend(lost.into_iter().map(|i| group.product_id(i))),
                Err(error) => failed = failed.or(Some(error)),
            }
        }
        if let Some(error) = failed {
            return Err(error);
        }
        if !not_ours.is_empty() {
            tracing::warn!(?not_ours, "released locks that were no longer ours");
        }
        let held: usize = self.groups.iter().map(|(g, _)| g.locks.len()).sum();
        let released = held.saturating_sub(not_ours.len());
        Ok(ReleaseReport { released, not_ours })
    }
}

impl Drop for HeldLocks {
    /// The watchdog (a field) stops on its own drop; whoever still watches `lost` must learn
    /// that the products are unguarded from here on.
    fn drop(&mut self) {
        self.lost.cancel();
    }
}

impl std::fmt::Debug for HeldLocks {
    /// Leaves out the owner token: anyone who logs it could release our locks.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fences: Vec<(&[String], i64)> = self
            .groups
            .iter()
            .map(|(g, fence)| (g.product_ids.as_slice(), *fence))
            .collect();
        f.debug_struct("HeldLocks")
            .field("fences", &fences)
            .field("lost", &self.is_lost())
            .finish_non_exhaustive()
    }
}
