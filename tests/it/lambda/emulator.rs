//! The Lambda binary as Lambda runs it: the `bootstrap` cargo built, polling a real Runtime
//! API emulator (cargo-lambda's `watch --only-lambda-apis`, pinned in `lambda/` and installed
//! by `./dev test`), invoked over HTTP with SQS events. Its settings come only from the
//! environment given here, as on Lambda; the database URL may come from a Secrets Manager
//! secret on LocalStack. Without the emulator these tests fail, naming the install step.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use fulfil::db::Database;
use fulfil::lock::{LockConfig, StockLock};
use fulfil_testkit::process::RoleProcess;

use super::event;
use crate::harness::bodies::{place, restock};
use crate::harness::{self, collector, eventually, TestDb, TestWorker};

/// Where `./dev env` says the emulator is.
const EMULATOR_SETTING: &str = "FULFIL_DEV_CARGO_LAMBDA";
/// The function name the emulator serves a runtime that polls its bare `/.rt` API as.
const FUNCTION: &str = "_";
/// Longest an invocation may take here (the emulator holds the request until the runtime
/// takes it, so a bootstrap that died would otherwise leave it waiting).
const INVOKE_WITHIN: Duration = Duration::from_secs(60);
/// The function timeout the bootstrap is told, and the lock settings that fit in it:
/// 8 attempts x (250 ms lock wait + 1 s lease) + the 2 s report margin = 12 s. A short
/// timeout keeps the locked-elsewhere test short; the 1 s lease (the transaction deadline)
/// leaves a loaded machine room to commit.
const FUNCTION_TIMEOUT_SECS: &str = "12";
const LOCK_SETTINGS: [(&str, &str); 2] = [
    ("FULFIL_LOCK_WAIT_MS", "250"),
    ("FULFIL_LOCK_LEASE_MS", "1000"),
];

/// cargo-lambda's executable, or a failure that says how to install it: never a skip.
fn emulator_binary() -> PathBuf {
    let install = "the Lambda tier needs the cargo-lambda Runtime API emulator: `./dev test` \
                   installs it, or alone `./dev emulator` (then eval \"$(./dev env)\")";
    let path = std::env::var_os(EMULATOR_SETTING)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{EMULATOR_SETTING} is not set: {install}"));
    assert!(
        path.is_file(),
        "{EMULATOR_SETTING}={} is not there: {install}",
        path.display()
    );
    path
}

/// A loopback port nothing listens on now (the emulator takes it a moment later).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// One function: an emulator of its own on a free port, and the built `bootstrap` polling
/// it with exactly the environment given (nothing inherited from the test). Dropped, the
/// bootstrap is killed before the emulator it polls (fields drop in order).
struct Function {
    port: u16,
    bootstrap: RoleProcess,
    emulator: RoleProcess,
}

impl Function {
    async fn start(env: &[(&str, String)]) -> Function {
        let port = free_port();
        let mut command = Command::new(emulator_binary());
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .args(["--manifest-path", manifest]);
        let mut emulator = RoleProcess::spawn(command, "cargo-lambda").expect("start cargo-lambda");
        emulator
            .wait_logged("starting Runtime server")
            .await
            .expect("the emulator serves the Runtime API");

        let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
        command.env_clear().envs(lambda_environment(port)).envs(
            env.iter()
                .map(|(name, value)| (name.to_string(), value.clone())),
        );
        let bootstrap = RoleProcess::spawn(command, "bootstrap").expect("start bootstrap");
        Function {
            port,
            bootstrap,
            emulator,
        }
    }

    /// Invokes the function with `event` and returns the message ids it reported failed.
    async fn invoke(&mut self, event: &SqsEvent) -> Vec<String> {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{FUNCTION}/invocations",
            self.port
        );
        let body = serde_json::to_string(event).expect("an SQS event serialises");
        let answer = tokio::time::timeout(INVOKE_WITHIN, async {
            tokio::select! {
                answer = harness::http_request("POST", &url, Some(&body)) => answer,
                () = self.exits() => panic!("bootstrap exited during the invocation\n{}", self.logs()),
            }
        });
        let (status, response) = answer
            .await
            .unwrap_or_else(|_| panic!("no answer within {INVOKE_WITHIN:?}\n{}", self.logs()));
        let json = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        assert_eq!(status, 200, "{response}\n{}", self.logs());
        let answer: SqsBatchResponse = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("not a batch response ({e}): {json}\n{}", self.logs()));
        answer
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    /// Resolves when the bootstrap has exited (it never should while serving).
    async fn exits(&mut self) {
        while self.bootstrap.try_wait().is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything both processes logged so far, for a failure's message.
    fn logs(&self) -> String {
        format!(
            "--- bootstrap's log:\n{}\n--- the emulator's log:\n{}",
            self.bootstrap.log(),
            self.emulator.log()
        )
    }
}

