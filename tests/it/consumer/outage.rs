//! An outage of the handler's dependency pauses all receiving and holds the batch, which
//! is handled again (same delivery) once the dependency is healthy.

use std::time::Duration;

use fulfil::queue::{Disposition, Outage};

use super::*;

/// Deletes everything while healthy; reports a write-DB outage otherwise.
fn down_until_healthy() -> Script {
    Box::new(|handler, batch| {
        if handler.healthy.load(Ordering::SeqCst) {
            return Ok(all(batch, Disposition::Delete));
        }
        let detail = "connection refused".to_owned();
        Err(Outage {
            dependency: "write database",
            detail,
        })
    })
}

#[tokio::test]
async fn during_an_outage_nothing_new_is_received_and_the_held_batch_goes_through_once_healthy() {
    let aws = harness::aws().await;
    let queue = topology(false).await.commands_queue;
    set_queue_visibility(&aws, &queue.url, 2).await;
    let handler = TestHandler::new(Duration::ZERO, down_until_healthy());
    handler.healthy.store(false, Ordering::SeqCst);
    let config = ConsumerConfig {
        visibility_timeout: Duration::from_secs(2),
        ..config(&queue.url, false)
    };
    send(&aws, &queue.url, &["first"], None).await;

    let running = start(&aws, config, &handler);
    running
        .until(
            Duration::from_secs(20),
            "the batch held",
            1,
            ConsumerStats::held_for_outage,
        )
        .await;
    // Three probes take 1.4 s, longer than a 1 s poll begun before the gate closed.
    until_probes(&handler, 3).await;
    let receives = running.stats.receive_calls();
    send(&aws, &queue.url, &["second", "third"], None).await;
    // The fourth probe comes 3 s into the outage: past the 2 s visibility timeout.
    until_probes(&handler, 4).await;

    assert_eq!(
        running.stats.receive_calls(),
        receives,
        "no receive while the gate is closed"
    );
    assert_eq!(
        counts(&aws, &queue.url).await,
        (2, 1),
        "new ones wait in the queue; the held one stays invisible"
    );
    let seen: Vec<Vec<Message>> = handler.calls().into_iter().map(|c| c.batch).collect();
    assert!(seen.iter().all(|b| bodies(b) == ["first"]), "{seen:?}");

    handler.healthy.store(true, Ordering::SeqCst);
    running
        .until(
            Duration::from_secs(20),
            "3 deletes",
            3,
            ConsumerStats::deleted,
        )
        .await;
    running.stop_within(Duration::from_secs(5)).await;

    let mut handled: Vec<(String, u32)> = handler
        .calls()
        .into_iter()
        .filter(|c| c.outcome.is_ok())
        .flat_map(|c| c.batch.into_iter().map(|m| (m.body, m.receive_count)))
        .collect();
    handled.sort();
    let expected = [("first", 1), ("second", 1), ("third", 1)].map(|(b, n)| (b.to_owned(), n));
    assert_eq!(
        handled, expected,
        "each handled once, from its first delivery"
    );
    assert_eq!(counts(&aws, &queue.url).await, (0, 0));
}

async fn until_probes(handler: &TestHandler, n: u64) {
    let what = format!("{n} health probes");
    harness::eventually(Duration::from_secs(20), &what, || async {
        (handler.probes() >= n).then_some(())
    })
    .await;
}

#[tokio::test]
async fn shutdown_during_an_outage_hold_returns_the_held_messages_to_the_queue_at_once() {
    let aws = harness::aws().await;
    let queue = topology(false).await.commands_queue;
    // Long enough that only the release, not the timeout, can make them visible in time.
    set_queue_visibility(&aws, &queue.url, 60).await;
    let handler = TestHandler::new(Duration::ZERO, down_until_healthy());
    handler.healthy.store(false, Ordering::SeqCst);
    let config = ConsumerConfig {
        visibility_timeout: Duration::from_secs(60),
        ..config(&queue.url, false)
    };
    send(&aws, &queue.url, &["held"], None).await;

    let running = start(&aws, config, &handler);
    running
        .until(
            Duration::from_secs(20),
            "the batch held",
            1,
            ConsumerStats::held_for_outage,
        )
        .await;
    until_probes(&handler, 3).await;
    let stats = Arc::clone(&running.stats);
    running.stop_within(Duration::from_secs(5)).await;

    assert_eq!(stats.released_on_shutdown(), 1);
    assert_eq!(stats.deleted(), 0);
    let again = harness::eventually(Duration::from_secs(10), "the released message", || {
        receive_one(&aws, &queue.url)
    })
    .await;
    assert_eq!(again.body(), Some("held"));
    assert_eq!(
        receive_count(&again),
        Some("2"),
        "received once by the consumer, once here"
    );
}
