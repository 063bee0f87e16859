//! The database half of a relay step: lock a slice of unpublished outbox rows, keep back the
//! ones whose aggregate has an earlier unpublished event elsewhere, mark what was published.
//!
//! Touches only the `outbox` table of the write database, inside one transaction.

use std::collections::HashMap;

use sqlx::{PgPool, Postgres, Transaction};

use super::RelayError;

/// One outbox row as the relay publishes it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: uuid::Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub event_type: String,
    /// The event's JSON text, exactly what goes out as the message body.
    pub payload: String,
    /// The causing command's trace context, sent on as the `traceparent` attribute.
    pub traceparent: Option<String>,
}

impl OutboxRow {
    /// The aggregate, which is also the FIFO message group: order and product ids may be equal.
    pub fn aggregate_key(&self) -> String {
        format!("{}:{}", self.aggregate_type, self.aggregate_id)
    }
}

/// One statement claims the lowest unpublished ids, skipping rows another relay holds (so
/// several relays share the work), and names for each claimed aggregate its first
/// unpublished row that this step did not claim (another relay holds it, or it was not among
/// the lowest ids): our rows of that aggregate from there on must wait. Never "id > last
/// seen": ids are taken at insert and rows commit out of id order. One round trip instead of
/// two; the blockers come from the claim's own snapshot, which sees every row another relay
/// holds (held rows are skipped, not hidden).
///
/// The blocker is found per aggregate. A product's unpublished rows are walked in id order,
/// stopping at the first one not claimed (`ORDER BY id LIMIT 1` on
/// `outbox_unpublished_products`), so a step costs the same however long a hot product's
/// backlog grows. (A `min(id)` with `NOT EXISTS` is not turned into that walk by the
/// planner: it read the whole backlog once per claimed row, 0.6 s per step with 7,000 rows
/// waiting, and the relay fell behind for good.) An order has a few events in its whole life,
/// so its rows are read through the outbox's unique (type, aggregate, version) key and the
/// lowest unclaimed unpublished one taken; order events need no index of their own (migration
/// `0007`: one index entry fewer for every order the hot path writes). `blockers` is
/// materialized so that each aggregate is looked up once, not once per claimed row (inlined,
/// the planner joined it row by row: a claim of 100 events of one hot product walked its
/// backlog 100 times, 6.7 ms instead of 0.5). Public so that a test can read its plan and
/// hold it to that.
pub const CLAIM: &str = "
    WITH claimed AS MATERIALIZED (
        SELECT id, event_id, aggregate_type, aggregate_id, event_type, payload::text AS payload,
               traceparent
        FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
    ), aggregates AS MATERIALIZED (
        SELECT aggregate_type, aggregate_id, array_agg(id) AS ids
        FROM claimed GROUP BY aggregate_type, aggregate_id
    ), blockers AS MATERIALIZED (
        SELECT a.aggregate_type, a.aggregate_id, coalesce(product.id, other.id) AS blocker
        FROM aggregates a
        LEFT JOIN LATERAL (
            SELECT o.id FROM outbox o
            WHERE a.aggregate_type = 'product' AND o.aggregate_type = 'product'
              AND o.published_at IS NULL AND o.aggregate_id = a.aggregate_id
              AND o.id <> ALL (a.ids)
            ORDER BY o.id LIMIT 1
        ) product ON true
        LEFT JOIN LATERAL (
            SELECT min(o.id) AS id FROM outbox o
            WHERE a.aggregate_type <> 'product'
              AND o.aggregate_type = a.aggregate_type AND o.aggregate_id = a.aggregate_id
              AND o.published_at IS NULL AND o.id <> ALL (a.ids)
        ) other ON true
    )
    SELECT c.id, c.event_id, c.aggregate_type, c.aggregate_id, c.event_type, c.payload,
           c.traceparent, b.blocker
    FROM claimed c JOIN blockers b USING (aggregate_type, aggregate_id)
    ORDER BY c.id";

/// Marks what SNS accepted, with the time of the mark itself (not the step's start): the
/// moment an event left for the read side, as the bench and an operator read it.
const MARK: &str = "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1)";

/// A claimed row and the first unpublished row of its aggregate that this step did not claim.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    #[sqlx(flatten)]
    row: OutboxRow,
    blocker: Option<i64>,
}

