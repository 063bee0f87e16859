//! One attempt at a batch: early inbox check, lock round, stock read, one transaction,
//! cache write, release. Anything that means "the world moved under us" (a stale cache, a
//! newer lock holder, a concurrent duplicate, a cancel whose order appeared meanwhile) rolls
//! back and asks for another attempt; nothing is ever written on a guess.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use sqlx::{PgConnection, Postgres, Transaction};

use super::bugs;
use super::plan::{self, Before, Decided, Plan};
use super::{Fate, Valid, Worker, WorkerError};
use crate::contract::Command;
use crate::domain::{self, Outcome, Product, State};
use crate::failpoint;
use crate::lock::HeldLocks;
use crate::store::orders::{self, StoredOrder};
use crate::store::{inbox, invalid, outbox, products, StoreError};

pub(super) enum Retry {
    /// Try again; `relock` names products the next lock round must include.
    Again {
        why: String,
        relock: BTreeSet<String>,
    },
    Stop(WorkerError),
}

impl<E: Into<WorkerError>> From<E> for Retry {
    fn from(err: E) -> Self {
        match err.into() {
            WorkerError::Transient(why) => Retry::Again {
                why,
                relock: BTreeSet::new(),
            },
            other => Retry::Stop(other),
        }
    }
}

fn again(why: impl Into<String>) -> Retry {
    Retry::Again {
        why: why.into(),
        relock: BTreeSet::new(),
    }
}

type Fates = Vec<(usize, Fate)>;

impl Worker {
    pub(super) async fn attempt(
        &self,
        valid: &[Valid<'_>],
        extra: &BTreeSet<String>,
    ) -> Result<Fates, Retry> {
        let (mut fates, fresh) = self.drop_known(valid).await?;
        if fresh.is_empty() {
            return Ok(fates);
        }
        let product_ids = self.products_touched(&fresh, extra).await?;
        let refs: Vec<&str> = product_ids.iter().map(String::as_str).collect();
        let waiting = std::time::Instant::now();
        let held = match refs.is_empty() {
            true => None,
            false => Some(self.locks.acquire(&refs).await?),
        };
        self.stats.lock_round();
        metrics::histogram!("fulfil_lock_wait_seconds").record(waiting.elapsed().as_secs_f64());
        let holding = std::time::Instant::now();
        let mut held = held;
        let result = self.under_lock(&fresh, &product_ids, &mut held).await;
        metrics::histogram!("fulfil_lock_hold_seconds").record(holding.elapsed().as_secs_f64());
        if let Some(held) = held {
            if let Err(e) = unlock(held).await {
                tracing::warn!(error = %e, "lock release failed; the lease will expire");
            }
        }
        fates.extend(result?);
        Ok(fates)
    }

    /// Step 2: commands already in the inbox need no lock and no transaction. Only saves
    /// work: the inbox check inside the transaction is the guard.
    async fn drop_known<'v, 'a>(
        &self,
        valid: &'v [Valid<'a>],
    ) -> Result<(Fates, Vec<&'v Valid<'a>>), Retry> {
        if bugs::skip_inbox_check() {
            return Ok((Vec::new(), valid.iter().collect()));
        }
        let ids: Vec<String> = valid
            .iter()
            .map(|v| v.envelope.command_id.clone())
            .collect();
        let known = inbox::fingerprints(&self.pool, &ids).await?;
        let (mut fates, mut fresh) = (Vec::new(), Vec::new());
        for v in valid {
            match known.get(&v.envelope.command_id) {
                None => fresh.push(v),
                Some(fp) if *fp == v.fingerprint => fates.push((v.index, Fate::Duplicate)),
                Some(_) => {
                    invalid::keep_conflict(
                        &self.pool,
                        v.message_id,
                        &v.envelope.command_id,
                        &v.fingerprint,
                        v.body,
                    )
                    .await?;
                    fates.push((v.index, Fate::Conflict));
                }
            }
        }
        Ok((fates, fresh))
    }

