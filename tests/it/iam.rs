//! Least privilege that works: what each role's code calls on AWS, checked against what the
//! Terraform grants it, in `terraform show -json` of a plan (`infra/check --iam-plan`: the IAM
//! module planned offline with every ARN known, for compute = ecs and = lambda).
//!
//! Two halves. The source half scans `src/` for AWS SDK operations (their names come from the
//! SDK crates themselves) and requires each to be accounted for below: called by a deployed
//! role ([`CALLS`]) or not run by one ([`NOT_A_ROLE`]); a new call fails here until its grant
//! is decided. The plan half requires every role's granted actions to be exactly what its
//! calls map to (plus what its platform needs, [`platform`]): nothing missing, nothing more,
//! and `*` as a resource only for actions that take no resource ARN.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// (role, file, SDK operation): what each deployed role calls, and where.
const CALLS: &[(&str, &str, &str)] = &[
    // The SQS consumer, as worker and projector: the queue's attributes at start, then
    // receive, delete and change visibility (both in batches).
    ("worker", "src/queue/topology.rs", "get_queue_url"),
    (
        "worker",
        "src/queue/consumer/sqs.rs",
        "get_queue_attributes",
    ),
    ("worker", "src/queue/consumer/sqs.rs", "receive_message"),
    (
        "worker",
        "src/queue/consumer/sqs.rs",
        "delete_message_batch",
    ),
    (
        "worker",
        "src/queue/consumer/sqs.rs",
        "change_message_visibility_batch",
    ),
    // The worker finds its DLQ and moves a message failing its last delivery there itself.
    (
        "worker",
        "src/queue/consumer/dead_letter.rs",
        "get_queue_url",
    ),
    (
        "worker",
        "src/queue/consumer/dead_letter.rs",
        "send_message_batch",
    ),
    ("projector", "src/queue/topology.rs", "get_queue_url"),
    (
        "projector",
        "src/queue/consumer/sqs.rs",
        "get_queue_attributes",
    ),
    ("projector", "src/queue/consumer/sqs.rs", "receive_message"),
    (
        "projector",
        "src/queue/consumer/sqs.rs",
        "delete_message_batch",
    ),
    (
        "projector",
        "src/queue/consumer/sqs.rs",
        "change_message_visibility_batch",
    ),
    // The projector looks its DLQ up too, but never sends to it (its handler only retries).
    (
        "projector",
        "src/queue/consumer/dead_letter.rs",
        "get_queue_url",
    ),
    // The relay is given the topic's ARN (FULFIL_EVENTS_TOPIC_ARN), so it only publishes,
    // through the one batch call it shares with the operator's `fulfil publish`.
    ("relay", "src/queue/sns_batch.rs", "publish_batch"),
    // `fulfil setup` as the one-off migrate task: look-ups only (see the IAM module).
    ("migrate", "src/queue/topology.rs", "list_topics"),
    (
        "migrate",
        "src/queue/topology.rs",
        "get_subscription_attributes",
    ),
    (
        "migrate",
        "src/queue/topology.rs",
        "list_subscriptions_by_topic",
    ),
    ("migrate", "src/queue/topology.rs", "get_queue_url"),
    ("migrate", "src/queue/topology.rs", "get_queue_attributes"),
    // A Lambda function (worker or projector) reads its own secrets at start.
    ("lambda", "src/bin/bootstrap.rs", "get_secret_value"),
];

/// (path prefix, operation or `*`): SDK operations in the source that no deployed role runs.
const NOT_A_ROLE: &[(&str, &str)] = &[
    // `fulfil setup` creating and correcting the topology: on AWS, Terraform owns it and the
    // migrate role may only look (a difference fails setup instead of changing it).
    ("src/queue/topology.rs", "create_topic"),
    ("src/queue/topology.rs", "create_queue"),
    ("src/queue/topology.rs", "set_queue_attributes"),
    ("src/queue/topology.rs", "set_subscription_attributes"),
    ("src/queue/topology.rs", "subscribe"),
    // The operator's own tools, run with the operator's credentials.
    ("src/admin.rs", "*"),
    ("src/queue/dlq.rs", "*"),
    ("src/queue/move_task.rs", "*"),
    ("src/queue/publisher.rs", "*"),
    ("src/publish.rs", "*"),
    ("src/check/", "*"),
    ("src/demo/", "*"),
    ("src/bench/", "*"),
    ("src/bin/chaos/", "*"),
    // A tokio watch channel's `subscribe()`, not SNS.
    ("src/queue/consumer/gate.rs", "subscribe"),
];

