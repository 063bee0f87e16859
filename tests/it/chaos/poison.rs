//! A valid command that always fails (failpoint `worker::poison`): on its last delivery (two
//! receives here) it lands in the DLQ, where the checker lists it as the poison the scenario
//! declares it planted (undeclared, the same DLQ is a violation), while every other
//! command flows. On FIFO only its own message group waits behind it: a second PlaceOrder
//! for the same order (same group), published with it and so received with it, is decided
//! only after the poisoned one's last failure (not when its unit is retried command by
//! command), is not dead-lettered along with it, and confirms the order.

use fulfil_testkit::check::dead_letters::NO_VALID_COMMAND_IN_DLQ;
use fulfil_testkit::check::Planted;

use super::{assert_clean, sale, Run, DRAIN};
use crate::harness::{bodies::place, eventually};
use crate::pipeline::RoleProcess;

const OTHERS: usize = 20;
const RECEIVES: u32 = 2;

/// The poisoned command's failed deliveries: each ends in one message-level log line.
fn failures(worker: &RoleProcess) -> usize {
    worker
        .log()
        .lines()
        .filter(|l| l.contains("message failed") && l.contains("worker::poison on c-poison"))
        .count()
}

async fn poisoned_command(fifo: bool) {
    let mut run = Run::new(fifo, RECEIVES).await;
    run.start_read_side().await;
    let env = [("FAILPOINTS", "worker::poison=return(c-poison)")];
    let worker = run.p.worker_with(&[], &env).await;
    run.plant("c-poison");
    let (restock, others) = sale("bread", 100, OTHERS, 1);
    run.publish(&[restock]).await;
    run.p
        .wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;
    let mut bodies = vec![
        place("c-poison", "o-poison", &[("bread", 1)]),
        place("c-after", "o-poison", &[("bread", 1)]),
    ];
    bodies.extend(others);
    run.publish(&bodies).await;

    let decided = "SELECT count(*) FROM inbox WHERE command_id = 'c-after'";
    // Read the decision first: once c-after is decided, every failure before it is logged.
    eventually(DRAIN, "c-after to be decided", || async {
        (run.p.count(decided).await > 0).then_some(())
    })
    .await;
    if fifo {
        let failed_deliveries = failures(&worker);
        assert!(
            failed_deliveries >= RECEIVES as usize,
            "c-after overtook the poisoned command of its group after {failed_deliveries} failures:\n{}",
            worker.log()
        );
    }

    let report = run.finish().await;
    assert_clean(&report);
    assert_eq!(report.in_dlq, 1, "only the poisoned command is in the DLQ");
    let listed = &report.dead_letters;
    assert_eq!(listed.len(), 1, "{report}");
    assert_eq!(listed[0].id.as_deref(), Some("c-poison"));
    assert!(
        !listed[0].violation && listed[0].why.contains("planted"),
        "{report}"
    );
    let undeclared = run.check_with(&Planted::none()).await;
    assert!(undeclared.broke(NO_VALID_COMMAND_IN_DLQ), "{undeclared}");
    assert_eq!(report.applied, OTHERS + 2);
    let confirmed =
        "SELECT count(*) FROM orders WHERE order_id = 'o-poison' AND status = 'confirmed'";
    assert_eq!(run.p.count(confirmed).await, 1);
    assert_eq!(
        run.p
            .count("SELECT count(*) FROM inbox WHERE command_id = 'c-poison'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_command_that_always_fails_reaches_the_dlq_while_the_rest_flow() {
    poisoned_command(false).await;
}

#[tokio::test]
async fn on_fifo_only_the_poisoned_commands_group_waits_and_only_the_poison_is_dead_lettered() {
    poisoned_command(true).await;
}
