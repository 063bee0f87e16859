//! Running the units that `group.rs` forms: each command is submitted with its products and
//! answered through a oneshot when its unit commits. A unit runs in a task of its own, so
//! unrelated products commit side by side; when it ends, its products are free again and
//! the next unit is formed at once. A unit whose products all still have work waiting keeps
//! its lease (locks, fences and the stock it committed) into the next unit, up to
//! [`GroupLimits::max_lease_streak`] units, instead of releasing and acquiring again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use sqlx::pool::PoolConnection;
use sqlx::Postgres;
use tokio::sync::oneshot;

use super::group::{GroupLimits, Queue, Unit};
use super::{Recorded, Valid, Worker, WorkerError};
use crate::domain::Product;
use crate::lock::HeldLocks;

/// A command's answer: what was recorded for it, or why it was not applied.
pub(super) type Answer = Result<Recorded, WorkerError>;

/// A submitted command and where its answer goes.
pub(super) struct Pending {
    pub valid: Valid,
    pub products: BTreeSet<String>,
    pub reply: oneshot::Sender<Answer>,
}

/// Locks held across units, with the stock as this process last committed it under them
/// (authoritative while the lease is held: nobody else may write these products).
pub(super) struct Lease {
    pub locks: HeldLocks,
    pub streak: u32,
    pub stock: BTreeMap<String, (Product, i64)>,
    /// The connection of this lease's last unit, kept for its next (see
    /// [`Worker::keep_connection`]); back to the pool with the lease.
    pub conn: Option<PoolConnection<Postgres>>,
}

impl Lease {
    /// A lease just taken: first of its streak, no stock known, no connection kept yet.
    pub(super) fn new(locks: HeldLocks) -> Self {
        Self {
            locks,
            streak: 0,
            stock: BTreeMap::new(),
            conn: None,
        }
    }

    pub(super) fn products(&self) -> BTreeSet<String> {
        self.locks.product_ids().map(str::to_owned).collect()
    }

    /// Usable for a unit over `products`: still ours, and it covers them all.
    pub(super) fn covers(&self, products: &BTreeSet<String>) -> bool {
        !self.locks.is_lost() && products.iter().all(|p| self.locks.fence(p).is_some())
    }
}

/// The process's waiting commands; one per worker, shared by its clones.
pub(super) struct Dispatcher {
    queue: Mutex<Queue<Pending>>,
    limits: GroupLimits,
}