    /// Every product the batch may change: order lines, restocks, and the lines of orders
    /// being cancelled.
    async fn products_touched(
        &self,
        fresh: &[&Valid<'_>],
        extra: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, Retry> {
        let mut ids: BTreeSet<String> = extra.clone();
        let mut cancels = Vec::new();
        for v in fresh {
            ids.extend(
                v.envelope
                    .command
                    .product_ids()
                    .into_iter()
                    .map(str::to_owned),
            );
            if let Command::CancelOrder(c) = &v.envelope.command {
                cancels.push(c.order_id.clone());
            }
        }
        if !cancels.is_empty() {
            for stored in orders::load(&self.pool, &cancels).await?.values() {
                ids.extend(stored.order.lines.iter().map(|l| l.product_id.clone()));
            }
        }
        Ok(ids)
    }

    /// Steps 4 to 6, holding the locks (`held` is only taken by a deliberately broken build).
    async fn under_lock(
        &self,
        fresh: &[&Valid<'_>],
        product_ids: &BTreeSet<String>,
        held: &mut Option<HeldLocks>,
    ) -> Result<Fates, Retry> {
        failpoint::step("worker::after_lock")?;
        let ids: Vec<String> = product_ids.iter().cloned().collect();
        let stock = self.read_stock(&ids).await?;
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let (stored_orders, pending) = self.load_orders(&mut tx, fresh, product_ids).await?;
        let mut state = State {
            products: stock
                .iter()
                .map(|(id, (p, _))| (id.clone(), p.clone()))
                .collect(),
            orders: stored_orders
                .iter()
                .map(|(id, s)| (id.clone(), s.order.clone()))
                .collect(),
            pending_cancels: pending.clone(),
            inbox: BTreeMap::new(),
        };
        let decided = decide_all(&mut state, fresh)?;
        let fences: BTreeMap<String, i64> = held.as_ref().map_or_else(BTreeMap::new, |h| {
            ids.iter()
                .filter_map(|id| Some((id.clone(), h.fence(id)?)))
                .collect()
        });
        let before = Before {
            products: &stock,
            orders: &stored_orders,
            pending: &pending,
        };
        let plan = plan::build(&before, &decided, &state, &fences, Utc::now());
        if let Err(err) = write(&mut tx, &plan, fresh, &decided).await {
            drop(tx);
            return Err(self.after_failed_write(err, held.as_ref()).await);
        }
        if held.as_ref().is_some_and(HeldLocks::is_lost) {
            return Err(again("lock lost before commit"));
        }
        bugs::release_lock_before_commit(held).await;
        failpoint::step("worker::before_commit")?;
        tx.commit().await.map_err(StoreError::from)?;
        self.stats.committed(fresh.len());
        failpoint::step("worker::after_commit_before_cache")?;
        self.cache_after_commit(&plan).await;
        Ok(fresh
            .iter()
            .zip(&decided)
            .map(|(v, d)| (v.index, fate_of(&d.outcome)))
            .collect())
    }

    /// Stock from the cache; misses hydrate from the database (committed state: safe to cache).
    async fn read_stock(&self, ids: &[String]) -> Result<BTreeMap<String, (Product, i64)>, Retry> {
        let mut stock = self.cache.get_many(ids).await?;
        let misses: Vec<String> = ids
            .iter()
            .filter(|id| !stock.contains_key(*id))
            .cloned()
            .collect();
        if misses.is_empty() {
            return Ok(stock);
        }
        let loaded = products::load(&self.pool, &misses).await?;
        let entries: Vec<(String, Product, i64)> = loaded
            .iter()
            .map(|(id, s)| (id.clone(), s.product.clone(), s.version))
            .collect();
        self.cache.put_many(&entries).await?;
        stock.extend(
            loaded
                .into_iter()
                .map(|(id, s)| (id, (s.product, s.version))),
        );
        Ok(stock)
    }

    /// Serialises on the batch's orders, re-checks the inbox under that lock, and loads the
    /// orders and pending cancels the domain needs.
    async fn load_orders(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        fresh: &[&Valid<'_>],
        locked: &BTreeSet<String>,
    ) -> Result<
        (
            BTreeMap<String, StoredOrder>,
            BTreeMap<String, domain::PendingCancel>,
        ),
        Retry,
    > {
        let order_ids: Vec<String> = fresh
            .iter()
            .filter_map(|v| order_id(&v.envelope.command))
            .collect();
        orders::lock_orders(tx, &order_ids).await?;
        let command_ids: Vec<String> = fresh
            .iter()
            .map(|v| v.envelope.command_id.clone())
            .collect();
        let known = inbox::fingerprints(&mut **tx, &command_ids).await?;
        if !known.is_empty() && !bugs::skip_inbox_check() {
            return Err(again("a command of the batch was applied concurrently"));
        }
        let stored = orders::load(&mut **tx, &order_ids).await?;
        let unlocked: BTreeSet<String> = stored
            .values()
            .flat_map(|s| s.order.lines.iter().map(|l| l.product_id.clone()))
            .filter(|p| !locked.contains(p))
            .collect();
        if !unlocked.is_empty() {
            return Err(Retry::Again {
                why: "an order being cancelled appeared meanwhile".into(),
                relock: unlocked,
            });
        }
        let pending = orders::load_pending(&mut **tx, &order_ids).await?;
        Ok((stored, pending))
    }

    /// A stale product: drop its cache entry, and if the database holds a newer fence than
    /// ours (Redis lost its counters), lift the counter above it before the next attempt.
    async fn after_failed_write(&self, err: StoreError, held: Option<&HeldLocks>) -> Retry {
        let StoreError::Stale { product_id } = &err else {
            return err.into();
        };
        let ids = [product_id.clone()];
        if let Err(e) = self.cache.forget(&ids).await {
            return e.into();
        }
        let db_fence = match products::load(&self.pool, &ids).await {
            Ok(rows) => rows.get(product_id).map_or(0, |s| s.fence),
            Err(e) => return e.into(),
        };
        let ours = held.and_then(|h| h.fence(product_id)).unwrap_or(0);
        if db_fence >= ours {
            tracing::warn!(%product_id, db_fence, ours, "fence behind the database (Redis lost its counters?): reseeding");
            if let Err(e) = self.locks.reseed_fence(product_id, db_fence).await {
                return e.into();
            }
        }
        again(err.to_string())
    }

    /// Step 6: the cache learns the committed stock. A failure here is harmless (the next
    /// batch's version-conditional write catches the stale entry), so it is only logged.
    async fn cache_after_commit(&self, plan: &Plan) {
        let entries: Vec<(String, Product, i64)> = plan
            .products
            .iter()
            .map(|w| (w.product_id.clone(), w.product.clone(), w.new_version()))
            .collect();
        if let Err(e) = self.cache.put_many(&entries).await {
            tracing::warn!(error = %e, "stock cache not updated after commit; it will be re-read");
        }
    }
}

/// Step 6's release, after the `worker::before_unlock` failpoint (whose error leaves the
/// locks to expire by their lease, as a failed release does).
async fn unlock(held: HeldLocks) -> Result<(), String> {
    failpoint::step("worker::before_unlock").map_err(|e| e.to_string())?;
    held.release().await.map_err(|e| e.to_string())?;
    Ok(())
}

fn order_id(command: &Command) -> Option<String> {
    match command {
        Command::PlaceOrder(p) => Some(p.order_id.clone()),
        Command::CancelOrder(c) => Some(c.order_id.clone()),
        Command::Restock(_) => None,
    }
}

/// Step 4: the pure core decides each command in arrival order.
fn decide_all<'v>(state: &mut State, fresh: &[&'v Valid<'v>]) -> Result<Vec<Decided<'v>>, Retry> {
    let mut decided = Vec::with_capacity(fresh.len());
    for v in fresh {
        let before = state.products.clone();
        let outcome = domain::decide(state, &v.envelope)
            .map_err(|e| Retry::Stop(WorkerError::Failed(e.to_string())))?;
        let changed_products = state
            .products
            .iter()
            .filter(|(id, p)| before.get(*id) != Some(p))
            .map(|(id, _)| id.clone())
            .collect();
        decided.push(Decided {
            envelope: &v.envelope,
            fingerprint: v.fingerprint.clone(),
            message_id: v.message_id,
            outcome,
            changed_products,
        });
    }
    Ok(decided)
}

/// Step 5: everything the batch changes, in one transaction.
async fn write(
    tx: &mut PgConnection,
    plan: &Plan,
    fresh: &[&Valid<'_>],
    decided: &[Decided<'_>],
) -> Result<(), StoreError> {
    bugs::insert_inbox(tx, &plan.inbox).await?;
    orders::write(tx, &plan.orders).await?;
    for (order_id, cancel) in &plan.remember_cancels {
        orders::remember_cancel(tx, order_id, cancel).await?;
    }
    for order_id in &plan.forget_cancels {
        orders::forget_cancel(tx, order_id).await?;
    }
    products::write(tx, &plan.products).await?;
    outbox::append(tx, &plan.events).await?;
    for (v, d) in fresh
        .iter()
        .zip(decided)
        .filter(|(_, d)| d.outcome == Outcome::Conflict)
    {
        invalid::keep_conflict(
            &mut *tx,
            v.message_id,
            &v.envelope.command_id,
            &d.fingerprint,
            v.body,
        )
        .await?;
    }
    Ok(())
}

fn fate_of(outcome: &Outcome) -> Fate {
    match outcome {
        Outcome::Duplicate => Fate::Duplicate,
        Outcome::Conflict => Fate::Conflict,
        other => Fate::Applied {
            outcome: other.code().to_owned(),
            reason: other.reason().map(str::to_owned),
        },
    }
}
