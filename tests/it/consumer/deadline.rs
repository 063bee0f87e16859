//! The processing deadline: a batch whose handling hangs is kept invisible by the heartbeat
//! only until the deadline, then abandoned and returned to the queue at once, so it is
//! handled again well before its visibility timeout would have let it reappear.

use std::time::Duration;

use super::*;

/// One message whose first handling hangs, on a queue (and consumer) with `visibility`, under
/// `deadline`; returns once the second handling deleted it, within `within`.
async fn hang_once(
    visibility: u64,
    deadline: Duration,
    within: Duration,
) -> (Arc<ConsumerStats>, Vec<Call>) {
    let aws = harness::aws().await;
    let queue = topology(false).await.commands_queue;
    set_queue_visibility(&aws, &queue.url, visibility).await;
    send(&aws, &queue.url, &["stuck"], None).await;
    let handler = TestHandler::deleting_all();
    handler.hang_next.store(true, Ordering::SeqCst);
    let config = ConsumerConfig {
        pollers: 1,
        visibility_timeout: Duration::from_secs(visibility),
        processing_deadline: deadline,
        delete_linger: Duration::ZERO,
        receive_window: Duration::ZERO,
        ..config(&queue.url, false)
    };

    let running = start(&aws, config, &handler);
    running
        .until(
            within,
            "the message handled after the hang",
            1,
            ConsumerStats::deleted,
        )
        .await;
    let stats = Arc::clone(&running.stats);
    running.stop_within(Duration::from_secs(5)).await;
    assert_eq!(counts(&aws, &queue.url).await, (0, 0));
    (stats, handler.calls())
}

#[tokio::test]
async fn a_hung_batch_is_kept_invisible_by_the_heartbeat_only_until_the_deadline() {
    let (stats, calls) = hang_once(3, Duration::from_secs(5), Duration::from_secs(20)).await;

    assert_eq!(stats.abandoned(), 1, "the hung batch was abandoned");
    assert_eq!(
        stats.received(),
        2,
        "not redelivered while hung (5 s against a 3 s timeout), received once more after"
    );
    assert!(
        stats.extended() >= 2,
        "the heartbeat kept the hung batch: {} extensions",
        stats.extended()
    );
    assert_eq!(calls.len(), 1, "only the second call answered");
    assert_eq!(calls[0].batch[0].receive_count, 2);
}

#[tokio::test]
async fn a_batch_abandoned_at_the_deadline_is_returned_at_once_not_left_to_its_timeout() {
    // A 120 s visibility timeout: the message comes back within seconds only if returned.
    let (stats, calls) = hang_once(120, Duration::from_secs(2), Duration::from_secs(15)).await;

    assert_eq!((stats.abandoned(), stats.received()), (1, 2));
    assert_eq!(calls.len(), 1);
}
