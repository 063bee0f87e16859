//! `fulfil dlq` against LocalStack. A command that always fails (failpoint `worker::poison`)
//! is moved to the commands DLQ by the worker with why; `list` and `show` name it, its group
//! and the reason; once the poison is lifted, `redrive` sends it back to the commands queue,
//! where it is applied exactly once: the whole queue by SQS's move task (and a second redrive
//! finds nothing to move), a message named by id by fulfil itself.

use std::time::Duration;

use serde_json::Value;

use crate::harness::bodies::{place, restock};
use crate::harness::eventually;
use crate::pipeline::{Pipeline, RoleProcess};

const DEADLINE: Duration = Duration::from_secs(60);

fn listed(p: &Pipeline) -> Vec<Value> {
    let (ok, stdout, stderr) = p.cli(&["dlq", "list", "--format", "json"]);
    assert!(ok, "fulfil dlq list: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A worker that fails `c-poison` every time, and the poison's DLQ listing once it is there.
async fn poisoned_in_dlq(p: &Pipeline) -> (RoleProcess, Vec<Value>) {
    let poisoned = p
        .worker_with(&[], &[("FAILPOINTS", "worker::poison=return(c-poison)")])
        .await;
    let poison = place("c-poison", "o-1", &[("bread", 1)]);
    p.publish(&[restock("r-1", "bread", 5), poison]).await;
    let messages = eventually(DEADLINE, "the poison in the commands DLQ", || async {
        Some(listed(p)).filter(|m| !m.is_empty())
    })
    .await;
    (poisoned, messages)
}

/// Stops the poisoned worker as ECS stops it (a worker killed outright leaves its long polls
/// open in LocalStack, which would each take, and so count, a delivery of the redriven
/// message) and starts a healthy one.
async fn lift_the_poison(p: &Pipeline, mut poisoned: RoleProcess) -> RoleProcess {
    poisoned.signal("TERM");
    poisoned
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("the process exits");
    p.worker(&[]).await
}

/// The redriven order is confirmed, its command applied once, and the DLQ empty.
async fn assert_applied_once(p: &Pipeline) {
    let confirmed = "SELECT count(*) FROM orders WHERE order_id = 'o-1' AND status = 'confirmed'";
    p.wait_for_count(confirmed, 1, DEADLINE).await;
    let inbox = "SELECT count(*) FROM inbox WHERE command_id = 'c-poison'";
    assert_eq!(p.count(inbox).await, 1, "applied once");
    assert!(listed(p).is_empty(), "the DLQ is empty after the redrive");
}

#[tokio::test]
async fn a_poisoned_command_is_listed_with_why_and_applied_once_after_its_redrive() {
    let p = Pipeline::with_receive_count(true, 2).await;
    let (poisoned, messages) = poisoned_in_dlq(&p).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    let why = &message["why"];
    let reason = why["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("failpoint worker::poison on c-poison"),
        "{reason}"
    );
    assert_eq!(why["receive_count"], 2, "{message}");
    let queue = p
        .provisioned
        .commands_queue
        .url
        .rsplit('/')
        .next()
        .expect("name");
    assert_eq!(why["source_queue"], queue, "{message}");
    assert!(
        message["group_id"].is_string(),
        "FIFO keeps the group: {message}"
    );

    let id = message["message_id"].as_str().expect("an id");
    let (ok, table, stderr) = p.cli(&["dlq", "list"]);
    assert!(ok, "{stderr}");
    assert!(
        table.contains(id) && table.contains("PlaceOrder c-poison"),
        "{table}"
    );
    assert!(table.contains("after 2 receive(s)"), "{table}");
    let (ok, shown, stderr) = p.cli(&["dlq", "show", id]);
    assert!(ok, "{stderr}");
    assert!(shown.contains(r#"\"command_id\":\"c-poison\""#), "{shown}");
    let (ok, _, stderr) = p.cli(&["dlq", "show", "no-such-id"]);
    assert!(!ok);
    assert!(
        stderr.contains("no message no-such-id in") && stderr.contains("(1 message(s) there)"),
        "{stderr}"
    );

    let _healthy = lift_the_poison(&p, poisoned).await;
    let (ok, out, stderr) = p.cli(&["dlq", "redrive"]);
    assert!(ok, "{stderr}");
    assert!(
        out.contains("1 message(s) sent back") && out.contains("by SQS's move task"),
        "{out}"
    );
    assert_applied_once(&p).await;
    let (ok, out, stderr) = p.cli(&["dlq", "redrive"]);
    assert!(ok, "{stderr}");
    assert!(out.contains("0 message(s) sent back"), "{out}");
}

#[tokio::test]
async fn a_message_named_by_id_is_redriven_by_fulfil_itself_and_applied_once() {
    let p = Pipeline::with_receive_count(false, 2).await;
    let (poisoned, messages) = poisoned_in_dlq(&p).await;
    let id = messages[0]["message_id"]
        .as_str()
        .expect("an id")
        .to_owned();

    let _healthy = lift_the_poison(&p, poisoned).await;
    let (ok, out, stderr) = p.cli(&["dlq", "redrive", &id]);
    assert!(ok, "{stderr}");
    assert!(
        out.contains(&format!("redriven {id}  PlaceOrder c-poison")),
        "{out}"
    );
    assert!(out.contains("1 message(s) sent back"), "{out}");
    assert_applied_once(&p).await;
}

#[tokio::test]
async fn an_unknown_message_id_is_refused_naming_it_and_the_queue() {
    let p = Pipeline::new(false).await;
    let (ok, _, stderr) = p.cli(&["dlq", "redrive", "nope", "--queue", "projector"]);

    assert!(!ok);
    let dlq = p.settings.topology.projector_dlq();
    assert!(
        stderr.contains(&format!("no message nope in {dlq}")),
        "{stderr}"
    );
}
