//! The e2e scenario's correctness check: per sale a sell-out with the rest rejected, every
//! order through every stage, the commands DLQ empty, `fulfil verify` clean.

use std::time::Duration;

use super::check::Check;
use super::e2e_report::RateStep;
use super::stack::Stack;
use super::{queues, BenchError};
use fulfil_testkit::scenario::FlashSale;

/// One rate's flash sale and the ids of its orders, which the check follows through.
pub(super) struct Sale {
    pub sale: FlashSale,
    pub order_ids: Vec<String>,
}

impl Sale {
    pub(super) fn of(sale: FlashSale) -> Self {
        let messages = sale.messages();
        let order_ids = messages.orders.into_iter().map(|m| m.group_id).collect();
        Self { sale, order_ids }
    }
}

/// Per sale a sell-out with the rest rejected; every order through every stage; the
/// commands DLQ empty; `fulfil verify` clean (within 30 s, while the last events arrive).
pub(super) async fn check(
    stack: &Stack,
    sales: &[Sale],
    steps: &[RateStep],
) -> Result<Check, BenchError> {
    let mut problems = Vec::new();
    let (mut confirmed, mut rejected) = (0, 0);
    for sale in sales {
        let (c, r) = outcomes(stack, &sale.order_ids).await?;
        (confirmed, rejected) = (confirmed + c, rejected + r);
        let s = &sale.sale;
        if c != i64::from(s.stock) || c + r != i64::from(s.buyers) {
            problems.push(format!(
                "{}: {c} confirmed + {r} rejected, expected {} + {}",
                s.product_id,
                s.stock,
                s.buyers - s.stock
            ));
        }
    }
    for step in steps.iter().filter(|s| !s.complete()) {
        problems.push(format!(
            "{} {:.0}%: of {} orders {} decided, {} relayed, {} projected",
            step.queues,
            step.of_bare * 100.0,
            step.commands,
            step.decided,
            step.relayed,
            step.projected
        ));
    }
    let dead = queues::depth(&stack.aws, &stack.provisioned.commands_dlq.url).await?;
    if dead > 0 {
        problems.push(format!("{dead} commands in the commands DLQ"));
    }
    if let Some(differences) = verify_settles(stack).await? {
        problems.push(format!("verify: {differences}"));
    }
    Ok(Check {
        passed: problems.is_empty(),
        confirmed,
        rejected,
        available: None,
        problems,
    })
}

/// (confirmed, rejected) among `order_ids` in the write database.
async fn outcomes(stack: &Stack, order_ids: &[String]) -> Result<(i64, i64), BenchError> {
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM orders WHERE order_id = ANY($1) GROUP BY status",
    )
    .bind(order_ids)
    .fetch_all(&stack.write)
    .await
    .map_err(BenchError::db("count orders"))?;
    let count = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    Ok((count("confirmed"), count("rejected")))
}

/// None once `fulfil verify` finds no difference; its last summary after 30 s otherwise.
async fn verify_settles(stack: &Stack) -> Result<Option<String>, BenchError> {
    let s = &stack.settings;
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let verified = fulfil::projector::verify::verify_databases(
            &s.write_database_url,
            &s.read_database_url,
        )
        .await?;
        if verified.is_clean() {
            return Ok(None);
        }
        if tokio::time::Instant::now() >= until {
            return Ok(Some(verified.summary()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One verdict for both ladders, the standard one's problems marked as such.
pub(super) fn merge(fifo: Option<Check>, standard: Option<Check>) -> Check {
    let (fifo, standard) = (
        fifo.unwrap_or_else(not_run),
        standard.unwrap_or_else(not_run),
    );
    let mut problems = fifo.problems;
    problems.extend(
        standard
            .problems
            .into_iter()
            .map(|p| format!("standard queues: {p}")),
    );
    Check {
        passed: fifo.passed && standard.passed,
        confirmed: fifo.confirmed + standard.confirmed,
        rejected: fifo.rejected + standard.rejected,
        available: None,
        problems,
    }
}

fn not_run() -> Check {
    Check {
        passed: false,
        confirmed: 0,
        rejected: 0,
        available: None,
        problems: vec!["not run".into()],
    }
}
