//! The end-to-end part of the harness: a topology and databases of the test's own, `fulfil
//! worker` processes started from the built binary (so they can be killed, paused and
//! signalled like in production), and a publisher that goes through SNS as upstream does.

#![allow(dead_code)]

use std::process::Command;
use std::time::Duration;

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_sdk_sqs::types::QueueAttributeName as Attr;
use fulfil::config::Topology;
use fulfil::contract::Envelope;
use fulfil::db::Database;
use fulfil::queue::topology::Provisioned;
use fulfil::queue::AwsClients;
use fulfil::setup::SetupSettings;
use sqlx::PgPool;

pub use fulfil_testkit::process::RoleProcess;

use crate::harness::{self, TestDb};

pub struct Pipeline {
    pub settings: SetupSettings,
    pub provisioned: Provisioned,
    pub aws: AwsClients,
    pub pool: PgPool,
    pub key_prefix: String,
}

impl Pipeline {
    /// Topics, queues (visibility 5 s, 10 receives before the DLQ) and both schemas.
    pub async fn new(fifo: bool) -> Pipeline {
        Pipeline::with_receive_count(fifo, 10).await
    }

    /// Like `new`, with `max_receive_count` receives before a message goes to the DLQ.
    pub async fn with_receive_count(fifo: bool, max_receive_count: u32) -> Pipeline {
        let aws = harness::aws().await;
        let write = TestDb::empty(Database::Write).await;
        let settings = SetupSettings {
            aws: harness::aws_settings(),
            topology: Topology::validate(&harness::unique(""), fifo, max_receive_count, 5)
                .expect("topology"),
            write_database_url: write.url.clone(),
            read_database_url: TestDb::empty(Database::Read).await.url,
        };
        let report = fulfil::setup::run(&settings).await.expect("setup");
        let pool = write.pool(Database::Write, 4).await;
        let key_prefix = format!("{}:", harness::unique("e2e"));
        Pipeline {
            settings,
            provisioned: report.provisioned,
            aws,
            pool,
            key_prefix,
        }
    }

    /// Starts a `fulfil worker` process on this pipeline (`extra` adds flags) and waits
    /// until it says it started, so a worker that cannot start fails the test right here.
    pub async fn worker(&self, extra: &[&str]) -> RoleProcess {
        self.worker_with(extra, &[]).await
    }

    /// A worker with some environment overridden (e.g. its Redis URL through a proxy).
    pub async fn worker_with(&self, extra: &[&str], env: &[(&str, &str)]) -> RoleProcess {
        let args = [&["worker", "--ops-addr", "127.0.0.1:0"], extra].concat();
        self.role(&args, env, "worker started").await
    }

    /// Starts a `fulfil relay` process on this pipeline.
    pub async fn relay(&self, extra: &[&str]) -> RoleProcess {
        self.role(
            &[&["relay", "--ops-addr", "127.0.0.1:0"], extra].concat(),
            &[],
            "relay started",
        )
        .await
    }

    /// Starts a `fulfil projector` process on this pipeline.
    pub async fn projector(&self, extra: &[&str]) -> RoleProcess {
        self.role(
            &[&["projector", "--ops-addr", "127.0.0.1:0"], extra].concat(),
            &[],
            "projector started",
        )
        .await
    }

