//! Processing slower than the visibility timeout: one worker stalls 3 s before every commit
//! (failpoint `sleep`, which blocks the thread, heartbeat and lock watchdog included) with a
//! 1 s visibility timeout and a 1 s lock lease, so its messages are delivered again to the
//! other worker while it still works on them, and its lock can expire under it. Every
//! command must still have exactly one effect.

use super::{assert_clean, counter, metrics, sale, Run, DRAIN};
use crate::harness::bodies::cancel;

#[tokio::test]
async fn processing_3_s_with_a_1_s_visibility_timeout_still_has_one_effect_per_command() {
    let mut run = Run::new(false, 10).await;
    run.start_read_side().await;
    let short = ("FULFIL_VISIBILITY_TIMEOUT", "1");
    let slow = run
        .p
        .worker_with(
            &[],
            &[("FAILPOINTS", "worker::before_commit=sleep(3000)"), short],
        )
        .await;
    let quick = run.p.worker_with(&[], &[short]).await;
    let (restock, mut commands) = sale("bread", 40, 30, 1);
    commands.extend(
        (0..30)
            .step_by(3)
            .map(|i| cancel(&format!("x-{i}"), &format!("o-{i}"))),
    );
    run.publish(&[restock]).await;
    run.p
        .wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;
    run.publish(&commands).await;

    let report = run.finish().await;
    assert_clean(&report);
    assert_eq!(report.applied + report.rejected, commands.len() + 1);
    let received: f64 = [metrics(&slow).await, metrics(&quick).await]
        .iter()
        .map(|m| counter(m, "fulfil_messages_received_total", ""))
        .sum();
    assert!(
        received > (commands.len() + 1) as f64,
        "some messages were delivered again while the slow worker held them ({received} receives)"
    );
}
