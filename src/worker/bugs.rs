//! Deliberately broken behaviour, there only so the reliability suite can prove it notices
//! (`tests/it/chaos/bugs.rs`). Each is a failpoint switch, off unless a fault test configures
//! it; without the `failpoints` feature the switches are constant false and this is the
//! plain batch path.
//!
//! - `worker::bug_release_lock_before_commit`: the locks go before the commit, the very bug
//!   ARCHITECTURE.md step 6 forbids.
//! - `worker::bug_skip_inbox_check`: known commands are decided again; only their inbox row
//!   is not inserted twice (so the transaction commits), their effects are.
//! - `worker::bug_cancel_before_order_fails`: a CancelOrder that comes before its PlaceOrder
//!   (valid: it is to be remembered) is taken for an unexpected failure, so it is retried
//!   and dead-lettered: a valid command in the DLQ, which only the strict checker sees.

use std::borrow::Cow;

use sqlx::PgConnection;

use super::unit::Lease;
use super::WorkerError;
use crate::domain::Outcome;
use crate::failpoint;
use crate::store::inbox::{self, InboxRow};
use crate::store::StoreError;

pub(super) fn skip_inbox_check() -> bool {
    failpoint::bug("worker::bug_skip_inbox_check")
}

/// Releases the batch's locks now, while its transaction is still open (when switched on).
pub(super) async fn release_lock_before_commit(lease: &mut Option<Lease>) {
    if !failpoint::bug("worker::bug_release_lock_before_commit") {
        return;
    }
    if let Some(lease) = lease.take() {
        if let Err(e) = lease.locks.release().await {
            tracing::warn!(error = %e, "bug switch: early release failed");
        }
    }
}

/// Fails the decision of a cancel that came before its order (when switched on).
pub(super) fn fail_cancel_before_order(outcome: &Outcome) -> Result<(), WorkerError> {
    match outcome {
        Outcome::CancelRemembered { order_id }
            if failpoint::bug("worker::bug_cancel_before_order_fails") =>
        {
            Err(WorkerError::Failed(format!(
                "bug switch: the cancel of {order_id} came before its order"
            )))
        }
        _ => Ok(()),
    }
}

/// The inbox rows to insert: all of them, or with the inbox check skipped, those not there
/// already (so that the transaction commits).
pub(super) async fn inbox_rows<'r>(
    tx: &mut PgConnection,
    rows: &'r [InboxRow],
) -> Result<Cow<'r, [InboxRow]>, StoreError> {
    if !skip_inbox_check() {
        return Ok(Cow::Borrowed(rows));
    }
    let ids: Vec<String> = rows.iter().map(|r| r.command_id.clone()).collect();
    let known = inbox::fingerprints(&mut *tx, &ids).await?;
    Ok(rows
        .iter()
        .filter(|r| !known.contains_key(&r.command_id))
        .cloned()
        .collect())
}