impl Dispatcher {
    pub(super) fn new(limits: GroupLimits) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            limits,
        }
    }

    /// Whether every one of `products` has commands waiting (a lease over them would be kept).
    pub(super) fn wanted(&self, products: &BTreeSet<String>) -> bool {
        self.queue().wanted(products)
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue<Pending>> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Worker {
    /// Queues a receive's commands, each behind the products it touches (together, so
    /// that they can share a unit); each answer comes when its unit ends.
    pub(super) fn submit(
        &self,
        commands: Vec<(Valid, BTreeSet<String>)>,
    ) -> Vec<(usize, oneshot::Receiver<Answer>)> {
        let mut queue = self.groups.queue();
        let answers = commands
            .into_iter()
            .map(|(valid, products)| {
                let (reply, answer) = oneshot::channel();
                let index = valid.index;
                let pending = Pending {
                    valid,
                    products: products.clone(),
                    reply,
                };
                queue.push(products, pending);
                (index, answer)
            })
            .collect();
        drop(queue);
        self.dispatch(None);
        answers
    }

    /// Starts units while there is room: first one within `kept`'s products (which reuses
    /// it), then any others. A kept lease no unit could use is released.
    fn dispatch(&self, mut kept: Option<Lease>) {
        let limits = self.groups.limits;
        let mut queue = self.groups.queue();
        while queue.has_room(&limits) {
            let within = kept.as_ref().map(Lease::products);
            let unit = queue.take_unit(limits.max_commands, within.as_ref());
            if unit.items.is_empty() && within.is_some() {
                release_later(kept.take());
                continue;
            }
            if unit.items.is_empty() {
                break;
            }
            let lease = kept.take().map(|l| Lease {
                streak: l.streak + 1,
                ..l
            });
            tokio::spawn(self.clone().run_unit(unit, lease));
        }
        drop(queue);
        release_later(kept);
    }

    /// Commits the unit, answers each command, frees the products and forms the next unit.
    async fn run_unit(self, unit: Unit<Pending>, lease: Option<Lease>) {
        let Unit { products, items } = unit;
        let lease = self.commit_splitting(items, &products, lease).await;
        let max_streak = self.groups.limits.max_lease_streak;
        let mut queue = self.groups.queue();
        queue.finish(&products);
        let (keep, give_back) = match lease {
            Some(l) if l.streak < max_streak && queue.wanted(&l.products()) => (Some(l), None),
            other => (None, other),
        };
        drop(queue);
        release_later(give_back);
        self.dispatch(keep);
    }

    /// Commits the unit and answers its commands; a product locked by another process is
    /// split off first (its commands then wait for it on their own, answered later), so it
    /// holds up none of the others.
    async fn commit_splitting(
        &self,
        items: Vec<Pending>,
        products: &BTreeSet<String>,
        lease: Option<Lease>,
    ) -> Option<Lease> {
        if items.is_empty() || lease.as_ref().is_some_and(|l| l.covers(products)) {
            return self.commit_and_answer(items, products, lease).await;
        }
        release_now(lease).await;
        let ids: Vec<&str> = products.iter().map(String::as_str).collect();
        match self.locks.try_acquire(&ids).await {
            Ok(Ok(locks)) => {
                self.stats.lock_round();
                let lease = Some(Lease::new(locks));
                self.commit_and_answer(items, products, lease).await
            }
            Ok(Err(held)) => self.split_off(items, &held).await,
            Err(e) => {
                let e: WorkerError = e.into();
                items
                    .into_iter()
                    .for_each(|p| answer(p.reply, Err(e.clone())));
                None
            }
        }
    }

    /// Commits (and answers) the commands free of `held` first, then those that need it,
    /// waiting for its lock as long as it takes; meanwhile the unit counts as stalled, so
    /// units of other products start beside it.
    async fn split_off(&self, items: Vec<Pending>, held: &str) -> Option<Lease> {
        let (waiting, free): (Vec<Pending>, Vec<Pending>) =
            items.into_iter().partition(|p| p.products.contains(held));
        let union = |ps: &[Pending]| -> BTreeSet<String> {
            ps.iter().flat_map(|p| p.products.iter().cloned()).collect()
        };
        let free_products = union(&free);
        let free_lease = Box::pin(self.commit_splitting(free, &free_products, None)).await;
        release_later(free_lease);
        let wait_products = union(&waiting);
        self.groups.queue().stall();
        self.dispatch(None);
        let lease = self.commit_and_answer(waiting, &wait_products, None).await;
        self.groups.queue().unstall();
        lease
    }

    /// One commit (or command by command, see [`Worker::commit_or_isolate`]); each command
    /// answered.
    async fn commit_and_answer(
        &self,
        items: Vec<Pending>,
        products: &BTreeSet<String>,
        lease: Option<Lease>,
    ) -> Option<Lease> {
        if items.is_empty() {
            return lease;
        }
        let (valid, replies): (Vec<Valid>, Vec<_>) =
            items.into_iter().map(|p| (p.valid, p.reply)).unzip();
        let valid = positioned(valid);
        let (answers, lease) = self.commit_or_isolate(&valid, products, lease).await;
        for (reply, a) in replies.into_iter().zip(answers) {
            answer(reply, a);
        }
        lease
    }

    /// The unit as one commit; if it fails for an unexpected reason, each command alone, so
    /// that one poisoned command fails only itself.
    async fn commit_or_isolate(
        &self,
        valid: &[Valid],
        products: &BTreeSet<String>,
        lease: Option<Lease>,
    ) -> (Vec<Answer>, Option<Lease>) {
        let refs: Vec<&Valid> = valid.iter().collect();
        match self.commit_unit(&refs, products, lease).await {
            (Ok(records), lease) => (records.into_iter().map(Ok).collect(), lease),
            (Err(WorkerError::Failed(why)), lease) if valid.len() > 1 => {
                release_later(lease);
                tracing::warn!(%why, commands = valid.len(), "unit failed; committing its commands one by one");
                (self.one_by_one(valid, products).await, None)
            }
            (Err(e), lease) => (vec![Err(e); valid.len()], lease),
        }
    }

    /// Each command as a unit of its own, under locks on the whole unit's products (still
    /// busy here, so nothing else of this process waits on them meanwhile), in the unit's
    /// order. At the first failure the rest are not tried: a later command may be of the
    /// failed one's FIFO group, which it must not overtake. Their receives, failed too, are
    /// then taken apart message by message, where the groups are known.
    async fn one_by_one(&self, valid: &[Valid], products: &BTreeSet<String>) -> Vec<Answer> {
        let mut answers = Vec::with_capacity(valid.len());
        for v in valid {
            let alone = Valid {
                index: 0,
                ..v.clone()
            };
            let (answer, lease) = self.commit_unit(&[&alone], products, None).await;
            release_later(lease);
            let answer = answer.map(|mut records| records.remove(0));
            if let Err(e) = &answer {
                let rest = not_tried(e);
                answers.push(answer);
                answers.resize(valid.len(), Err(rest));
                return answers;
            }
            answers.push(answer);
        }
        answers
    }
}

/// What the commands after a failed one in [`Worker::one_by_one`] answer: the same outage,
/// or a failure, so that their receives are taken apart and each is tried alone (a retry
/// of the whole receive could send one on its last delivery to the DLQ).
fn not_tried(failed: &WorkerError) -> WorkerError {
    match failed {
        WorkerError::Outage { .. } => failed.clone(),
        e => WorkerError::Failed(format!(
            "not tried: an earlier command of its unit failed ({e})"
        )),
    }
}

fn answer(reply: oneshot::Sender<Answer>, answer: Answer) {
    let _receiver_gone = reply.send(answer);
}

/// Each command's `index` set to its position, as a unit's commit expects.
fn positioned(mut valid: Vec<Valid>) -> Vec<Valid> {
    for (position, v) in valid.iter_mut().enumerate() {
        v.index = position;
    }
    valid
}

/// Gives a lease back in the background: nobody waits for a release. After the
/// `worker::before_unlock` failpoint, whose error leaves the locks to expire by their lease,
/// as a failed release does.
pub(super) fn release_later(lease: Option<Lease>) {
    if lease.is_some() {
        tokio::spawn(release_now(lease));
    }
}

/// Gives a lease back before going on (when the next step may want the same products).
async fn release_now(lease: Option<Lease>) {
    let Some(lease) = lease else {
        return;
    };
    if let Err(e) = crate::failpoint::step("worker::before_unlock") {
        tracing::warn!(error = %e, "locks left to expire by their lease");
        return;
    }
    if let Err(e) = lease.locks.release().await {
        tracing::warn!(error = %e, "lock release failed; the lease will expire");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_an_outage_the_rest_wait_for_the_same_outage() {
        let outage = WorkerError::Outage {
            dependency: "Redis",
            detail: "connection refused".into(),
        };
        let rest = not_tried(&outage);
        assert!(
            matches!(
                rest,
                WorkerError::Outage {
                    dependency: "Redis",
                    ..
                }
            ),
            "{rest}"
        );
    }

    #[test]
    fn after_a_failure_or_a_retry_the_rest_fail_so_each_is_tried_alone() {
        for failed in [
            WorkerError::Failed("poisoned".into()),
            WorkerError::Transient("lock busy".into()),
        ] {
            let rest = not_tried(&failed);
            let WorkerError::Failed(why) = &rest else {
                panic!("expected a failure, got {rest}");
            };
            assert!(
                why.contains("not tried") && why.contains(&failed.to_string()),
                "{why}"
            );
        }
    }
}
