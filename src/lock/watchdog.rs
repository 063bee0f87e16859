//! Keeps a held lock's leases alive while the batch works, and raises the alarm (`lost`) the
//! moment ownership is gone or can no longer be vouched for. A lease is only as good as the
//! last extension Redis confirmed, so the deadline is counted from when that request was
//! *sent*: Redis started the new lease no earlier than that.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout_at, Instant};
use tokio_util::sync::CancellationToken;

use super::scripts::Scripts;
use crate::redis_conn::RedisConnection;

/// Redis and this process measure the lease on different clocks; giving up a little early
/// (1/50 of the lease) covers clock drift between the two.
const DRIFT_DIVISOR: u32 = 50;

/// The local instant until which a lease started by a request sent at `sent` is certain
/// to still be ours.
pub(super) fn assured_until(sent: Instant, lease: Duration) -> Instant {
    sent + lease.saturating_sub(lease / DRIFT_DIVISOR)
}

/// Everything the extension loop needs; owned by the task so the task outlives no borrow.
pub(super) struct Lease {
    pub(super) conn: RedisConnection,
    pub(super) scripts: Arc<Scripts>,
    /// The lock keys of each slot group: one extension script per group.
    pub(super) groups: Vec<Vec<String>>,
    pub(super) token: String,
    pub(super) lease: Duration,
    pub(super) lost: CancellationToken,
}

/// The running extension task. Dropping it stops the task, so an abandoned lock is no longer
/// extended and simply expires by its lease.
pub(super) struct Watchdog(JoinHandle<()>);

impl Watchdog {
    pub(super) fn spawn(lease: Lease, assured: Instant) -> Self {
        Self(tokio::spawn(lease.guard(assured)))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Lease {
    /// Extends every `lease / 3`, so two extensions can fail before the lease runs out.
    async fn guard(mut self, mut assured: Instant) {
        let period = self.lease / 3;
        let mut next = Instant::now() + period;
        loop {
            tokio::select! {
                () = self.lost.cancelled() => return,
                () = sleep_until(next.min(assured)) => {}
            }
            if Instant::now() >= assured {
                return self.give_up("lease could have expired before an extension was confirmed");
            }
            let sent = Instant::now();
            match self.extend_before(assured).await {
                Extension::Confirmed => {
                    (assured, next) = (assured_until(sent, self.lease), sent + period)
                }
                Extension::Failed => next = Instant::now() + self.retry_delay(),
                Extension::NotOurs(keys) => return self.give_up_on(&keys),
            }
        }
    }

    /// One extension attempt over every slot group, abandoned at `assured`: an answer
    /// arriving later is too late.
    async fn extend_before(&mut self, assured: Instant) -> Extension {
        let mut not_ours = Vec::new();
        for locks in &self.groups {
            let call = self
                .scripts
                .extend(&mut self.conn, locks, &self.token, self.lease);
            match timeout_at(assured, call).await {
                Ok(Ok(lost)) => not_ours.extend(lost.iter().filter_map(|&i| locks.get(i).cloned())),
                Ok(Err(error)) => {
                    tracing::warn!(%error, keys = ?locks, "lock lease extension failed; retrying");
                    return Extension::Failed;
                }
                Err(_elapsed) => return Extension::Failed,
            }
        }
        match not_ours.is_empty() {
            true => Extension::Confirmed,
            false => Extension::NotOurs(not_ours),
        }
    }

    /// Retrying quickly matters more than sparing Redis: the lease is running out.
    fn retry_delay(&self) -> Duration {
        (self.lease / 10).max(Duration::from_millis(1))
    }

    fn give_up_on(&self, keys: &[String]) {
        tracing::warn!(?keys, "lock keys no longer hold our owner token");
        self.lost.cancel();
    }

    fn give_up(&self, reason: &str) {
        tracing::warn!(keys = ?self.groups, reason, "lock ownership can no longer be assured");
        self.lost.cancel();
    }
}

enum Extension {
    Confirmed,
    Failed,
    NotOurs(Vec<String>),
}