    /// Starts `fulfil ARGS` with this pipeline's settings in its environment (every role
    /// takes what it needs) and waits until its log shows `started`.
    pub async fn role(&self, args: &[&str], env: &[(&str, &str)], started: &str) -> RoleProcess {
        let mut command = self.command(args);
        command
            .env("FULFIL_VISIBILITY_TIMEOUT", "5")
            .env("FULFIL_LOCK_LEASE_MS", "1000")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied());
        let mut process =
            RoleProcess::spawn(command, &format!("fulfil-{}", args[0])).expect("start the process");
        process.wait_logged(started).await.expect("the line logged");
        process
    }

    /// Runs an operator's `fulfil ARGS` to its end on this pipeline: (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        self.cli_with(args, &[])
    }

    /// [`Pipeline::cli`] with some environment overridden.
    pub fn cli_with(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
        let out = self
            .command(args)
            .envs(env.iter().copied())
            .output()
            .expect("run fulfil");
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    }

    /// `fulfil ARGS` with this pipeline's databases, Redis, AWS endpoint and names.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fulfil"));
        command
            .args(args)
            .env(
                "FULFIL_WRITE_DATABASE_URL",
                self.settings.write_database_url.expose(),
            )
            .env(
                "FULFIL_READ_DATABASE_URL",
                self.settings.read_database_url.expose(),
            )
            .env("FULFIL_REDIS_URL", harness::redis_url())
            .env("FULFIL_REDIS_KEY_PREFIX", &self.key_prefix)
            .env(
                "AWS_ENDPOINT_URL",
                self.settings
                    .aws
                    .endpoint_url
                    .as_deref()
                    .unwrap_or_default(),
            )
            .env("FULFIL_QUEUE_PREFIX", &self.settings.topology.prefix)
            .env(
                "FULFIL_STANDARD_QUEUES",
                (!self.settings.topology.fifo).to_string(),
            );
        command
    }

    /// A relay with some environment overridden (e.g. `FAILPOINTS`).
    pub async fn relay_with(&self, extra: &[&str], env: &[(&str, &str)]) -> RoleProcess {
        self.role(
            &[&["relay", "--ops-addr", "127.0.0.1:0"], extra].concat(),
            env,
            "relay started",
        )
        .await
    }

    /// A projector (2 polls) with some environment overridden (e.g. its read database
    /// through a fault proxy).
    pub async fn projector_with(&self, env: &[(&str, &str)]) -> RoleProcess {
        let args = [
            "projector",
            "--ops-addr",
            "127.0.0.1:0",
            "--concurrency",
            "2",
        ];
        self.role(&args, env, "projector started").await
    }

    /// Publishes through SNS in batches of ten, as the contract says (group and dedup ids
    /// on FIFO, the `command_type` attribute always). Invalid bodies go out as they are.
    pub async fn publish(&self, bodies: &[String]) {
        for chunk in bodies.chunks(10) {
            let entries: Vec<PublishBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| self.entry(i, body, None))
                .collect();
            let out = self
                .aws
                .sns
                .publish_batch()
                .topic_arn(&self.provisioned.commands_topic_arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
                .expect("PublishBatch");
            assert!(
                out.failed().is_empty(),
                "publish failures: {:?}",
                out.failed()
            );
        }
    }

    /// Publishes again with new deduplication ids: copies that get past SNS/SQS dedup.
    pub async fn publish_with_new_dedup_ids(&self, bodies: &[String]) {
        for (i, body) in bodies.iter().enumerate() {
            let entry = self.entry(i, body, Some(harness::unique("dedup")));
            let mut publish = self
                .aws
                .sns
                .publish()
                .topic_arn(&self.provisioned.commands_topic_arn)
                .message(body);
            publish = publish.set_message_attributes(entry.message_attributes().cloned());
            if self.settings.topology.fifo {
                publish = publish.set_message_group_id(entry.message_group_id().map(str::to_owned));
                publish = publish.set_message_deduplication_id(
                    entry.message_deduplication_id().map(str::to_owned),
                );
            }
            publish.send().await.expect("Publish");
        }
    }

    /// Sends straight to the commands queue (a redelivery long after SNS's dedup window).
    pub async fn send_to_queue(&self, body: &str) {
        let mut send = self
            .aws
            .sqs
            .send_message()
            .queue_url(&self.provisioned.commands_queue.url)
            .message_body(body);
        if self.settings.topology.fifo {
            let group = Envelope::parse(body)
                .map(|e| e.command.message_group_id().to_owned())
                .unwrap_or_else(|_| "x".into());
            send = send
                .message_group_id(group)
                .message_deduplication_id(harness::unique("late"));
        }
        send.send().await.expect("SendMessage");
    }

    fn entry(&self, i: usize, body: &str, dedup: Option<String>) -> PublishBatchRequestEntry {
        let parsed = Envelope::parse(body).ok();
        let command_type = parsed.as_ref().map_or("Invalid", |e| e.command.type_name());
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(command_type)
            .build()
            .expect("attribute");
        let mut entry = PublishBatchRequestEntry::builder()
            .id(format!("e{i}"))
            .message(body)
            .message_attributes("command_type", attribute);
        if self.settings.topology.fifo {
            let group = parsed.as_ref().map_or_else(
                || "invalid".to_owned(),
                |e| e.command.message_group_id().to_owned(),
            );
            let dedup = dedup.unwrap_or_else(|| {
                parsed
                    .as_ref()
                    .map_or_else(|| harness::unique("inv"), |e| e.command_id.clone())
            });
            entry = entry
                .message_group_id(group)
                .message_deduplication_id(dedup);
        }
        entry.build().expect("entry")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Waits until `sql` counts `expected`, failing with what it counted last.
    pub async fn wait_for_count(&self, sql: &str, expected: i64, deadline: Duration) {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let last: i64 = sqlx::query_scalar(sql)
                .fetch_one(&self.pool)
                .await
                .unwrap_or(-1);
            if last == expected {
                return;
            }
            let depth = self.queue_depth().await;
            assert!(
                tokio::time::Instant::now() < until,
                "`{sql}` counted {last}, not {expected}, after {deadline:?} (queue: {depth:?})"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Messages in the commands queue: (visible, in flight).
    pub async fn queue_depth(&self) -> (i64, i64) {
        let out = self
            .aws
            .sqs
            .get_queue_attributes()
            .queue_url(&self.provisioned.commands_queue.url)
            .attribute_names(Attr::ApproximateNumberOfMessages)
            .attribute_names(Attr::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let attrs = out.attributes().cloned().unwrap_or_default();
        let get = |k: &Attr| attrs.get(k).and_then(|v| v.parse().ok()).unwrap_or(-1);
        (
            get(&Attr::ApproximateNumberOfMessages),
            get(&Attr::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// Waits until the commands queue holds nothing, visible or in flight.
    pub async fn wait_drained(&self, deadline: Duration) {
        harness::eventually(deadline, "the commands queue to drain", || async {
            (self.queue_depth().await == (0, 0)).then_some(())
        })
        .await;
    }

    /// The invariants every scenario ends with: stock never negative and conserved, one
    /// inbox row per order, and nothing stuck in the DLQ.
    pub async fn assert_invariants(&self) {
        assert_eq!(
            self.count("SELECT count(*) FROM products WHERE available < 0")
                .await,
            0
        );
        assert_eq!(self.count("SELECT count(*) FROM products WHERE restocked - confirmed + cancelled <> available").await, 0);
        let confirmed_lines = self.count(
            "SELECT coalesce(sum((l->>'quantity')::int8), 0)::int8 FROM orders o, json_array_elements(o.lines) l WHERE o.status = 'confirmed'",
        );
        let net = self.count("SELECT coalesce(sum(confirmed - cancelled), 0)::int8 FROM products");
        assert_eq!(
            confirmed_lines.await,
            net.await,
            "confirmed order lines equal the stock taken"
        );
        let dlq = self
            .aws
            .sqs
            .get_queue_attributes()
            .queue_url(&self.provisioned.commands_dlq.url)
            .attribute_names(Attr::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("DLQ attributes");
        let in_dlq = dlq
            .attributes()
            .and_then(|a| a.get(&Attr::ApproximateNumberOfMessages))
            .cloned();
        assert_eq!(in_dlq.as_deref(), Some("0"), "valid commands in the DLQ");
    }
}
