//! A relay killed after publishing and before marking the rows published (failpoint
//! `relay::after_publish_before_mark=return(crash)`): the next relay publishes the same
//! events again, and the projector absorbs the copies by version. Standard queues, so no
//! SNS deduplication hides the copies from the projector.

use super::{aborted, assert_clean, counter, metrics, sale, Run, DRAIN};

#[tokio::test]
async fn a_relay_killed_between_publish_and_mark_causes_duplicates_the_projector_absorbs() {
    let run = Run::new(false, 10).await;
    let projector = run.p.projector_with(&[]).await;
    let env = [(
        "FAILPOINTS",
        "relay::after_publish_before_mark=return(crash)",
    )];
    let mut relay = run.p.relay_with(&[], &env).await;
    let _worker = run.p.worker(&[]).await;
    let (restock, orders) = sale("bread", 30, 20, 1);
    run.publish(&[restock]).await;
    run.publish(&orders).await;

    let status = relay.wait_exit(DRAIN).await.expect("the process exits");
    assert!(aborted(status), "{status}:\n{}", relay.log());
    let _next = run.p.relay(&[]).await;
    let report = run.finish().await;
    assert_clean(&report);
    assert_eq!(report.applied + report.rejected, 21);
    let seen = metrics(&projector).await;
    let series = "fulfil_projector_events_total";
    let copies = counter(&seen, series, r#"result="already_applied""#);
    assert!(
        copies >= 1.0,
        "the projector saw the republished events:\n{seen}"
    );
    let applied = counter(&seen, series, r#"result="applied""#);
    let events = run.p.count("SELECT count(*) FROM outbox").await;
    assert!(
        (1.0..=events as f64).contains(&applied),
        "no event applied twice: {applied} of {events}"
    );
}
