//! The shared integration harness. It starts nothing: it connects to the PostgreSQL, Redis
//! and LocalStack that `./dev up` started (URLs from `./dev env`, defaulting to the same
//! ports) and fails loudly, naming the service, its URL and its log file, when one is absent.
//! Every test gets its own databases, key prefix and queue names, so tests run in parallel.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use fulfil::config::{self, AwsSettings, SecretUrl, Topology};
use fulfil::db::{self, Database};
use fulfil::queue::AwsClients;
use fulfil::setup::SetupSettings;
use redis::aio::ConnectionManager;
use sqlx::PgPool;

const WRITE_URL: (&str, &str) = (
    "FULFIL_WRITE_DATABASE_URL",
    "postgres://fulfil@127.0.0.1:62329/fulfil_write",
);
const READ_URL: (&str, &str) = (
    "FULFIL_READ_DATABASE_URL",
    "postgres://fulfil@127.0.0.1:62329/fulfil_read",
);
const REDIS_URL: (&str, &str) = ("FULFIL_REDIS_URL", "redis://127.0.0.1:63799");
const AWS_URL: (&str, &str) = ("AWS_ENDPOINT_URL", "http://127.0.0.1:62669");
const REDIS_CLUSTER_URLS: (&str, &str) = (
    "FULFIL_DEV_REDIS_CLUSTER_URLS",
    "redis://127.0.0.1:63811,redis://127.0.0.1:63812,redis://127.0.0.1:63813",
);

fn setting((name, default): (&str, &str)) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The dev server's database URL of `kind` (tests that create databases of their own).
pub fn database_url(kind: Database) -> String {
    setting(if kind == Database::Write {
        WRITE_URL
    } else {
        READ_URL
    })
}