/// What a Lambda function in a VPC does to its network interfaces (AWS's own
/// AWSLambdaVPCAccessExecutionRole set); none of these take a resource ARN.
const LAMBDA_VPC: [&str; 6] = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
];

/// Actions that take no resource ARN in IAM: the only ones that may be granted on `*`.
fn star_only(action: &str) -> bool {
    let others = [
        "sns:ListTopics",
        "sns:GetSubscriptionAttributes",
        "ecr:GetAuthorizationToken",
    ];
    others.contains(&action) || LAMBDA_VPC.contains(&action)
}

/// What a role needs from its platform rather than from our code's calls.
fn platform(role: &str, compute: &str) -> Vec<&'static str> {
    match (role, compute) {
        ("worker" | "projector", "lambda") => [
            &["logs:CreateLogStream", "logs:PutLogEvents"][..],
            &LAMBDA_VPC,
        ]
        .concat(),
        // ECS's agent: pull the image, write the logs, resolve the secrets into the task.
        ("execution", _) => vec![
            "ecr:GetAuthorizationToken",
            "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchGetImage",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "secretsmanager:GetSecretValue",
        ],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------- the source half

/// Every operation of the AWS SDK crates the product uses, with its IAM service prefix: the
/// names of the crates' `src/operation/` modules, from the versions in Cargo.lock.
fn sdk_operations() -> BTreeMap<String, &'static str> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("Cargo.lock");
    let registry = cargo_home().join("registry/src");
    let mut operations = BTreeMap::new();
    for (krate, service) in [
        ("aws-sdk-sqs", "sqs"),
        ("aws-sdk-sns", "sns"),
        ("aws-sdk-secretsmanager", "secretsmanager"),
    ] {
        let version = locked_version(&lock, krate);
        let dir = std::fs::read_dir(&registry)
            .expect("the cargo registry's sources")
            .filter_map(|index| {
                let path = index
                    .ok()?
                    .path()
                    .join(format!("{krate}-{version}/src/operation"));
                path.is_dir().then_some(path)
            })
            .next()
            .unwrap_or_else(|| {
                panic!(
                    "{krate} {version}'s sources not under {}",
                    registry.display()
                )
            });
        for entry in std::fs::read_dir(&dir)
            .expect("operation modules")
            .flatten()
        {
            if entry.path().is_dir() {
                operations.insert(entry.file_name().to_string_lossy().into_owned(), service);
            }
        }
    }
    operations
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo"),
        PathBuf::from,
    )
}

fn locked_version(lock: &str, krate: &str) -> String {
    let header = format!("name = \"{krate}\"\nversion = \"");
    let start = lock
        .find(&header)
        .unwrap_or_else(|| panic!("{krate} not in Cargo.lock"))
        + header.len();
    lock[start..]
        .split('"')
        .next()
        .expect("a version")
        .to_owned()
}