/// Rows locked for one step, in an open transaction. Dropping it rolls back (a crash).
pub struct Claim {
    tx: Transaction<'static, Postgres>,
    /// What this step may publish, in id order.
    rows: Vec<OutboxRow>,
    /// Claimed rows kept back for order; they wait for a later step.
    held_back: usize,
}

impl Claim {
    /// Opens the step's transaction and claims up to `limit` rows.
    pub async fn begin(pool: &PgPool, limit: i64) -> Result<Claim, RelayError> {
        let mut tx = pool.begin().await?;
        let claimed: Vec<ClaimedRow> = sqlx::query_as(CLAIM)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let total = claimed.len();
        let blockers = claimed
            .iter()
            .filter_map(|c| Some((aggregate(&c.row), c.blocker?)))
            .collect();
        let rows = publishable(claimed.into_iter().map(|c| c.row).collect(), &blockers);
        let held_back = total - rows.len();
        Ok(Claim {
            tx,
            rows,
            held_back,
        })
    }

    /// The rows this step may publish, in id order.
    pub fn rows(&self) -> &[OutboxRow] {
        &self.rows
    }

    /// Claimed rows left for a later step (an earlier event of their aggregate is pending).
    pub fn held_back(&self) -> usize {
        self.held_back
    }

    /// Marks `ids` published and commits; the other claimed rows are released unmarked.
    pub async fn commit(mut self, ids: &[i64]) -> Result<(), RelayError> {
        if !ids.is_empty() {
            crate::failpoint::step("relay::after_publish_before_mark")?;
            sqlx::query(MARK).bind(ids).execute(&mut *self.tx).await?;
        }
        self.tx.commit().await?;
        Ok(())
    }

    /// Rolls back without marking anything: what a crash between publish and commit leaves.
    pub async fn abandon(self) -> Result<(), RelayError> {
        self.tx.rollback().await?;
        Ok(())
    }
}

type Aggregate = (String, String);

fn aggregate(row: &OutboxRow) -> Aggregate {
    (row.aggregate_type.clone(), row.aggregate_id.clone())
}

/// Per aggregate, the claimed rows before its first blocker: the run that starts at the
/// aggregate's smallest unpublished id. An aggregate whose smallest id is a blocker gets none.
fn publishable(claimed: Vec<OutboxRow>, blockers: &HashMap<Aggregate, i64>) -> Vec<OutboxRow> {
    claimed
        .into_iter()
        .filter(|row| {
            blockers
                .get(&aggregate(row))
                .is_none_or(|first| row.id < *first)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, aggregate_type: &str, aggregate_id: &str) -> OutboxRow {
        OutboxRow {
            id,
            event_id: uuid::Uuid::new_v4(),
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
            event_type: "StockChanged".into(),
            payload: "{}".into(),
            traceparent: None,
        }
    }

    fn ids(rows: &[OutboxRow]) -> Vec<i64> {
        rows.iter().map(|r| r.id).collect()
    }

    #[test]
    fn given_no_blockers_when_filtered_then_every_claimed_row_is_publishable() {
        let claimed = vec![row(1, "product", "p"), row(2, "order", "p")];
        assert_eq!(ids(&publishable(claimed, &HashMap::new())), vec![1, 2]);
    }

    #[test]
    fn given_an_earlier_row_held_elsewhere_then_that_aggregate_waits_and_others_go() {
        let claimed = vec![row(5, "product", "p"), row(6, "product", "q")];
        let blockers = HashMap::from([(("product".into(), "p".into()), 3)]);
        assert_eq!(ids(&publishable(claimed, &blockers)), vec![6]);
    }

    #[test]
    fn given_a_gap_in_an_aggregates_run_then_only_the_rows_before_the_gap_go() {
        let claimed = vec![
            row(1, "product", "p"),
            row(2, "product", "p"),
            row(4, "product", "p"),
        ];
        let blockers = HashMap::from([(("product".into(), "p".into()), 3)]);
        assert_eq!(ids(&publishable(claimed, &blockers)), vec![1, 2]);
    }

    #[test]
    fn an_order_and_a_product_with_the_same_id_are_different_aggregates() {
        assert_ne!(
            row(1, "order", "x").aggregate_key(),
            row(2, "product", "x").aggregate_key()
        );
        let claimed = vec![row(1, "order", "x"), row(4, "product", "x")];
        let blockers = HashMap::from([(("order".into(), "x".into()), 0)]);
        assert_eq!(ids(&publishable(claimed, &blockers)), vec![4]);
    }
}
