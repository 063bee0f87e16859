//! One attempt at a unit: lock round, stock read, one transaction (whose first read also
//! finds the unit's commands the inbox already has), cache write, release. Anything that
//! means "the world moved under us" (a stale cache, a newer lock holder, a concurrent
//! duplicate, a cancel whose order appeared meanwhile) rolls back and asks for another
//! attempt; nothing is ever written on a guess.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, Postgres, Transaction};

use super::bugs;
use super::plan::{self, Before, Decided, Plan};
use super::unit::Lease;
use super::{Recorded, Valid, Worker, WorkerError};
use crate::contract::Command;
use crate::domain::{self, Outcome, Product, State};
use crate::failpoint;
use crate::lock::{HeldLocks, LockError};
use crate::store::changes::{self, Changes};
use crate::store::orders;
use crate::store::{self, invalid, outbox, products, StoreError};

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

type Records = Vec<(usize, Recorded)>;

impl Worker {
    /// Commits a unit's commands together, attempting again in-process after a stale read,
    /// a lost lock or a write conflict; what was recorded for each command, in `valid` order (each
    /// `Valid::index` is its position). Returns the lease the unit ended with, if any.
    pub(super) async fn commit_unit(
        &self,
        valid: &[&Valid],
        products: &BTreeSet<String>,
        mut lease: Option<Lease>,
    ) -> (Result<Vec<Recorded>, WorkerError>, Option<Lease>) {
        if let Err(e) = super::poisoned(valid) {
            return (Err(e), lease);
        }
        let mut wanted = products.clone();
        for attempt in 1..=self.settings.max_attempts {
            match self.attempt(valid, &wanted, &mut lease).await {
                Ok(records) => {
                    let ids: Vec<&str> = valid.iter().map(|v| v.message_id.as_str()).collect();
                    return (super::in_order(&ids, records), lease);
                }
                Err(Retry::Again { why, relock }) => {
                    tracing::debug!(attempt, %why, "unit attempt will be retried");
                    wanted.extend(relock);
                    pause(attempt).await;
                }
                Err(Retry::Stop(err)) => {
                    super::unit::release_later(lease.take());
                    return (Err(err), None);
                }
            }
        }
        let why = format!("not applied after {} attempts", self.settings.max_attempts);
        (Err(WorkerError::Transient(why)), lease)
    }

    /// One attempt: take a connection (its lease's, if it kept one), then the locks, then
    /// steps 4 to 7 (a command applied meanwhile is found as a duplicate by the unit's load).
    async fn attempt(
        &self,
        valid: &[&Valid],
        products: &BTreeSet<String>,
        lease: &mut Option<Lease>,
    ) -> Result<Records, Retry> {
        // The connection first: a unit never holds locks while it waits for the pool.
        let mut conn = match take_connection(lease, products) {
            Some(conn) => {
                self.stats.kept_connection();
                conn
            }
            None => self.pool.acquire().await.map_err(StoreError::from)?,
        };
        self.hold(products, lease).await?;
        let holding = std::time::Instant::now();
        let deadline = self.settings.transaction_deadline;
        let work = self.under_lock(&mut conn, valid, products, lease);
        let result = tokio::time::timeout(deadline, work).await;
        metrics::histogram!("fulfil_lock_hold_seconds").record(holding.elapsed().as_secs_f64());
        let Ok(result) = result else {
            // The connection went quiet mid-transaction (cut, black-holed): close it rather
            // than reuse it, and give the locks back; the server ends the transaction by its
            // own idle timeout, and whatever did commit is a duplicate next time.
            conn.close_on_drop();
            super::unit::release_later(lease.take());
            return Err(Retry::Stop(WorkerError::Outage {
                dependency: "write database",
                detail: format!("a unit's transaction did not finish within {deadline:?}"),
            }));
        };
        if result.is_ok() {
            self.keep_connection(lease, conn);
        }
        result
    }

