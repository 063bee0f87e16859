//! Trace context across the pipeline: `fulfil publish` starts a trace per command and sends
//! its `traceparent` as a message attribute; the worker continues it and writes its context
//! beside the command's events; the relay sends it on; the projector continues it. One
//! command is followed by its trace id through the publisher's, the worker's and the
//! projector's JSON logs, and the worker's spans reach an OTLP endpoint (a collector of the
//! test's own) when one is configured.

use std::time::Duration;

use crate::harness::bodies::{place, restock};
use crate::harness::{collector, eventually, unique};
use crate::pipeline::{Pipeline, RoleProcess};

const DEADLINE: Duration = Duration::from_secs(60);
/// One log line per command and per event, as JSON.
const TRACE_LOGS: [(&str, &str); 2] = [
    ("FULFIL_LOG_FORMAT", "json"),
    ("RUST_LOG", "info,fulfil::trace=debug"),
];

/// The JSON log lines of `log` (other lines, if any, are left out).
fn json_lines(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A field of the line's own fields or of its current span.
fn field<'a>(line: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    line["fields"][name]
        .as_str()
        .or_else(|| line["span"][name].as_str())
}

/// The trace id of the line with `message` whose span or fields carry `key` = `value`.
fn trace_of(lines: &[serde_json::Value], message: &str, key: &str, value: &str) -> Option<String> {
    lines
        .iter()
        .find(|l| field(l, "message") == Some(message) && field(l, key) == Some(value))
        .and_then(|l| field(l, "trace_id"))
        .map(str::to_owned)
}

fn write_commands(bodies: &[String]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{}.jsonl", unique("trace")));
    std::fs::write(&path, bodies.join("\n")).expect("write the commands file");
    path
}

/// `fulfil publish --file` with JSON trace logs; the trace id it gave `command_id`.
fn publish(p: &Pipeline, bodies: &[String], command_id: &str) -> String {
    let file = write_commands(bodies);
    let path = file.to_str().expect("a UTF-8 path");
    let (ok, _, stderr) = p.cli_with(&["publish", "--file", path], &TRACE_LOGS);
    assert!(ok, "fulfil publish failed: {stderr}");
    trace_of(&json_lines(&stderr), "to publish", "command_id", command_id)
        .unwrap_or_else(|| panic!("no trace id for {command_id} in the publisher's log: {stderr}"))
}

async fn traced_roles(p: &Pipeline, otlp: &str) -> [RoleProcess; 3] {
    let worker_env = [
        TRACE_LOGS[0],
        TRACE_LOGS[1],
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let projector = ["projector", "--ops-addr", "127.0.0.1:0"];
    [
        p.worker_with(&[], &worker_env).await,
        p.relay(&[]).await,
        p.role(&projector, &TRACE_LOGS, "projector started").await,
    ]
}

#[tokio::test]
async fn one_commands_trace_id_runs_from_the_publisher_through_the_worker_to_the_projector() {
    let p = Pipeline::new(true).await;
    let (otlp, exported) = collector().await;
    let [worker, _relay, projector] = traced_roles(&p, &otlp).await;
    // The stock first: on FIFO the order's group is not the product's.
    publish(&p, &[restock("t-restock", "bread", 5)], "t-restock");
    p.wait_for_count("SELECT count(*) FROM products", 1, DEADLINE)
        .await;
    let trace = publish(
        &p,
        &[place("t-place", "t-order", &[("bread", 2)])],
        "t-place",
    );

    let in_worker = eventually(
        DEADLINE,
        "the worker to log the order's decision",
        || async {
            trace_of(
                &json_lines(&worker.log()),
                "applied",
                "command_id",
                "t-place",
            )
        },
    )
    .await;
    assert_eq!(
        in_worker, trace,
        "the worker continues the publisher's trace"
    );
    let projected = eventually(
        DEADLINE,
        "the projector to apply the order's event",
        || async {
            let lines = json_lines(&projector.log());
            trace_of(&lines, "event projected", "aggregate_id", "t-order")
        },
    )
    .await;
    assert_eq!(
        projected, trace,
        "the projector continues the worker's trace"
    );

    let wanted = hex::decode(&trace).expect("a hex trace id");
    eventually(
        DEADLINE,
        "the worker's span of the order at the OTLP endpoint",
        || async {
            let bodies = exported.lock().expect("collector lock").clone();
            bodies
                .iter()
                .any(|b| b.windows(wanted.len()).any(|w| w == wanted.as_slice()))
                .then_some(())
        },
    )
    .await;
}
