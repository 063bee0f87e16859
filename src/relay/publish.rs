//! The SNS half of a relay step: claimed rows out to the events topic with `PublishBatch`,
//! in id order, ten (and at most 250 KiB) per call, returning what may be marked published.
//! Rows are split into lanes by aggregate: one aggregate's rows always share a lane and go
//! out in order, one call after another, while the lanes publish side by side (a step's
//! calls are what bounds the relay's pace, and so the read side's lag). A step of fewer
//! than fifty rows is one lane: full calls, one after another.
//!
//! Touches only the SNS client. An entry SNS refuses keeps its aggregate back for the rest
//! of the step, so a later event of that aggregate is never marked before an earlier one.

use std::collections::HashSet;

use super::{OutboxRow, RelayError};
use crate::queue::sns_batch::{publish_batch, Entry, Refused, MAX_ENTRIES};
/// SNS's limit on a whole `PublishBatch` is 256 KiB; the rest is room for attributes.
const MAX_BATCH_BYTES: usize = 250 * 1024;

/// What a publish round achieved.
#[derive(Debug, Default)]
pub struct Published {
    /// Outbox ids SNS accepted, with nothing unaccepted before them in their aggregate.
    pub ids: Vec<i64>,
    /// Entries SNS refused (they and their aggregate's later rows stay unpublished).
    pub refused: usize,
    /// A call that failed as a whole; the rows from that call on stay unpublished.
    pub error: Option<RelayError>,
}

/// Calls in flight at once, one per lane.
const LANES: usize = 4;

/// Publishes `rows` (in id order) lane by lane; a lane stops at its first call that fails
/// as a whole, the others carry on.
pub async fn publish(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    fifo: bool,
    rows: &[OutboxRow],
) -> Published {
    let lanes = lanes(rows);
    let rounds = lanes
        .iter()
        .map(|lane| publish_lane(sns, topic_arn, fifo, lane));
    let mut merged = Published::default();
    for lane in futures::future::join_all(rounds).await {
        merged.ids.extend(lane.ids);
        merged.refused += lane.refused;
        if merged.error.is_none() {
            merged.error = lane.error;
        }
    }
    merged
}

/// Rows a lane should get before another lane opens: two and a half calls, so the lanes'
/// last calls, which hash splitting leaves part-empty, are a small share of the calls.
const ROWS_PER_LANE: usize = 25;

/// Rows by lane (hash of the aggregate), each lane keeping id order. One lane per
/// [`ROWS_PER_LANE`] rows, at least one and at most [`LANES`]: a step of a few rows goes out
/// in full calls rather than split into part-empty ones (on SNS, and even more on
/// LocalStack, each call costs about the same whatever it carries).
fn lanes(rows: &[OutboxRow]) -> Vec<Vec<&OutboxRow>> {
    use std::hash::{Hash, Hasher};
    let count = (rows.len() / ROWS_PER_LANE).clamp(1, LANES);
    let mut lanes: Vec<Vec<&OutboxRow>> = vec![Vec::new(); count];
    for row in rows {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        row.aggregate_key().hash(&mut hasher);
        lanes[(hasher.finish() % count as u64) as usize].push(row);
    }
    lanes.retain(|lane| !lane.is_empty());
    lanes
}

/// Publishes one lane's rows in order; stops at the first call that fails as a whole.
async fn publish_lane(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    fifo: bool,
    rows: &[&OutboxRow],
) -> Published {
    let mut published = Published::default();
    let mut blocked = HashSet::new();
    let mut cursor = 0;
    loop {
        let batch = next_batch(rows, &mut cursor, &blocked);
        if batch.is_empty() {
            return published;
        }
        match send(sns, topic_arn, fifo, &batch).await {
            Ok(refused) => {
                published.refused += refused.len();
                settle(&batch, &refused, &mut blocked, &mut published.ids);
            }
            Err(error) => {
                published.error = Some(error);
                return published;
            }
        }
    }
}

/// The next rows from `cursor` whose aggregate is not blocked, within SNS's batch limits.
fn next_batch<'r>(
    rows: &[&'r OutboxRow],
    cursor: &mut usize,
    blocked: &HashSet<String>,
) -> Vec<&'r OutboxRow> {
    let (mut batch, mut bytes) = (Vec::new(), 0);
    while let Some(&row) = rows.get(*cursor) {
        if blocked.contains(&row.aggregate_key()) {
            *cursor += 1;
            continue;
        }
        let full = batch.len() == MAX_ENTRIES || bytes + row.payload.len() > MAX_BATCH_BYTES;
        if full && !batch.is_empty() {
            break;
        }
        bytes += row.payload.len();
        batch.push(row);
        *cursor += 1;
    }
    batch
}

/// Keeps the accepted rows in order; a refused row blocks its aggregate from there on.
fn settle(
    batch: &[&OutboxRow],
    refused: &HashSet<i64>,
    blocked: &mut HashSet<String>,
    ids: &mut Vec<i64>,
) {
    for row in batch {
        let key = row.aggregate_key();
        if blocked.contains(&key) {
            continue;
        }
        if refused.contains(&row.id) {
            blocked.insert(key);
            continue;
        }
        ids.push(row.id);
    }
}

/// One `PublishBatch`; returns the outbox ids of the entries SNS refused.
async fn send(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    fifo: bool,
    batch: &[&OutboxRow],
) -> Result<HashSet<i64>, RelayError> {
    let entries: Vec<Entry<'_>> = batch.iter().map(|row| entry(row, fifo)).collect();
    let started = std::time::Instant::now();
    let sent = publish_batch(sns, topic_arn, &endpoint(sns), &entries).await;
    metrics::histogram!("fulfil_relay_publish_call_seconds")
        .record(started.elapsed().as_secs_f64());
    let refused = sent.map_err(|source| RelayError::Publish {
        topic_arn: topic_arn.to_owned(),
        source,
    })?;
    Ok(refused_ids(topic_arn, &refused))
}