/// What Lambda (here the emulator) gives every function, and the AWS settings the stack
/// uses (LocalStack's endpoint and test credentials, from `./dev env`).
fn lambda_environment(port: u16) -> Vec<(String, String)> {
    let aws = |name: &str, default: &str| {
        let value = std::env::var(name).unwrap_or_else(|_| default.to_owned());
        (name.to_owned(), value)
    };
    vec![
        (
            "AWS_LAMBDA_RUNTIME_API".into(),
            format!("http://127.0.0.1:{port}/.rt"),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), FUNCTION.into()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "1".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "256".into()),
        (
            "FULFIL_LAMBDA_TIMEOUT_SECONDS".into(),
            FUNCTION_TIMEOUT_SECS.into(),
        ),
        aws("AWS_ENDPOINT_URL", &localstack()),
        aws("AWS_REGION", "us-east-1"),
        aws("AWS_ACCESS_KEY_ID", "test"),
        aws("AWS_SECRET_ACCESS_KEY", "test"),
    ]
}

/// LocalStack's endpoint, the harness's.
fn localstack() -> String {
    harness::aws_settings()
        .endpoint_url
        .expect("the harness names LocalStack's endpoint")
}

/// The worker function's environment on `w`'s database and key prefix; the standard-queue
/// topology unless `fifo`.
fn worker_environment(
    w: &TestWorker,
    database_url: Option<String>,
    fifo: bool,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("FULFIL_LAMBDA_HANDLER", "worker".to_owned()),
        ("FULFIL_REDIS_URL", harness::redis_url()),
        ("FULFIL_REDIS_KEY_PREFIX", w.key_prefix.clone()),
    ];
    env.extend(LOCK_SETTINGS.map(|(name, value)| (name, value.to_owned())));
    env.extend(database_url.map(|url| ("FULFIL_WRITE_DATABASE_URL", url)));
    if !fifo {
        env.push(("FULFIL_STANDARD_QUEUES", "true".to_owned()));
    }
    env
}

fn orders(n: usize, product: &str) -> Vec<String> {
    (0..n)
        .map(|i| place(&format!("c{i}"), &format!("o{i}"), &[(product, 1)]))
        .collect()
}

#[tokio::test]
async fn the_worker_function_applies_a_batch_and_reports_no_failure() {
    let w = TestWorker::new().await;
    let url = w.db.url.expose().to_owned();
    let mut function = Function::start(&worker_environment(&w, Some(url), true)).await;

    let restocked = function
        .invoke(&event(&[restock("r", "bread", 100)], 100))
        .await;
    let failed = function.invoke(&event(&orders(10, "bread"), 0)).await;

    assert!(
        restocked.is_empty() && failed.is_empty(),
        "{restocked:?} {failed:?}"
    );
    let confirmed = "SELECT count(*) FROM orders WHERE status = 'confirmed'";
    assert_eq!(w.count(confirmed).await, 10, "{}", function.logs());
    assert_eq!(w.available("bread").await, Some(90));
}

/// Spans leave with each invocation, not on the exporter's schedule (here ten minutes): on
/// Lambda the environment is frozen once the response is sent.
#[tokio::test]
async fn each_invocation_sends_its_spans_before_it_returns() {
    let w = TestWorker::new().await;
    let (otlp, exported) = collector().await;
    let mut env = worker_environment(&w, Some(w.db.url.expose().to_owned()), true);
    env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", otlp));
    env.push(("OTEL_BSP_SCHEDULE_DELAY", "600000".to_owned()));
    let mut function = Function::start(&env).await;

    let failed = function
        .invoke(&event(&[restock("r", "bread", 5)], 100))
        .await;

    assert!(failed.is_empty(), "{failed:?}");
    let bodies = eventually(Duration::from_secs(5), "the invocation's spans", || {
        let bodies = exported.lock().expect("collector lock").clone();
        async move { (!bodies.is_empty()).then_some(bodies) }
    })
    .await;
    let named = |b: &axum::body::Bytes| b.windows(7).any(|w| w == b"command");
    assert!(
        bodies.iter().any(named),
        "no `command` span in {} exports",
        bodies.len()
    );
}

