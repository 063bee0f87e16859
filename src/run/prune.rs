//! Pruning the write database (see [`crate::store::prune`]): in the background of the relay,
//! a pass every `FULFIL_PRUNE_EVERY_SECS`, and once, to the end, by `fulfil prune`. Batches
//! are small and a short pause separates them, so pruning never holds the database for long.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::store::prune::{self, Pruned};
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneSettings {
    /// How long relayed events (once superseded) and kept records are kept.
    pub retention: Duration,
    /// Most rows one statement deletes.
    pub batch: i64,
}

/// Rows per statement by default: a few milliseconds of work each.
pub const DEFAULT_BATCH: i64 = 1000;
const PAUSE: Duration = Duration::from_millis(20);

/// Everything due, batch by batch, walking the events from `watermark` (0: from the start);
/// `progress` hears the totals after each batch. Returns the totals and the new watermark.
pub async fn prune_due(
    pool: &PgPool,
    settings: PruneSettings,
    mut watermark: i64,
    mut progress: impl FnMut(&Pruned),
) -> Result<(Pruned, i64), StoreError> {
    let mut pruned = Pruned::default();
    loop {
        let pass = prune::events_pass(pool, settings.retention, watermark, settings.batch).await?;
        (pruned.events, watermark) = (pruned.events + pass.deleted, pass.watermark);
        progress(&pruned);
        if pass.done {
            break;
        }
        tokio::time::sleep(PAUSE).await;
    }
    loop {
        let (invalid, conflicting) =
            prune::kept_pass(pool, settings.retention, settings.batch).await?;
        pruned.invalid_commands += invalid;
        pruned.conflicting_commands += conflicting;
        progress(&pruned);
        if invalid.max(conflicting) < settings.batch as u64 {
            return Ok((pruned, watermark));
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// A pass every `every` until `shutdown`, keeping the events' watermark between passes
/// (a restart walks from the start once). A failed pass is logged and tried next time.
pub async fn keep_pruning(
    pool: PgPool,
    settings: PruneSettings,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut watermark = 0;
    loop {
        match prune_due(&pool, settings, watermark, |_| {}).await {
            Ok((pruned, reached)) => {
                watermark = reached;
                record(&pruned);
            }
            Err(error) => tracing::warn!(%error, "pruning failed; trying again next time"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

fn record(pruned: &Pruned) {
    for (table, n) in [
        ("outbox", pruned.events),
        ("invalid_commands", pruned.invalid_commands),
        ("conflicting_commands", pruned.conflicting_commands),
    ] {
        metrics::counter!("fulfil_pruned_rows_total", "table" => table).increment(n);
    }
    if *pruned != Pruned::default() {
        tracing::info!(
            events = pruned.events,
            invalid_commands = pruned.invalid_commands,
            conflicting_commands = pruned.conflicting_commands,
            "pruned"
        );
    }
}