pub fn log_file(service: &str, file: &str) -> PathBuf {
    let dev = std::env::var("FULFIL_DEV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".dev"));
    dev.join(service).join(file)
}

/// The one way a missing service fails a test.
pub fn unreachable(service: &str, url: &str, log: PathBuf, err: impl std::fmt::Display) -> ! {
    panic!(
        "{service} is not reachable at {url}: {err}\n  \
         start the stack with `./dev up` (or run `./dev test`); {service} log file: {}",
        log.display()
    )
}

/// A tool of the workspace (`fulfil-check`, `fulfil-demo`, `fulfil-bench`), built beside
/// `fulfil` by `./dev build`; a test that needs one fails loudly when it is missing.
pub fn tool(name: &str) -> std::path::PathBuf {
    fulfil_testkit::process::binary(name).unwrap_or_else(|e| panic!("{e}"))
}

/// A short random tag that keeps one test's names apart from every other test's.
pub fn unique(tag: &str) -> String {
    format!(
        "t{}-{tag}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Polls `check` until it yields `Some`, failing the test with `what` at the deadline.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= until {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- OpenTelemetry

/// What a test's OTLP collector received: one request body per export.
pub type Collected = std::sync::Arc<std::sync::Mutex<Vec<axum::body::Bytes>>>;

/// The bodies an OTLP/HTTP collector on loopback received at `/v1/traces`.
pub async fn collector() -> (String, Collected) {
    let received: Collected = Collected::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| async move {
            kept.lock().expect("collector lock").push(body);
            ""
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the collector");
    let addr = listener.local_addr().expect("collector address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

// ---------------------------------------------------------------- PostgreSQL

/// A database of its own for one test, created empty on the dev cluster.
pub struct TestDb {
    pub url: SecretUrl,
    pub name: String,
}

impl TestDb {
    /// An empty database (no schema): for tests of migrations and setup.
    pub async fn empty(kind: Database) -> TestDb {
        let base = setting(if kind == Database::Write {
            WRITE_URL
        } else {
            READ_URL
        });
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_pool(&base).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
        admin.close().await;
        let url = replace_database(&base, &name);
        TestDb {
            url: config::validate_postgres_url("test", &url).expect("test URL"),
            name,
        }
    }

    /// A database with its kind's schema applied, and a pool on it.
    pub async fn migrated(kind: Database) -> (TestDb, PgPool) {
        let test_db = TestDb::empty(kind).await;
        let pool = test_db.pool(kind, 8).await;
        db::migrate(kind, &pool)
            .await
            .expect("migrations apply to a fresh database");
        (test_db, pool)
    }

    /// A small pool on any database URL of the test's (e.g. a pipeline's read database).
    pub async fn pool_for(url: &SecretUrl) -> PgPool {
        db::connect(Database::Read, url, 2)
            .await
            .expect("connect to the test database")
    }

    pub async fn pool(&self, kind: Database, max: u32) -> PgPool {
        db::connect(kind, &self.url, max)
            .await
            .expect("connect to the test database")
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("bad database URL {url}: {e}"));
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// A pool on the dev server's maintenance database, for tests that change databases and
/// roles.
pub async fn admin() -> PgPool {
    admin_pool(&setting(WRITE_URL)).await
}

async fn admin_pool(base: &str) -> PgPool {
    let url = replace_database(base, "postgres");
    let connect = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url);
    match connect.await {
        Ok(pool) => pool,
        Err(e) => unreachable("PostgreSQL", base, log_file("postgres", "postgres.log"), e),
    }
}

/// A login role of one test's own on the dev server, member of the dev role (so it may use
/// the test's databases), whose connections can be refused: too many connections on
/// demand, without touching the server's other users. Dropped by [`TestRole::drop_role`].
pub struct TestRole {
    pub name: String,
    admin: PgPool,
}

impl TestRole {
    pub async fn create() -> TestRole {
        let admin = admin().await;
        let name = format!(
            "test_role_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let member_of: String = sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(&admin)
            .await
            .expect("current user");
        let sql = format!("CREATE ROLE {name} LOGIN IN ROLE \"{member_of}\"");
        sqlx::query(&sql)
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        TestRole { name, admin }
    }

    /// `url` with this role as its user.
    pub fn url(&self, url: &SecretUrl) -> SecretUrl {
        let mut parsed = url::Url::parse(url.expose()).expect("database URL");
        parsed.set_username(&self.name).expect("a URL with a user");
        config::validate_postgres_url("test", parsed.as_str()).expect("role URL")
    }

    /// From now on every new connection of the role fails with SQLSTATE 53300
    /// (too_many_connections); `-1` lifts the limit.
    pub async fn limit_connections(&self, limit: i32) {
        let sql = format!("ALTER ROLE {} CONNECTION LIMIT {limit}", self.name);
        sqlx::query(&sql)
            .execute(&self.admin)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Ends the role's open sessions, as a server short of connections would leave it.
    pub async fn end_sessions(&self) {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
            .bind(&self.name)
            .execute(&self.admin)
            .await
            .expect("pg_terminate_backend");
    }

    /// Drops the role (its sessions first); for the end of a test that passed.
    pub async fn drop_role(self) {
        self.end_sessions().await;
        let sql = format!("DROP ROLE IF EXISTS {}", self.name);
        sqlx::query(&sql)
            .execute(&self.admin)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

// ---------------------------------------------------------------- Redis

pub fn redis_url() -> String {
    setting(REDIS_URL)
}

/// A connection to the dev stack's Redis (see [`redis_at`]).
pub async fn redis() -> ConnectionManager {
    redis_at(&redis_url()).await
}

/// The tests' one way to connect to a Redis: a connection manager that gives up after a
/// couple of retries and has answered PING, so an absent Redis fails the test fast and loud.
pub async fn redis_at(url: &str) -> ConnectionManager {
    let client = redis::Client::open(url).unwrap_or_else(|e| panic!("bad Redis URL {url}: {e}"));
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_connection_timeout(Some(Duration::from_secs(2)));
    let mut conn = match client.get_connection_manager_with_config(config).await {
        Ok(conn) => conn,
        Err(e) => unreachable("Redis", url, log_file("redis", "redis.log"), e),
    };
    if let Err(e) = ping(&mut conn).await {
        unreachable("Redis", url, log_file("redis", "redis.log"), e)
    }
    conn
}

/// Whether a Redis answers at `url` now (for waiting on one a test started itself).
pub async fn redis_answers(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    match client.get_multiplexed_async_connection().await {
        Ok(mut conn) => ping(&mut conn).await.is_ok(),
        Err(_) => false,
    }
}

async fn ping(conn: &mut impl redis::aio::ConnectionLike) -> redis::RedisResult<String> {
    redis::cmd("PING").query_async(conn).await
}

/// The seed URLs of the dev stack's 3-master Redis Cluster, comma-separated as `fulfil`
/// takes them in `FULFIL_REDIS_URL`.
pub fn redis_cluster_urls() -> String {
    setting(REDIS_CLUSTER_URLS)
}

/// A connection to the dev stack's Redis Cluster through the product's own `connect_redis`,
/// which has answered PING: a cluster that is absent or not formed fails the test here, loud,
/// saying to run `./dev up` (never a skip).
pub async fn redis_cluster() -> fulfil::redis_conn::RedisConnection {
    let (name, value) = (REDIS_CLUSTER_URLS.0, redis_cluster_urls());
    let urls = config::validate_redis_urls(name, &value).unwrap_or_else(|e| panic!("{e}"));
    assert!(urls.is_cluster(), "{name} must list several nodes: {value}");
    let first_port = value.split(',').next().and_then(|u| u.rsplit(':').next());
    let log = log_file(
        "redis-cluster",
        &format!("{}/redis.log", first_port.unwrap_or("")),
    );
    let mut conn = match fulfil::run::connect_redis(&urls).await {
        Ok(conn) => conn,
        Err(e) => unreachable("the Redis Cluster", &value, log, e),
    };
    if let Err(e) = ping(&mut conn).await {
        unreachable("the Redis Cluster", &value, log, e)
    }
    conn
}

// ---------------------------------------------------------------- LocalStack

pub fn aws_settings() -> AwsSettings {
    AwsSettings::validate("us-east-1", Some(&setting(AWS_URL))).expect("AWS settings")
}

/// SNS and SQS clients on LocalStack, checked with one call so an absent LocalStack fails
/// here with a clear message instead of deep inside a test. Credentials come from the
/// environment (`./dev env` exports LocalStack's test ones).
pub async fn aws() -> AwsClients {
    let clients = AwsClients::connect(&aws_settings()).await;
    let probe = tokio::time::timeout(
        Duration::from_secs(10),
        clients.sqs.list_queues().max_results(1).send(),
    )
    .await;
    match probe {
        Ok(Ok(_)) => clients,
        Ok(Err(e)) => unreachable(
            "LocalStack",
            &clients.endpoint,
            log_file("localstack", "localstack.log"),
            aws_sdk_sqs::error::DisplayErrorContext(e),
        ),
        Err(_) => unreachable(
            "LocalStack",
            &clients.endpoint,
            log_file("localstack", "localstack.log"),
            "no answer within 10 s",
        ),
    }
}

/// Setup settings for a topology of this test's own, on fresh empty databases.
pub async fn setup_settings(fifo: bool) -> SetupSettings {
    let topology = Topology::validate(&unique(""), fifo, 3, 5).expect("topology");
    SetupSettings {
        aws: aws_settings(),
        topology,
        write_database_url: TestDb::empty(Database::Write).await.url,
        read_database_url: TestDb::empty(Database::Read).await.url,
    }
}

// ---------------------------------------------------------------- the batch path

/// A worker of this test's own: a fresh write database, a Redis key prefix no one else uses.
pub struct TestWorker {
    pub worker: fulfil::worker::Worker,
    pub pool: PgPool,
    pub db: TestDb,
    pub redis: ConnectionManager,
    pub key_prefix: String,
}

impl TestWorker {
    pub async fn new() -> TestWorker {
        TestWorker::on(redis().await).await
    }

    /// A worker on a Redis of the test's own choosing (e.g. one it started itself).
    pub async fn on(redis: ConnectionManager) -> TestWorker {
        let (db, pool) = TestDb::migrated(Database::Write).await;
        let key_prefix = format!("{}:", unique("w"));
        let lock_config = fulfil::lock::LockConfig {
            key_prefix: key_prefix.clone(),
            ..Default::default()
        };
        let locks = fulfil::lock::StockLock::new(redis.clone(), lock_config);
        let cache = fulfil::stock_cache::StockCache::new(redis.clone(), &key_prefix);
        let worker = fulfil::worker::Worker::new(pool.clone(), locks, cache, Default::default());
        TestWorker {
            worker,
            pool,
            db,
            redis,
            key_prefix,
        }
    }

    /// Processes `bodies` as one batch of messages with fresh message ids.
    pub async fn batch(&self, bodies: &[String]) -> Vec<fulfil::worker::Recorded> {
        let batch: Vec<_> = bodies
            .iter()
            .map(|body| fulfil::worker::Incoming {
                message_id: uuid::Uuid::new_v4().to_string(),
                body: body.clone(),
                traceparent: None,
            })
            .collect();
        self.worker.process(&batch).await.expect("batch processed")
    }

    pub async fn available(&self, product_id: &str) -> Option<i64> {
        sqlx::query_scalar("SELECT available FROM products WHERE product_id = $1")
            .bind(product_id)
            .fetch_optional(&self.pool)
            .await
            .expect("read stock")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Deletes this test's Redis keys: what FLUSHALL does to it, without disturbing others.
    pub async fn flush_redis(&self) {
        let mut conn = self.redis.clone();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.key_prefix))
            .query_async(&mut conn)
            .await
            .expect("KEYS");
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .expect("DEL");
        }
    }
}

/// A plain HTTP GET of `url` (`http://host:port/path`): the status and the whole response.
pub async fn http_get(url: &str) -> (u16, String) {
    http_request("GET", url, None).await
}

/// A plain HTTP/1.1 request of `url` (`http://host:port/path`), with a JSON `body` if
/// given, on a connection closed after it: the status and the whole response.
pub async fn http_request(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let address = url.trim_start_matches("http://");
    let (host, path) = address.split_once('/').unwrap_or((address, ""));
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("connect to {host}: {e}"));
    let body = body.unwrap_or_default();
    let request = format!(
        "{method} /{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .expect("write");
    let mut response = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut response)
        .await
        .expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// Contract-v1 bodies for tests.
pub mod bodies {
    pub fn restock(command_id: &str, product_id: &str, quantity: i64) -> String {
        format!(
            r#"{{"version":1,"command_id":"{command_id}","type":"Restock","product_id":"{product_id}","quantity":{quantity},"name":"Product {product_id}"}}"#
        )
    }

    pub fn place(command_id: &str, order_id: &str, lines: &[(&str, i64)]) -> String {
        let lines: Vec<String> = lines
            .iter()
            .map(|(p, q)| format!(r#"{{"product_id":"{p}","quantity":{q}}}"#))
            .collect();
        format!(
            r#"{{"version":1,"command_id":"{command_id}","type":"PlaceOrder","order_id":"{order_id}","user_id":"u-{order_id}","lines":[{}]}}"#,
            lines.join(",")
        )
    }

    pub fn cancel(command_id: &str, order_id: &str) -> String {
        format!(
            r#"{{"version":1,"command_id":"{command_id}","type":"CancelOrder","order_id":"{order_id}","reason":"changed mind"}}"#
        )
    }
}

/// Writes `products` and appends `events` in `tx` the one way the worker does
/// (`store::changes::write`): the product updates gate the inserts.
pub async fn write_changes(
    tx: &mut sqlx::PgConnection,
    products: &[fulfil::store::products::ProductWrite],
    events: &[fulfil::contract::event::ChangeEvent],
) -> Result<(), fulfil::store::StoreError> {
    let traces = fulfil::store::outbox::TraceParents::default();
    let changes = fulfil::store::changes::Changes {
        inbox: &[],
        orders: &[],
        events,
        traces: &traces,
        products,
    };
    fulfil::store::changes::write(tx, &changes).await
}