fn refused_ids(topic_arn: &str, refused: &[Refused]) -> HashSet<i64> {
    for r in refused {
        tracing::warn!(
            topic = topic_arn,
            outbox_id = r.id,
            code = r.code,
            message = r.message,
            sender_fault = r.sender_fault,
            "SNS refused an event; it stays unpublished and is tried again"
        );
    }
    refused.iter().filter_map(|r| r.id.parse().ok()).collect()
}

/// Body = the payload as stored; `event_type` as an attribute so subscribers can filter,
/// and the causing command's `traceparent` when it was traced; on FIFO one group per
/// aggregate (its order) and the event id as deduplication id.
fn entry(row: &OutboxRow, fifo: bool) -> Entry<'_> {
    let mut attributes = vec![("event_type", row.event_type.as_str())];
    if let Some(traceparent) = &row.traceparent {
        attributes.push((crate::trace::ATTRIBUTE, traceparent.as_str()));
    }
    Entry {
        id: row.id.to_string(),
        body: &row.payload,
        attributes,
        fifo: fifo.then(|| (row.aggregate_key(), row.event_id.to_string())),
    }
}

/// Where the calls go, for error messages (the client does not expose its endpoint).
fn endpoint(sns: &aws_sdk_sns::Client) -> String {
    match sns.config().region() {
        Some(region) => format!("SNS ({region})"),
        None => "SNS".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, aggregate_id: &str, payload_len: usize) -> OutboxRow {
        OutboxRow {
            id,
            event_id: uuid::Uuid::new_v4(),
            aggregate_type: "product".into(),
            aggregate_id: aggregate_id.into(),
            event_type: "StockChanged".into(),
            payload: "x".repeat(payload_len),
            traceparent: None,
        }
    }

    fn refs(rows: &[OutboxRow]) -> Vec<&OutboxRow> {
        rows.iter().collect()
    }

    #[test]
    fn an_aggregate_keeps_one_lane_and_its_order_and_every_row_gets_a_lane() {
        let rows: Vec<_> = (1..=40)
            .map(|i| row(i, &format!("p{}", i % 7), 1))
            .collect();
        let lanes = lanes(&rows);
        assert_eq!(lanes.iter().map(Vec::len).sum::<usize>(), 40);
        for lane in &lanes {
            assert!(lane.windows(2).all(|w| w[0].id < w[1].id));
        }
        for key in (0..7).map(|k| format!("product:p{k}")) {
            let holding = lanes
                .iter()
                .filter(|l| l.iter().any(|r| r.aggregate_key() == key))
                .count();
            assert_eq!(holding, 1, "{key} is in {holding} lanes");
        }
    }

    fn ids(batch: &[&OutboxRow]) -> Vec<i64> {
        batch.iter().map(|r| r.id).collect()
    }

    #[test]
    fn a_few_rows_share_one_lane_and_a_claim_of_a_hundred_spreads_over_four() {
        let rows =
            |n: i64| -> Vec<OutboxRow> { (1..=n).map(|i| row(i, &format!("p{i}"), 1)).collect() };
        assert_eq!(lanes(&rows(10)).len(), 1);
        assert_eq!(lanes(&rows(49)).len(), 1);
        assert_eq!(lanes(&rows(50)).len(), 2);
        assert_eq!(lanes(&rows(100)).len(), LANES);
        assert_eq!(lanes(&rows(400)).len(), LANES);
    }

    #[test]
    fn batches_hold_ten_entries_at_most() {
        let rows: Vec<_> = (1..=23).map(|i| row(i, "p", 10)).collect();
        let (mut cursor, blocked) = (0, HashSet::new());
        let sizes: Vec<usize> = std::iter::from_fn(|| {
            let batch = next_batch(&refs(&rows), &mut cursor, &blocked);
            (!batch.is_empty()).then_some(batch.len())
        })
        .collect();
        assert_eq!(sizes, vec![10, 10, 3]);
    }

    #[test]
    fn a_batch_stays_under_the_size_limit_but_always_takes_one_row() {
        let rows = vec![row(1, "p", 200 * 1024), row(2, "q", 100 * 1024)];
        let mut cursor = 0;
        assert_eq!(
            ids(&next_batch(&refs(&rows), &mut cursor, &HashSet::new())),
            vec![1]
        );
        assert_eq!(
            ids(&next_batch(&refs(&rows), &mut cursor, &HashSet::new())),
            vec![2]
        );
    }

    #[test]
    fn rows_of_a_blocked_aggregate_are_skipped() {
        let rows = vec![row(1, "p", 1), row(2, "q", 1), row(3, "p", 1)];
        let blocked = HashSet::from(["product:p".to_owned()]);
        assert_eq!(ids(&next_batch(&refs(&rows), &mut 0, &blocked)), vec![2]);
    }

    #[test]
    fn a_refused_entry_keeps_back_its_aggregates_later_rows_even_if_accepted() {
        let rows = [
            row(1, "p", 1),
            row(2, "q", 1),
            row(3, "p", 1),
            row(4, "q", 1),
        ];
        let batch: Vec<&OutboxRow> = rows.iter().collect();
        let (mut blocked, mut marked) = (HashSet::new(), Vec::new());
        settle(&batch, &HashSet::from([1]), &mut blocked, &mut marked);
        assert_eq!(marked, vec![2, 4]);
        assert!(blocked.contains("product:p"));
    }
}