    /// Keeps a committed unit's connection with its lease when the lease will be kept (every
    /// product has commands waiting): the product's next unit starts on it without going
    /// through the pool (a release, then an acquire that hands out the connection released
    /// longest ago: the pool's idle queue is first in, first out). Side by side on the hot
    /// product, four rounds: 17,411 / 17,321 / 18,997 / 19,111 orders/s without, 19,839 /
    /// 17,815 / 19,062 / 19,405 with. The connection goes back to the pool with the lease.
    fn keep_connection(&self, lease: &mut Option<Lease>, conn: PoolConnection<Postgres>) {
        if let Some(l) = lease.as_mut().filter(|l| self.groups.wanted(&l.products())) {
            l.conn = Some(conn);
        }
    }

    /// Makes `lease` cover `products`: kept as it is when it does, otherwise given back and
    /// replaced by one all-or-nothing acquisition (never holding some while waiting for others).
    async fn hold(
        &self,
        products: &BTreeSet<String>,
        lease: &mut Option<Lease>,
    ) -> Result<(), Retry> {
        if lease.as_ref().is_some_and(|l| l.covers(products)) {
            return Ok(());
        }
        super::unit::release_later(lease.take());
        if products.is_empty() {
            return Ok(());
        }
        let waiting = std::time::Instant::now();
        let locks = self.acquire_patiently(products).await?;
        metrics::histogram!("fulfil_lock_wait_seconds").record(waiting.elapsed().as_secs_f64());
        self.stats.lock_round();
        *lease = Some(Lease::new(locks));
        Ok(())
    }

