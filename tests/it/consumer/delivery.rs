//! Messages reach the handler with their attributes and are settled as it says: deleted,
//! retried with backoff until the DLQ, held back behind their FIFO group, kept invisible
//! while slow.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use fulfil::queue::{Disposition, Message};

use super::*;

#[tokio::test]
async fn pollers_hand_over_every_message_with_its_attributes_and_never_hold_more_than_max_in_flight(
) {
    let aws = harness::aws().await;
    let queue = topology(false).await.commands_queue;
    let sent: Vec<String> = (0..12).map(|n| format!("message-{n}")).collect();
    send(
        &aws,
        &queue.url,
        &sent.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    )
    .await;
    let handler = TestHandler::new(
        Duration::from_millis(300),
        Box::new(|_, batch| Ok(all(batch, Disposition::Delete))),
    );
    let config = ConsumerConfig {
        pollers: 4,
        batch_size: 2,
        max_in_flight: 3,
        ..config(&queue.url, false)
    };

    let running = start(&aws, config, &handler);
    running
        .until(
            Duration::from_secs(30),
            "12 deletes",
            12,
            ConsumerStats::deleted,
        )
        .await;
    running.stop_within(Duration::from_secs(5)).await;

    let most = handler.most_held.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&most),
        "at most 3 messages held at once, and more than one: {most}"
    );
    let seen: Vec<Message> = handler.calls().into_iter().flat_map(|c| c.batch).collect();
    let mut seen_bodies: Vec<&str> = bodies(&seen);
    seen_bodies.sort_unstable();
    let mut expected: Vec<&str> = sent.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(seen_bodies, expected, "each message handled exactly once");
    for m in &seen {
        assert_eq!((m.receive_count, m.group_id.as_deref()), (1, None), "{m:?}");
        assert!(
            !m.message_id.is_empty() && !m.receipt_handle.is_empty(),
            "{m:?}"
        );
        let age = m
            .sent_at
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        assert!(
            age.is_some_and(|a| a < Duration::from_secs(120)),
            "sent_at {:?}",
            m.sent_at
        );
    }
    assert_eq!(counts(&aws, &queue.url).await, (0, 0), "the queue is empty");
}

#[tokio::test]
async fn with_a_delete_linger_the_deletes_of_small_batches_share_calls_of_ten() {
    let aws = harness::aws().await;
    let queue = topology(false).await.commands_queue;
    let sent: Vec<String> = (0..13).map(|n| format!("message-{n}")).collect();
    let bodies: Vec<&str> = sent.iter().map(String::as_str).collect();
    send(&aws, &queue.url, &bodies, None).await;
    let handler = TestHandler::deleting_all();
    let config = ConsumerConfig {
        pollers: 3,
        batch_size: 2,
        delete_linger: Duration::from_secs(1),
        ..config(&queue.url, false)
    };

    let running = start(&aws, config, &handler);
    running
        .until(
            Duration::from_secs(30),
            "13 deletes",
            13,
            ConsumerStats::deleted,
        )
        .await;
    let stats = Arc::clone(&running.stats);
    running.stop_within(Duration::from_secs(5)).await;

    let batches = handler.calls().len();
    let calls = stats.delete_calls();
    assert!(
        batches >= 7,
        "receives of at most 2 make at least 7 batches: {batches}"
    );
    assert!(
        (2..=3).contains(&calls),
        "13 deletes from {batches} batches in one full call of ten and the rest after the \
         linger (three if receiving outlasted it): {calls} DeleteMessageBatch calls"
    );
}

#[tokio::test]
async fn with_a_receive_window_messages_arriving_one_by_one_after_a_part_full_receive_come_in_one()
{
    let aws = harness::aws().await;
    let queue = topology(false).await.commands_queue;
    let handler = TestHandler::deleting_all();
    let config = ConsumerConfig {
        pollers: 1,
        receive_window: Duration::from_secs(1),
        ..config(&queue.url, false)
    };
    let running = start(&aws, config, &handler);
    send(&aws, &queue.url, &["first"], None).await;
    running
        .until(
            Duration::from_secs(30),
            "the first delete",
            1,
            ConsumerStats::deleted,
        )
        .await;

    for body in ["second", "third", "fourth", "fifth"] {
        send(&aws, &queue.url, &[body], None).await;
    }
    running
        .until(
            Duration::from_secs(30),
            "5 deletes",
            5,
            ConsumerStats::deleted,
        )
        .await;
    running.stop_within(Duration::from_secs(5)).await;

    let sizes: Vec<usize> = handler.calls().iter().map(|c| c.batch.len()).collect();
    assert_eq!(
        sizes,
        [1, 4],
        "after a receive of one, the next waits out the window and takes all four sent \
         one by one meanwhile"
    );
}

#[tokio::test]
async fn a_message_retried_every_time_backs_off_between_tries_and_ends_in_the_dlq() {
    let aws = harness::aws().await;
    let topology = topology(false).await;
    let (queue, dlq) = (&topology.commands_queue, &topology.commands_dlq);
    send(&aws, &queue.url, &["always-fails"], None).await;
    let handler = TestHandler::new(
        Duration::ZERO,
        Box::new(|_, batch| Ok(all(batch, Disposition::Retry))),
    );

    let running = start(&aws, config(&queue.url, false), &handler);
    let stats = Arc::clone(&running.stats);
    let dead = harness::eventually(Duration::from_secs(45), "the message in the DLQ", || {
        receive_one(&aws, &dlq.url)
    })
    .await;
    running.stop_within(Duration::from_secs(5)).await;

    assert_eq!(dead.body(), Some("always-fails"));
    let calls = handler.calls();
    let tries: Vec<u32> = calls
        .iter()
        .flat_map(|c| c.batch.iter().map(|m| m.receive_count))
        .collect();
    assert_eq!(
        tries,
        vec![1, 2, 3],
        "handled once per receive, up to maxReceiveCount 3"
    );
    for pair in calls.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(900),
            "a retry came back after only {gap:?}"
        );
    }
    assert_eq!((stats.retried(), stats.deleted()), (3, 0));
}

