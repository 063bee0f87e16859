//! The read side's promise: after draining, the read database equals a replay of the write
//! database's event log (`fulfil verify`, each difference a violation). The projector DLQ
//! is read with the other one, in `dead_letters`.

use sqlx::PgPool;

use super::CheckReport;
use fulfil::db::DbError;

/// Runs `verify` and counts its differences into the report.
pub async fn verify(
    write: &PgPool,
    read: &PgPool,
    report: &mut CheckReport,
) -> Result<(), DbError> {
    let verified = fulfil::projector::verify(write, read).await?;
    report.read_model_differences = verified.differences.len();
    for difference in &verified.differences {
        report.violation("read model equals the event log", difference.to_string());
    }
    Ok(())
}
