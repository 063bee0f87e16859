//! One acquisition's locks: the fencing tokens the write DB checks, the `lost` alarm the batch
//! watches, and the release that must come only after the commit (ARCHITECTURE.md step 6).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::scripts::Scripts;
use super::watchdog::{Lease, Watchdog};
use super::{bounded, LockError};

/// What `release` found. Keys that were no longer ours mean the lease expired or was taken
/// over while we worked: the fence check in the DB is what kept that harmless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseReport {
    pub released: usize,
    /// Product ids (not Redis keys) whose lock no longer held our owner token.
    pub not_ours: Vec<String>,
}

/// Locks held for one batch; product ids and keys are index-aligned and sorted, and share one
/// fencing token.
pub struct HeldLocks {
    conn: ConnectionManager,
    scripts: Arc<Scripts>,
    token: String,
    product_ids: Vec<String>,
    locks: Vec<String>,
    fence: i64,
    lease: Duration,
    lost: CancellationToken,
    watchdog: Option<Watchdog>,
}

/// What a successful acquisition hands over; built by `StockLock::acquire`.
pub(super) struct Granted {
    pub(super) conn: ConnectionManager,
    pub(super) scripts: Arc<Scripts>,
    pub(super) token: String,
    pub(super) product_ids: Vec<String>,
    pub(super) locks: Vec<String>,
    pub(super) fence: i64,
    pub(super) lease: Duration,
    pub(super) assured: Instant,
}

impl HeldLocks {
    /// Starts the watchdog at once: the lease has been running since the acquire was sent.
    pub(super) fn start(granted: Granted) -> Self {
        let lost = CancellationToken::new();
        let watchdog = (!granted.locks.is_empty()).then(|| {
            let lease = Lease {
                conn: granted.conn.clone(),
                scripts: Arc::clone(&granted.scripts),
                locks: granted.locks.clone(),
                token: granted.token.clone(),
                lease: granted.lease,
                lost: lost.clone(),
            };
            Watchdog::spawn(lease, granted.assured)
        });
        let Granted {
            conn,
            scripts,
            token,
            product_ids,
            locks,
            fence,
            lease,
            ..
        } = granted;
        Self {
            conn,
            scripts,
            token,
            product_ids,
            locks,
            fence,
            lease,
            lost,
            watchdog,
        }
    }

    /// The token to write with `fence <= $token`; `None` for a product this batch did not lock.
    pub fn fence(&self, product_id: &str) -> Option<i64> {
        self.product_ids
            .iter()
            .any(|id| id == product_id)
            .then_some(self.fence)
    }

    pub fn product_ids(&self) -> impl Iterator<Item = &str> {
        self.product_ids.iter().map(String::as_str)
    }

    /// Cancelled once any key is known lost or its lease can no longer be vouched for, and
    /// when these locks are released or dropped: past that point nothing guards the products.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Stops the watchdog before deleting, so it cannot extend a key we are giving up. On a
    /// Redis error the keys are left to expire by their lease, which also bounds the wait:
    /// by then there is nothing left to release.
    ///
    /// # Errors
    /// `Redis` if Redis failed or did not answer within the lease.
    pub async fn release(mut self) -> Result<ReleaseReport, LockError> {
        self.watchdog.take();
        let deadline = Instant::now() + self.lease;
        let release = self
            .scripts
            .release(&mut self.conn, &self.locks, &self.token);
        let not_ours = bounded(deadline, "release", release).await?;
        let not_ours: Vec<String> = not_ours
            .iter()
            .filter_map(|&i| self.product_ids.get(i).cloned())
            .collect();
        if !not_ours.is_empty() {
            tracing::warn!(?not_ours, "released locks that were no longer ours");
        }
        let released = self.locks.len().saturating_sub(not_ours.len());
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
        f.debug_struct("HeldLocks")
            .field("product_ids", &self.product_ids)
            .field("fence", &self.fence)
            .field("lost", &self.is_lost())
            .finish_non_exhaustive()
    }
}
