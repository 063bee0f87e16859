//! Shutdown lets in-flight work finish and waits out the long polls in flight, giving back
//! at once what they bring; receive errors back off instead of spinning; a queue that is not
//! there fails `run` at once.

use std::time::Duration;

use fulfil::queue::Disposition;

use super::*;

#[tokio::test]
async fn shutdown_during_slow_work_still_deletes_the_message_once_the_long_poll_has_answered() {
    let aws = harness::aws().await;
    let queue = topology(false).await.commands_queue;
    send(&aws, &queue.url, &["slow"], None).await;
    let handler = TestHandler::new(
        Duration::from_secs(2),
        Box::new(|_, batch| Ok(all(batch, Disposition::Delete))),
    );
    let config = ConsumerConfig {
        wait_time: Duration::from_secs(4),
        ..config(&queue.url, false)
    };

    let running = start(&aws, config, &handler);
    running
        .until(
            Duration::from_secs(20),
            "the message received",
            1,
            ConsumerStats::received,
        )
        .await;
    let stats = Arc::clone(&running.stats);
    // The other poller sits in a 4 s long poll, waited out (it brings nothing), not dropped.
    running.stop_within(Duration::from_secs(10)).await;

    assert_eq!((stats.deleted(), stats.released_on_shutdown()), (1, 0));
    assert_eq!(handler.calls().len(), 1);
    assert_eq!(
        counts(&aws, &queue.url).await,
        (0, 0),
        "the finished message was deleted"
    );
}

/// A long poll in flight when shutdown begins is not dropped (SQS would still hand it the
/// messages that arrive, which would then stay invisible for the whole visibility timeout):
/// what it brings goes back to the queue at once, unhandled.
#[tokio::test]
async fn messages_a_long_poll_brings_after_shutdown_began_are_visible_again_at_once() {
    let aws = harness::aws().await;
    let queue = topology(false).await.commands_queue;
    let handler = TestHandler::deleting_all();
    let config = ConsumerConfig {
        pollers: 1,
        wait_time: Duration::from_secs(20),
        visibility_timeout: Duration::from_secs(120),
        ..config(&queue.url, false)
    };
    let running = start(&aws, config, &handler);
    running
        .until(
            Duration::from_secs(10),
            "a long poll in flight",
            1,
            ConsumerStats::receive_calls,
        )
        .await;
    let stats = Arc::clone(&running.stats);

    running.shutdown.cancel();
    send(&aws, &queue.url, &["late-1", "late-2", "late-3"], None).await;
    running.stop_within(Duration::from_secs(15)).await;

    let returned = stats.released_on_shutdown();
    assert!(
        (1..=3).contains(&returned),
        "returned after shutdown: {returned}"
    );
    assert!(handler.calls().is_empty(), "nothing handled after shutdown");
    assert_eq!(
        counts(&aws, &queue.url).await,
        (3, 0),
        "visible again long before their 120 s visibility timeout"
    );
}

#[tokio::test]
async fn receive_errors_back_off_and_receiving_resumes_when_the_queue_is_back() {
    let aws = harness::aws().await;
    let name = harness::unique("consumer-errors");
    let url = create_queue(&aws, &name).await;
    let handler = TestHandler::deleting_all();
    let config = ConsumerConfig {
        pollers: 1,
        ..config(&url, false)
    };

    let running = start(&aws, config, &handler);
    running
        .until(
            Duration::from_secs(10),
            "a first receive",
            1,
            ConsumerStats::receive_calls,
        )
        .await;
    aws.sqs
        .delete_queue()
        .queue_url(&url)
        .send()
        .await
        .expect("DeleteQueue");
    running
        .until(
            Duration::from_secs(20),
            "a receive error",
            1,
            ConsumerStats::receive_errors,
        )
        .await;
    let first_error = Instant::now();
    running
        .until(
            Duration::from_secs(20),
            "4 receive errors",
            4,
            ConsumerStats::receive_errors,
        )
        .await;
    let spread = first_error.elapsed();
    // Backoffs of 200 + 400 + 800 ms lie between the first and the fourth error.
    assert!(
        spread >= Duration::from_millis(1300),
        "errors came {spread:?} apart: a hot loop"
    );

    assert_eq!(
        create_queue(&aws, &name).await,
        url,
        "precondition: same name, same URL"
    );
    send(&aws, &url, &["after the outage"], None).await;
    running
        .until(
            Duration::from_secs(30),
            "the delete",
            1,
            ConsumerStats::deleted,
        )
        .await;
    running.stop_within(Duration::from_secs(5)).await;
    assert_eq!(bodies(&handler.calls()[0].batch), ["after the outage"]);
    let _ = aws.sqs.delete_queue().queue_url(&url).send().await;
}

async fn create_queue(aws: &AwsClients, name: &str) -> String {
    let out = aws
        .sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("CreateQueue");
    out.queue_url().expect("queue URL").to_owned()
}

#[tokio::test]
async fn run_fails_at_once_naming_the_queue_when_the_queue_does_not_exist() {
    let aws = harness::aws().await;
    let name = harness::unique("never-created");
    let url = format!(
        "{}/000000000000/{name}",
        harness::aws_settings().endpoint_url.expect("endpoint")
    );
    let consumer = Consumer::new(aws.sqs.clone(), config(&url, false));

    let run = consumer.run(TestHandler::deleting_all(), CancellationToken::new());
    let result = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("run returned in time");

    let error = result.expect_err("no such queue");
    assert!(error.to_string().contains(&name), "{error}");
    assert!(!error.is_retryable(), "{error}");
}