/// Every `.name()` call (no arguments, as the SDK's fluent builders start) in `text`.
fn no_argument_calls(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut calls = BTreeSet::new();
    for (at, _) in text.match_indices("()") {
        let mut start = at;
        while start > 0 && (bytes[start - 1].is_ascii_lowercase() || bytes[start - 1] == b'_') {
            start -= 1;
        }
        let mut dot = start;
        while dot > 0 && bytes[dot - 1].is_ascii_whitespace() {
            dot -= 1;
        }
        if start < at && dot > 0 && bytes[dot - 1] == b'.' {
            calls.insert(text[start..at].to_owned());
        }
    }
    calls
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("a source directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// (file, operation) for every SDK operation called in `src/`.
fn sdk_calls_in_source() -> BTreeSet<(String, String)> {
    let operations = sdk_operations();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut calls = BTreeSet::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("a source file");
        let file = path
            .strip_prefix(root())
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        for call in no_argument_calls(&text) {
            if operations.contains_key(&call) {
                calls.insert((file.clone(), call));
            }
        }
    }
    calls
}

fn accounted_for(file: &str, operation: &str) -> bool {
    CALLS.iter().any(|(_, f, o)| *f == file && *o == operation)
        || NOT_A_ROLE
            .iter()
            .any(|(prefix, o)| file.starts_with(prefix) && (*o == "*" || *o == operation))
}

/// The IAM action an SDK operation needs: a batch call is authorised by its single action.
fn iam_action(operation: &str) -> String {
    let service = sdk_operations()[operation];
    let base = operation.strip_suffix("_batch").unwrap_or(operation);
    let pascal: String = base
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    format!("{service}:{pascal}")
}

#[test]
fn every_aws_call_in_the_source_is_accounted_for_and_every_listed_call_exists() {
    let found = sdk_calls_in_source();
    assert!(
        found.iter().any(|(_, op)| op == "receive_message"),
        "the scan found no receive_message: it no longer sees the SDK calls ({found:?})"
    );
    let unaccounted: Vec<_> = found.iter().filter(|(f, o)| !accounted_for(f, o)).collect();
    assert!(
        unaccounted.is_empty(),
        "AWS SDK calls no role's grant accounts for (add them to CALLS with the grant, or to NOT_A_ROLE): {unaccounted:?}"
    );
    let stale: Vec<_> = CALLS
        .iter()
        .filter(|(_, f, o)| !found.contains(&(f.to_string(), o.to_string())))
        .collect();
    assert!(
        stale.is_empty(),
        "CALLS lists calls the source no longer makes: {stale:?}"
    );
}

#[test]
fn batch_operations_map_to_their_single_iam_action() {
    assert_eq!(iam_action("delete_message_batch"), "sqs:DeleteMessage");
    assert_eq!(iam_action("publish_batch"), "sns:Publish");
    assert_eq!(
        iam_action("get_secret_value"),
        "secretsmanager:GetSecretValue"
    );
    assert_eq!(
        iam_action("list_subscriptions_by_topic"),
        "sns:ListSubscriptionsByTopic"
    );
}

// ---------------------------------------------------------------- the plan half

/// `terraform show -json` of the IAM module's plan for `compute`, from `infra/check`.
fn plans() -> BTreeMap<&'static str, Value> {
    let dir = std::env::temp_dir().join(crate::harness::unique("iam-plan"));
    let out = std::process::Command::new(root().join("infra/check"))
        .arg("--iam-plan")
        .arg(&dir)
        .output()
        .expect("run infra/check");
    assert!(
        out.status.success(),
        "infra/check --iam-plan failed (terraform and the hashicorp/aws provider are needed; see infra/check):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ["ecs", "lambda"]
        .into_iter()
        .map(|compute| {
            let text = std::fs::read_to_string(dir.join(format!("iam-{compute}.json")))
                .expect("the plan's JSON");
            (compute, serde_json::from_str(&text).expect("plan JSON"))
        })
        .collect()
}

/// (action, resource) pairs granted to each role, from the planned role policies. Which
/// role a policy is attached to is read from its `role` expression in the configuration.
fn grants(plan: &Value) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut grants: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let modules = plan["planned_values"]["root_module"]["child_modules"]
        .as_array()
        .expect("modules");
    for resource in modules
        .iter()
        .flat_map(|m| m["resources"].as_array().expect("resources"))
    {
        if resource["type"] != "aws_iam_role_policy" {
            continue;
        }
        let role = attached_role(plan, resource);
        let policy: Value = serde_json::from_str(
            resource["values"]["policy"]
                .as_str()
                .expect("a known policy"),
        )
        .expect("policy JSON");
        for statement in policy["Statement"].as_array().expect("statements") {
            assert_eq!(statement["Effect"], "Allow", "{role}: {statement}");
            for action in one_or_many(&statement["Action"]) {
                for arn in one_or_many(&statement["Resource"]) {
                    grants
                        .entry(role.clone())
                        .or_default()
                        .insert((action.clone(), arn));
                }
            }
        }
    }
    grants
}

fn one_or_many(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().expect("a string").to_owned())
            .collect(),
        other => panic!("neither a string nor a list: {other}"),
    }
}