#[tokio::test]
async fn on_a_fifo_queue_a_retried_message_holds_back_the_later_messages_of_its_group() {
    let aws = harness::aws().await;
    let queue = topology(true).await.commands_queue;
    send(&aws, &queue.url, &["g-1", "g-2", "g-3"], Some("g")).await;
    send(&aws, &queue.url, &["h-1"], Some("h")).await;
    // g-1 fails the first time; the handler would happily delete everything else.
    let script: Script = Box::new(|handler, batch| {
        let first_time = handler
            .calls()
            .iter()
            .all(|c| !bodies(&c.batch).contains(&"g-1"));
        Ok(batch
            .iter()
            .map(|m| {
                if m.body == "g-1" && first_time {
                    Disposition::Retry
                } else {
                    Disposition::Delete
                }
            })
            .collect())
    });
    let handler = TestHandler::new(Duration::ZERO, script);
    let config = ConsumerConfig {
        pollers: 1,
        ..config(&queue.url, true)
    };

    let running = start(&aws, config, &handler);
    running
        .until(
            Duration::from_secs(30),
            "4 deletes",
            4,
            ConsumerStats::deleted,
        )
        .await;
    let retried = running.stats.retried();
    running.stop_within(Duration::from_secs(5)).await;

    let calls = handler.calls();
    let first = bodies(&calls[0].batch);
    assert_eq!(
        first.len(),
        4,
        "precondition: one batch of all four, got {first:?}"
    );
    let group_g: Vec<&str> = calls
        .iter()
        .flat_map(|c| bodies(&c.batch))
        .filter(|b| b.starts_with('g'))
        .collect();
    assert_eq!(
        group_g,
        vec!["g-1", "g-2", "g-3", "g-1", "g-2", "g-3"],
        "g-2 and g-3 came back behind g-1"
    );
    let h_seen = calls
        .iter()
        .flat_map(|c| bodies(&c.batch))
        .filter(|b| *b == "h-1")
        .count();
    assert_eq!(h_seen, 1, "the other group went through at once");
    assert_eq!(retried, 3, "g-1 and, forced by it, g-2 and g-3");
    assert_eq!(counts(&aws, &queue.url).await, (0, 0));
}

/// One message whose handling takes 5 s on a queue whose visibility timeout is 3 s, with
/// three pollers ready to take it should it reappear: the message is received and handled
/// once, and the heartbeat's extensions are what kept it (5 s of work against a 3 s timeout
/// needs at least three, one a second). 3 s rather than 2: SQS counts whole seconds, and at 2 s
/// no schedule leaves a call more than 1.3 s, less than a loaded machine can stall.
async fn slow_work_is_received_and_handled_once() -> Arc<ConsumerStats> {
    let aws = harness::aws().await;
    let queue = topology(false).await.commands_queue;
    set_queue_visibility(&aws, &queue.url, 3).await;
    send(&aws, &queue.url, &["slow"], None).await;
    let handler = TestHandler::new(
        Duration::from_secs(5),
        Box::new(|_, batch| Ok(all(batch, Disposition::Delete))),
    );
    let config = ConsumerConfig {
        pollers: 3,
        visibility_timeout: Duration::from_secs(3),
        ..config(&queue.url, false)
    };

    let running = start(&aws, config, &handler);
    let stats = Arc::clone(&running.stats);
    running
        .until(
            Duration::from_secs(20),
            "the delete",
            1,
            ConsumerStats::deleted,
        )
        .await;
    running.stop_within(Duration::from_secs(5)).await;

    assert_eq!(
        stats.received(),
        1,
        "no other poller got the message while it was worked on"
    );
    let per_body: HashMap<String, usize> =
        handler.calls().iter().fold(HashMap::new(), |mut seen, c| {
            c.batch
                .iter()
                .for_each(|m| *seen.entry(m.body.clone()).or_default() += 1);
            seen
        });
    assert_eq!(per_body, HashMap::from([("slow".to_owned(), 1)]));
    assert_eq!(counts(&aws, &queue.url).await, (0, 0));
    stats
}

#[tokio::test]
async fn slow_work_is_kept_invisible_by_the_heartbeat_and_handled_once() {
    let stats = slow_work_is_received_and_handled_once().await;

    assert!(
        stats.extended() >= 3,
        "the heartbeat kept it: {} extensions",
        stats.extended()
    );
}

/// One extension answered later than the whole visibility timeout (a stalled SQS call) does
/// not hold up the next ones: the message still never reappears.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn one_heartbeat_call_slower_than_the_visibility_timeout_lets_no_message_reappear() {
    fail::cfg("consumer::slow_heartbeat", "1*return(4000)").expect("failpoint");

    let stats = slow_work_is_received_and_handled_once().await;

    assert!(
        stats.extended() >= 3,
        "the calls after the slow one kept it: {} extensions",
        stats.extended()
    );
}
