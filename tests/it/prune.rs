//! Pruning against the real write database, under a running worker, relay and projector.
//! `fulfil prune` runs again and again while a sale is published (and the relay prunes in
//! the background too): a trigger records any unrelayed event deleted, and there is none;
//! in the end each aggregate keeps exactly its newest event, and `verify` (which folds the
//! pruned log) is clean. Kept invalid and conflicting commands go once older than the
//! retention, not before.

use std::time::Duration;

use crate::harness::bodies::{place, restock};
use crate::pipeline::Pipeline;

const DEADLINE: Duration = Duration::from_secs(90);

/// Records in `deleted_outbox` every outbox row deleted, and whether it was relayed.
const WATCH_DELETES: &str = "
    CREATE TABLE deleted_outbox (id BIGINT, relayed BOOLEAN);
    CREATE FUNCTION record_deleted_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO deleted_outbox VALUES (OLD.id, OLD.published_at IS NOT NULL);
        RETURN OLD;
    END $$;
    CREATE TRIGGER record_deleted_outbox BEFORE DELETE ON outbox
        FOR EACH ROW EXECUTE FUNCTION record_deleted_outbox();";

fn prune(p: &Pipeline, extra: &[&str]) -> String {
    let (ok, out, stderr) = p.cli(&[&["prune"], extra].concat());
    assert!(ok, "fulfil prune: {stderr}");
    out
}

/// A sale on two products: restocks, 60 orders, every third cancelled.
fn sale(round: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    for i in 0..20 {
        let (order, product) = (format!("o-{round}-{i}"), ["bread", "milk"][i % 2]);
        bodies.push(place(&format!("c-{round}-{i}"), &order, &[(product, 1)]));
        if i % 3 == 0 {
            bodies.push(crate::harness::bodies::cancel(
                &format!("x-{round}-{i}"),
                &order,
            ));
        }
    }
    bodies
}

#[tokio::test]
async fn pruning_under_a_running_relay_deletes_only_superseded_relayed_events() {
    let p = Pipeline::new(true).await;
    sqlx::raw_sql(WATCH_DELETES)
        .execute(&p.pool)
        .await
        .expect("watch deletes");
    let _worker = p.worker(&[]).await;
    let background = [
        ("FULFIL_RETENTION_SECS", "0"),
        ("FULFIL_PRUNE_EVERY_SECS", "1"),
    ];
    let _relay = p.relay_with(&[], &background).await;
    let _projector = p.projector(&[]).await;
    p.publish(&[restock("r-1", "bread", 100), restock("r-2", "milk", 100)])
        .await;

    for round in 0..3 {
        p.publish(&sale(round)).await;
        prune(&p, &["--retention-secs", "0", "--batch", "7"]);
    }
    let decided = "SELECT count(*) FROM inbox";
    p.wait_for_count(decided, 2 + 3 * (20 + 7), DEADLINE).await;
    let unrelayed = "SELECT count(*) FROM outbox WHERE published_at IS NULL";
    p.wait_for_count(unrelayed, 0, DEADLINE).await;
    let out = prune(&p, &["--retention-secs", "0"]);
    assert!(out.starts_with("pruned "), "{out}");

    let bad = "SELECT count(*) FROM deleted_outbox WHERE NOT relayed";
    assert_eq!(p.count(bad).await, 0, "an unrelayed event was pruned");
    assert!(
        p.count("SELECT count(*) FROM deleted_outbox").await > 0,
        "nothing was pruned"
    );
    let aggregates = "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM products)";
    let kept = "SELECT count(*) FROM outbox";
    assert_eq!(
        p.count(kept).await,
        p.count(aggregates).await,
        "one event per aggregate"
    );
    let newest = "SELECT count(*) FROM outbox o JOIN orders w
                  ON o.aggregate_type = 'order' AND o.aggregate_id = w.order_id
                  AND o.aggregate_version = w.version";
    assert_eq!(
        p.count(newest).await,
        p.count("SELECT count(*) FROM orders").await
    );
    crate::harness::eventually(DEADLINE, "the read side to verify clean", || async {
        let (ok, out, _) = p.cli(&["verify"]);
        ok.then_some(out)
    })
    .await;
}

#[tokio::test]
async fn kept_commands_are_pruned_once_older_than_the_retention_and_not_before() {
    let p = Pipeline::new(true).await;
    let _worker = p.worker(&[]).await;
    let first = restock("r-1", "bread", 5);
    let conflicting = restock("r-1", "bread", 6);
    p.publish(&[first, "{broken".to_owned()]).await;
    p.wait_for_count("SELECT count(*) FROM invalid_commands", 1, DEADLINE)
        .await;
    p.publish_with_new_dedup_ids(&[conflicting]).await;
    p.wait_for_count("SELECT count(*) FROM conflicting_commands", 1, DEADLINE)
        .await;

    let out = prune(&p, &["--retention-secs", "3600"]);
    assert!(out.contains("0 invalid and 0 conflicting"), "{out}");
    assert_eq!(p.count("SELECT count(*) FROM invalid_commands").await, 1);

    let out = prune(&p, &["--retention-secs", "0"]);
    assert!(
        out.contains("1 invalid and 1 conflicting command(s) older than 0 s"),
        "{out}"
    );
    let left = "SELECT (SELECT count(*) FROM invalid_commands) + (SELECT count(*) FROM conflicting_commands)";
    assert_eq!(p.count(left).await, 0);
    assert_eq!(
        p.count("SELECT count(*) FROM inbox").await,
        1,
        "the inbox stays"
    );
}

#[tokio::test]
async fn a_bad_batch_size_is_refused_naming_it() {
    let p = Pipeline::new(false).await;
    let (ok, _, stderr) = p.cli(&["prune", "--batch", "0"]);
    assert!(!ok);
    assert!(
        stderr.contains("--batch") && stderr.contains("\"0\""),
        "{stderr}"
    );
}