    /// Waits for the locks as long as it takes: contention is never a reason to give a
    /// message back (each lock is bounded by its holder's lease, and the consumer's heartbeat
    /// keeps the message meanwhile). Redis failing is an outage, not contention.
    async fn acquire_patiently(&self, products: &BTreeSet<String>) -> Result<HeldLocks, Retry> {
        let refs: Vec<&str> = products.iter().map(String::as_str).collect();
        loop {
            match self.locks.acquire(&refs).await {
                Ok(locks) => return Ok(locks),
                Err(LockError::Timeout { product_id, waited }) => {
                    metrics::counter!("fulfil_lock_wait_rounds_total").increment(1);
                    tracing::info!(%product_id, ?waited, "product still locked elsewhere; waiting on");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The products each command may change: order lines, restocks, and the lines of
    /// orders being cancelled (one query for all the cancels).
    pub(super) async fn products_of_each(
        &self,
        valid: &[Valid],
    ) -> Result<Vec<BTreeSet<String>>, WorkerError> {
        let cancels: Vec<String> = valid.iter().filter_map(cancelled_order).collect();
        let stored = match cancels.is_empty() {
            true => BTreeMap::new(),
            false => orders::load(&self.pool, &cancels).await?,
        };
        Ok(valid
            .iter()
            .map(|v| {
                let mut ids: BTreeSet<String> = v
                    .envelope
                    .command
                    .product_ids()
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                if let Some(s) = cancelled_order(v).and_then(|o| stored.get(&o)) {
                    ids.extend(s.order.lines.iter().map(|l| l.product_id.clone()));
                }
                ids
            })
            .collect())
    }

    /// Steps 4 to 7, holding the locks (`lease` is only taken by a deliberately broken build).
    async fn under_lock(
        &self,
        conn: &mut PgConnection,
        commands: &[&Valid],
        product_ids: &BTreeSet<String>,
        lease: &mut Option<Lease>,
    ) -> Result<Records, Retry> {
        failpoint::step("worker::after_lock")?;
        let mut steps = super::steps::Steps::start();
        let ids: Vec<String> = product_ids.iter().cloned().collect();
        // The cache read and the transaction's first round trip go out together: neither
        // needs the other, and each is a round trip on the unit's path.
        let (stock, tx) = tokio::join!(
            self.read_stock(&ids, lease.as_ref()),
            conn.begin_with(store::UNIT_BEGIN)
        );
        let mut tx = tx.map_err(StoreError::from)?;
        let stock = stock?;
        steps.lap("read_stock_and_begin");
        let orders::UnitLoad {
            orders: stored_orders,
            pending,
            inbox: known,
        } = self
            .load_unit(&mut tx, commands, product_ids, &mut steps)
            .await?;
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
            inbox: known,
        };
        let decided = decide_all(&mut state, commands)?;
        let fences: BTreeMap<String, i64> = lease.as_ref().map_or_else(BTreeMap::new, |l| {
            ids.iter()
                .filter_map(|id| Some((id.clone(), l.locks.fence(id)?)))
                .collect()
        });
        let before = Before {
            products: &stock,
            orders: &stored_orders,
            pending: &pending,
        };
        let plan = plan::build(&before, &decided, &state, &fences, Utc::now());
        steps.lap("decide_and_plan");
        if let Err(err) = write(&mut tx, &plan, commands, &decided, &mut steps).await {
            drop(tx);
            return Err(self.after_failed_write(err, lease).await);
        }
        if lease.as_ref().is_some_and(|l| l.locks.is_lost()) {
            return Err(again("lock lost before commit"));
        }
        bugs::release_lock_before_commit(lease).await;
        failpoint::step("worker::before_commit")?;
        tx.commit().await.map_err(StoreError::from)?;
        steps.lap("commit");
        self.stats.committed(commands.len());
        failpoint::step("worker::after_commit_before_cache")?;
        self.cache_after_commit(&plan).await;
        steps.lap("cache_write");
        steps.finish(commands.len());
        remember_committed(lease, stock, &plan);
        Ok(commands
            .iter()
            .zip(&decided)
            .map(|(v, d)| (v.index, record_of(&d.outcome)))
            .collect())
    }

    /// Stock from the cache; misses hydrate from the database (committed state: safe to cache).
    /// A kept lease's own committed stock needs no cache read: nobody else wrote it since.
    async fn read_stock(
        &self,
        ids: &[String],
        lease: Option<&Lease>,
    ) -> Result<BTreeMap<String, (Product, i64)>, Retry> {
        if let Some(known) = lease.and_then(|l| known_stock(&l.stock, ids)) {
            return Ok(known);
        }
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

    /// Serialises on the unit's orders and loads what the domain decides against besides
    /// stock: the orders, the pending cancels and which commands the inbox already has (one
    /// statement for all three).
    async fn load_unit(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        commands: &[&Valid],
        locked: &BTreeSet<String>,
        steps: &mut super::steps::Steps,
    ) -> Result<orders::UnitLoad, Retry> {
        let order_ids: Vec<String> = commands
            .iter()
            .filter_map(|v| order_id(&v.envelope.command))
            .collect();
        let command_ids: Vec<String> = commands
            .iter()
            .map(|v| v.envelope.command_id.clone())
            .collect();
        let mut load = orders::lock_and_load(&mut **tx, &order_ids, &command_ids).await?;
        steps.lap("lock_and_load_orders");
        if bugs::skip_inbox_check() {
            load.inbox.clear();
        }
        let unlocked: BTreeSet<String> = load
            .orders
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
        Ok(load)
    }

    /// A stale product: drop its cache entry, and if the database holds a newer fence than
    /// ours (Redis lost its counters), lift the counter above it before the next attempt.
    async fn after_failed_write(&self, err: StoreError, lease: &mut Option<Lease>) -> Retry {
        if let Some(lease) = lease.as_mut() {
            lease.stock.clear();
        }
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
        let ours = lease
            .as_ref()
            .and_then(|l| l.locks.fence(product_id))
            .unwrap_or(0);
        if db_fence > ours {
            tracing::warn!(%product_id, db_fence, ours, "fence behind the database (Redis lost its counters?): reseeding");
            if let Err(e) = self.locks.reseed_fence(product_id, db_fence).await {
                return e.into();
            }
            // Our token is spent: the next attempt must acquire a new one above the reseed.
            super::unit::release_later(lease.take());
        }
        again(err.to_string())
    }

    /// Step 6: the cache learns the committed stock. A failure here is harmless (the next
    /// batch's version-conditional write catches the stale entry), so it is only logged.
    async fn cache_after_commit(&self, plan: &Plan) {
        let entries: Vec<(String, Product, i64)> = plan
            .products
            .iter()
            .filter(|w| w.changed)
            .map(|w| (w.product_id.clone(), w.product.clone(), w.new_version()))
            .collect();
        if let Err(e) = self.cache.put_many(&entries).await {
            tracing::warn!(error = %e, "stock cache not updated after commit; it will be re-read");
        }
    }
}

/// The connection `lease` kept from its last unit, if the lease covers this unit's products
/// (one that does not is given back by [`Worker::hold`], its connection with it).
fn take_connection(
    lease: &mut Option<Lease>,
    products: &BTreeSet<String>,
) -> Option<PoolConnection<Postgres>> {
    lease
        .as_mut()
        .filter(|l| l.covers(products))
        .and_then(|l| l.conn.take())
}

fn order_id(command: &Command) -> Option<String> {
    match command {
        Command::PlaceOrder(p) => Some(p.order_id.clone()),
        Command::CancelOrder(c) => Some(c.order_id.clone()),
        Command::Restock(_) => None,
    }
}

/// Step 4: the pure core decides each command in arrival order.
fn decide_all<'v>(state: &mut State, commands: &[&'v Valid]) -> Result<Vec<Decided<'v>>, Retry> {
    let mut decided = Vec::with_capacity(commands.len());
    for v in commands {
        let before = touchable(state, &v.envelope);
        let outcome = domain::decide_fingerprinted(state, &v.envelope, &v.fingerprint)
            .map_err(|e| Retry::Stop(WorkerError::Failed(e.to_string())))?;
        bugs::fail_cancel_before_order(&outcome).map_err(Retry::Stop)?;
        let changed_products = before
            .into_iter()
            .filter(|(id, was)| state.products.get(id) != was.as_ref())
            .map(|(id, _)| id)
            .collect();
        decided.push(Decided {
            envelope: &v.envelope,
            fingerprint: &v.fingerprint,
            inbox_json: &v.inbox_json,
            message_id: &v.message_id,
            outcome,
            changed_products,
        });
    }
    Ok(decided)
}

/// The products a command can change, as they stand before it: its own (lines, restock)
/// and, for a cancel, its order's lines (the set its unit locked for it). Comparing these
/// alone after the decision, not the unit's every product, keeps deciding a unit of many
/// products linear in its commands.
fn touchable(
    state: &State,
    envelope: &crate::contract::Envelope,
) -> Vec<(String, Option<Product>)> {
    let mut ids: BTreeSet<&str> = envelope.command.product_ids().into_iter().collect();
    if let Command::CancelOrder(c) = &envelope.command {
        let lines = state.orders.get(&c.order_id).map(|o| o.lines.as_slice());
        ids.extend(
            lines
                .unwrap_or_default()
                .iter()
                .map(|l| l.product_id.as_str()),
        );
    }
    ids.into_iter()
        .map(|id| (id.to_owned(), state.products.get(id).cloned()))
        .collect()
}

/// Step 5: everything the unit changes, in one transaction: its inbox rows, orders, events
/// and stock in one statement, then the rare rest (cancels waiting for their order, kept
/// conflicts).
async fn write(
    tx: &mut PgConnection,
    plan: &Plan,
    commands: &[&Valid],
    decided: &[Decided<'_>],
    steps: &mut super::steps::Steps,
) -> Result<(), StoreError> {
    let inbox = bugs::inbox_rows(tx, &plan.inbox).await?;
    let traces: outbox::TraceParents = commands
        .iter()
        .filter_map(|v| Some((v.envelope.command_id.as_str(), v.traceparent.as_deref()?)))
        .collect();
    let changes = Changes {
        inbox: &inbox,
        orders: &plan.orders,
        events: &plan.events,
        traces: &traces,
        products: &plan.products,
    };
    changes::write(tx, &changes).await?;
    steps.lap("write");
    for (order_id, cancel) in &plan.remember_cancels {
        orders::remember_cancel(tx, order_id, cancel).await?;
    }
    for order_id in &plan.forget_cancels {
        orders::forget_cancel(tx, order_id).await?;
    }
    for (v, d) in commands
        .iter()
        .zip(decided)
        .filter(|(_, d)| d.outcome == Outcome::Conflict)
    {
        invalid::keep_conflict(
            &mut *tx,
            &v.message_id,
            &v.envelope.command_id,
            d.fingerprint,
            &v.body,
        )
        .await?;
    }
    Ok(())
}

fn record_of(outcome: &Outcome) -> Recorded {
    match outcome {
        Outcome::Duplicate => Recorded::Duplicate,
        Outcome::Conflict => Recorded::Conflict,
        other => Recorded::Decided {
            outcome: other.code().to_owned(),
            reason: other.reason().map(str::to_owned),
        },
    }
}

fn cancelled_order(v: &Valid) -> Option<String> {
    match &v.envelope.command {
        Command::CancelOrder(c) => Some(c.order_id.clone()),
        _ => None,
    }
}

/// A short jittered pause between attempts, longer each time.
async fn pause(attempt: u32) {
    let ms = rand::random_range(1..=5 * u64::from(attempt));
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Every id's stock, if the lease knows them all.
fn known_stock(
    stock: &BTreeMap<String, (Product, i64)>,
    ids: &[String],
) -> Option<BTreeMap<String, (Product, i64)>> {
    ids.iter()
        .map(|id| Some((id.clone(), stock.get(id)?.clone())))
        .collect()
}

/// After the commit the lease knows each product's stock as committed.
fn remember_committed(
    lease: &mut Option<Lease>,
    read: BTreeMap<String, (Product, i64)>,
    plan: &Plan,
) {
    let Some(lease) = lease.as_mut() else {
        return;
    };
    lease.stock = read;
    for w in &plan.products {
        lease
            .stock
            .insert(w.product_id.clone(), (w.product.clone(), w.new_version()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Envelope;

    fn valid(index: usize, json: &str) -> Valid {
        let envelope = Envelope::parse(json).expect("a valid command");
        Valid {
            index,
            fingerprint: envelope.fingerprint(),
            inbox_json: envelope.to_json(),
            envelope,
            message_id: format!("m{index}"),
            body: json.to_owned(),
            traceparent: None,
        }
    }

    fn place(id: &str, product: &str, quantity: u32) -> String {
        format!(
            r#"{{"version":1,"command_id":"place-{id}","type":"PlaceOrder","order_id":"{id}","user_id":"u","lines":[{{"product_id":"{product}","quantity":{quantity}}}]}}"#
        )
    }

    #[test]
    fn each_decision_names_the_products_it_changed_and_a_cancel_its_orders_lines() {
        let stock = Product {
            available: 5,
            restocked: 5,
            ..Product::default()
        };
        let mut state = State::default();
        for p in ["p", "q", "r"] {
            state.products.insert(p.to_owned(), stock.clone());
        }
        let bodies = [
            place("o1", "p", 2),
            place("o2", "q", 9),
            r#"{"version":1,"command_id":"cancel-o1","type":"CancelOrder","order_id":"o1"}"#
                .to_owned(),
            r#"{"version":1,"command_id":"restock-n","type":"Restock","product_id":"n","quantity":1}"#
                .to_owned(),
            place("o1", "p", 2),
        ];
        let valid: Vec<Valid> = bodies
            .iter()
            .enumerate()
            .map(|(i, c)| valid(i, c))
            .collect();
        let commands: Vec<&Valid> = valid.iter().collect();

        let decided = decide_all(&mut state, &commands).unwrap_or_else(|_| panic!("decided"));

        let changed: Vec<Vec<String>> = decided.into_iter().map(|d| d.changed_products).collect();
        let expected: Vec<Vec<String>> = vec![
            vec!["p".into()],
            vec![],
            vec!["p".into()],
            vec!["n".into()],
            vec![],
        ];
        assert_eq!(
            changed, expected,
            "placed, rejected, cancelled, created, duplicate"
        );
    }
}
