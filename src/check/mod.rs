//! The invariant checker: reads the write database, the read database, what was kept as
//! invalid or conflicting, what sits in the dead-letter queues and the list of what was
//! published, and says whether the product kept its promises (contract guarantees 1–7 and
//! DESIGN.md's invariants). Used by the fault tests, the chaos soak and `fulfil check`.

pub mod ledger;
pub mod replay;
pub mod stock;

use serde::Serialize;

/// One broken promise, said the way an operator would want to read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

/// Everything the checker counted and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub published: usize,
    pub applied: usize,
    pub rejected: usize,
    pub invalid: usize,
    pub conflicts: usize,
    pub in_dlq: usize,
    pub duplicates: usize,
    pub lost: usize,
    pub unexpected: usize,
    pub oversold: usize,
    pub read_model_differences: usize,
    pub violations: Vec<Violation>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn violation(&mut self, invariant: &'static str, detail: impl Into<String>) {
        self.violations.push(Violation {
            invariant,
            detail: detail.into(),
        });
    }
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "published {}  applied {}  rejected {}  invalid {}  conflicts {}  in DLQ {}  duplicates absorbed {}",
            self.published, self.applied, self.rejected, self.invalid, self.conflicts, self.in_dlq, self.duplicates)?;
        writeln!(
            f,
            "lost {}  unexpected {}  oversold {}  read-model differences {}",
            self.lost, self.unexpected, self.oversold, self.read_model_differences
        )?;
        for v in &self.violations {
            writeln!(f, "VIOLATION {}: {}", v.invariant, v.detail)?;
        }
        write!(
            f,
            "{}",
            if self.is_clean() {
                "all invariants hold"
            } else {
                "INVARIANTS BROKEN"
            }
        )
    }
}

/// Loads what the write database kept and checks everything that needs no read side.
/// `published` is every body sent (repeats included); `dlq` every body in the DLQs.
pub async fn check_write_side(
    pool: &sqlx::PgPool,
    published: &[String],
    dlq: Vec<String>,
) -> Result<CheckReport, crate::store::StoreError> {
    let mut report = CheckReport::default();
    let outcomes = load_outcomes(pool, dlq).await?;
    ledger::account(published, &outcomes, &mut report);
    stock::check(pool, &mut report).await?;
    replay::check(pool, &mut report).await?;
    Ok(report)
}

async fn load_outcomes(
    pool: &sqlx::PgPool,
    dlq: Vec<String>,
) -> Result<ledger::Outcomes, crate::store::StoreError> {
    let inbox: Vec<(String, String, String)> =
        sqlx::query_as("SELECT command_id, fingerprint, outcome FROM inbox")
            .fetch_all(pool)
            .await?;
    let conflicts: Vec<String> = sqlx::query_scalar("SELECT command_id FROM conflicting_commands")
        .fetch_all(pool)
        .await?;
    let invalid: Vec<String> = sqlx::query_scalar("SELECT body FROM invalid_commands")
        .fetch_all(pool)
        .await?;
    Ok(ledger::Outcomes {
        inbox: inbox
            .into_iter()
            .map(|(id, fp, outcome)| (id, (fp, outcome)))
            .collect(),
        conflicts: conflicts.into_iter().collect(),
        invalid_bodies: invalid.into_iter().collect(),
        dlq_bodies: dlq.into_iter().collect(),
    })
}
