//! The read side's promises: after draining, the read database equals a replay of the write
//! database's event log (`fulfil verify`, each difference a violation), and nothing sits in
//! the projector DLQ (an event there is one the read model never got).

use sqlx::PgPool;

use super::CheckReport;
use crate::db::DbError;

const LONGEST_SHOWN_BODY: usize = 120;

/// Runs `verify` and counts its differences into the report.
pub async fn verify(
    write: &PgPool,
    read: &PgPool,
    report: &mut CheckReport,
) -> Result<(), DbError> {
    let verified = crate::projector::verify(write, read).await?;
    report.read_model_differences = verified.differences.len();
    for difference in &verified.differences {
        report.violation("read model equals the event log", difference.to_string());
    }
    Ok(())
}

/// Every message in the projector DLQ is a violation.
pub fn projector_dlq(bodies: &[String], report: &mut CheckReport) {
    report.in_projector_dlq = bodies.len();
    for body in bodies {
        let shown: String = body.chars().take(LONGEST_SHOWN_BODY).collect();
        report.violation(
            "projector DLQ empty",
            format!("event never projected: {shown}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_in_the_projector_dlq_is_counted_and_a_violation() {
        let mut report = CheckReport::default();
        projector_dlq(&["{\"event_id\":\"e\"}".to_owned()], &mut report);
        assert_eq!(report.in_projector_dlq, 1);
        assert!(report.broke("projector DLQ empty"));
        let mut clean = CheckReport::default();
        projector_dlq(&[], &mut clean);
        assert!(clean.is_clean());
    }
}