/// The role a planned policy is attached to: `aws_iam_role.role["<role>"]` (or, under
/// for_each, the policy's own key) or the ECS execution role.
fn attached_role(plan: &Value, resource: &Value) -> String {
    let name = resource["name"].as_str().expect("a resource name");
    let configured = plan["configuration"]["root_module"]["module_calls"]["iam"]["module"]
        ["resources"]
        .as_array()
        .expect("configured resources")
        .iter()
        .find(|r| r["type"] == "aws_iam_role_policy" && r["name"] == name)
        .unwrap_or_else(|| panic!("{name} not configured"));
    let references = one_or_many(&configured["expressions"]["role"]["references"]);
    if references.iter().any(|r| r == "aws_iam_role.execution") {
        return "execution".into();
    }
    match &resource["index"] {
        Value::String(key) => {
            let keyed = ["aws_iam_role.role", "each.key"];
            assert!(
                keyed.iter().all(|k| references.iter().any(|r| r == k)),
                "{name}: {references:?}"
            );
            key.clone()
        }
        _ => references
            .iter()
            .find_map(|r| r.strip_prefix("aws_iam_role.role[\"")?.strip_suffix("\"]"))
            .unwrap_or_else(|| panic!("{name}: no role among {references:?}"))
            .to_owned(),
    }
}

/// The IAM actions `role` should hold on `compute`: its code's calls and its platform's needs.
fn expected_actions(role: &str, compute: &str) -> BTreeSet<String> {
    let lambda = compute == "lambda" && matches!(role, "worker" | "projector");
    let mut actions: BTreeSet<String> = CALLS
        .iter()
        .filter(|(r, _, _)| *r == role || (lambda && *r == "lambda"))
        .map(|(_, _, op)| iam_action(op))
        .collect();
    actions.extend(platform(role, compute).into_iter().map(str::to_owned));
    actions
}

/// The module call's constant input `name` (an ARN the test root passes).
fn input(plan: &Value, name: &str) -> String {
    plan["configuration"]["root_module"]["module_calls"]["iam"]["expressions"][name]
        ["constant_value"]
        .as_str()
        .unwrap_or_else(|| panic!("input {name} is not a constant"))
        .to_owned()
}

/// Each role's grants on the queues and topics name only its own.
fn assert_own_resources(
    plan: &Value,
    grants: &BTreeMap<String, BTreeSet<(String, String)>>,
    compute: &str,
) {
    let own = [
        (
            "worker",
            vec![
                input(plan, "commands_queue_arn"),
                input(plan, "commands_dlq_arn"),
            ],
        ),
        (
            "projector",
            vec![
                input(plan, "projector_queue_arn"),
                input(plan, "projector_dlq_arn"),
            ],
        ),
        ("relay", vec![input(plan, "events_topic_arn")]),
    ];
    for (role, arns) in own {
        for (action, arn) in &grants[role] {
            if action.starts_with("sqs:") || action.starts_with("sns:") {
                assert!(
                    arns.contains(arn),
                    "{compute}: {role} may {action} on {arn}, not its own"
                );
            }
        }
    }
    let dlq = input(plan, "commands_dlq_arn");
    let sends: Vec<_> = grants["worker"]
        .iter()
        .filter(|(a, _)| a == "sqs:SendMessage")
        .collect();
    assert!(
        sends.iter().all(|(_, arn)| *arn == dlq),
        "{compute}: the worker sends elsewhere than its DLQ: {sends:?}"
    );
}

#[test]
fn every_role_is_granted_exactly_what_its_code_calls_and_stars_only_where_aws_requires() {
    for (compute, plan) in plans() {
        let grants = grants(&plan);
        for role in [
            "worker",
            "relay",
            "projector",
            "migrate",
            "api",
            "execution",
        ] {
            let granted: BTreeSet<String> = grants
                .get(role)
                .into_iter()
                .flatten()
                .map(|(a, _)| a.clone())
                .collect();
            let expected = expected_actions(role, compute);
            let missing: Vec<_> = expected.difference(&granted).collect();
            let extra: Vec<_> = granted.difference(&expected).collect();
            assert!(
                missing.is_empty(),
                "{compute}: {role} calls but is not granted {missing:?}"
            );
            assert!(
                extra.is_empty(),
                "{compute}: {role} is granted more than it calls: {extra:?}"
            );
        }
        let stars: Vec<_> = grants
            .iter()
            .flat_map(|(role, g)| g.iter().map(move |(a, r)| (role, a, r)))
            .filter(|(_, a, r)| r.contains('*') && !(r.ends_with(":*") && a.starts_with("logs:")))
            .filter(|(_, a, _)| !star_only(a))
            .collect();
        assert!(
            stars.is_empty(),
            "{compute}: wildcards where a resource ARN is possible: {stars:?}"
        );
        assert_own_resources(&plan, &grants, compute);
    }
}