/// Another worker holds one product's lock for longer than the invocation has: that
/// product's record is reported failed (for SQS to redeliver), the others are committed.
#[tokio::test]
async fn a_record_whose_product_stays_locked_elsewhere_is_the_only_one_reported_failed() {
    let w = TestWorker::new().await;
    let url = w.db.url.expose().to_owned();
    let mut function = Function::start(&worker_environment(&w, Some(url), false)).await;
    let stock = [restock("r1", "bread", 100), restock("r2", "milk", 100)];
    assert!(function.invoke(&event(&stock, 100)).await.is_empty());
    let holder = LockConfig {
        key_prefix: w.key_prefix.clone(),
        lease: Duration::from_secs(60),
        ..LockConfig::default()
    };
    let held = StockLock::new(w.redis.clone(), holder)
        .acquire(&["milk"])
        .await
        .expect("the other worker takes milk's lock");
    let mut batch = orders(5, "bread");
    batch.insert(2, place("c-milk", "o-milk", &[("milk", 1)]));

    let failed = function.invoke(&event(&batch, 0)).await;

    // Checked while milk is still held: its unit, cut off at the deadline, may commit once
    // the lock comes free (a duplicate when SQS redelivers the record).
    assert_eq!(failed, vec!["m-2"], "{}", function.logs());
    assert_eq!(w.count("SELECT count(*) FROM orders").await, 5);
    let milk = "SELECT count(*) FROM orders WHERE order_id = 'o-milk'";
    assert_eq!(w.count(milk).await, 0);
    assert_eq!(w.available("milk").await, Some(100));
    held.release().await.expect("release");
}

#[tokio::test]
async fn the_projector_function_updates_the_read_model() {
    let (db, pool) = TestDb::migrated(Database::Read).await;
    let env = [
        ("FULFIL_LAMBDA_HANDLER", "projector".to_owned()),
        ("FULFIL_READ_DATABASE_URL", db.url.expose().to_owned()),
    ];
    let mut function = Function::start(&env).await;
    let log = fulfil::projector::sample::history(3, 1, 1);
    let bodies: Vec<String> = log
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();

    let failed = function.invoke(&event(&bodies, 0)).await;

    assert!(failed.is_empty(), "{failed:?}");
    let applied: i64 = sqlx::query_scalar("SELECT events_applied FROM projection_state")
        .fetch_one(&pool)
        .await
        .expect("projection state");
    assert_eq!(applied, log.len() as i64, "{}", function.logs());
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM read_orders")
        .fetch_one(&pool)
        .await
        .expect("read orders");
    assert_eq!(orders, 3);
}

/// The write database's URL only in a Secrets Manager secret: the function reads it at
/// start, works with it, and never shows it. The dev server trusts loopback connections, so
/// the password in the URL is carried but not checked; any part of it in a log is a leak.
#[tokio::test]
async fn the_database_url_comes_from_a_secrets_manager_secret_and_never_shows() {
    const PASSWORD: &str = "Sm7secretPw0rdXq";
    let w = TestWorker::new().await;
    let mut url = url::Url::parse(w.db.url.expose()).expect("database URL");
    url.set_password(Some(PASSWORD)).expect("a URL with a user");
    let arn = create_secret(&harness::unique("write-db"), url.as_str()).await;
    let mut env = worker_environment(&w, None, true);
    env.push(("FULFIL_WRITE_DATABASE_URL_SECRET_ARN", arn));
    let mut function = Function::start(&env).await;

    let failed = function
        .invoke(&event(&[restock("r", "bread", 7)], 0))
        .await;

    assert!(failed.is_empty(), "{failed:?}\n{}", function.logs());
    assert_eq!(
        w.available("bread").await,
        Some(7),
        "applied through the secret's URL"
    );
    let logs = function.logs();
    assert!(
        !logs.contains("Sm7secret") && !logs.contains("Pw0rdXq"),
        "the secret's password shows:\n{logs}"
    );
}

/// A secret holding `value` on LocalStack; its ARN.
async fn create_secret(name: &str, value: &str) -> String {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(localstack())
        .load()
        .await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let created = secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    let created = created.unwrap_or_else(|e| {
        panic!(
            "creating a secret on LocalStack ({}): {} \n  LocalStack must run secretsmanager \
             (SERVICES in localstack/dev-lib.sh): restart it with `./dev down && ./dev up`",
            localstack(),
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        )
    });
    created.arn().expect("the secret's ARN").to_owned()
}
