//! One hot product through real `fulfil worker` processes and LocalStack: contention never
//! burns receives (64 receivers, 2 receives before the DLQ), two processes share the product
//! (both make progress), and a worker whose database connection goes silent mid-transaction
//! stops the product no longer than its configured timeouts.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::bodies::{place, restock};
use crate::harness::eventually;
use crate::pipeline::{Pipeline, RoleProcess};
use fulfil_testkit::fault_proxy::{upstream_of, Fault, FaultProxy};

const DRAIN: Duration = Duration::from_secs(180);

fn orders(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            place(
                &format!("{prefix}c{i}"),
                &format!("{prefix}o{i}"),
                &[("hot", 1)],
            )
        })
        .collect()
}

/// The worker's ops address, from its start-up line (`ops=127.0.0.1:PORT`).
fn ops_addr(worker: &RoleProcess) -> String {
    let log = worker.log();
    let at = log
        .find("ops=")
        .expect("start-up line names the ops address")
        + 4;
    log[at..]
        .split_whitespace()
        .next()
        .expect("ops address")
        .to_owned()
}

/// Commands this worker decided, from its own /metrics.
async fn decided_by(worker: &RoleProcess) -> u64 {
    let mut stream = tokio::net::TcpStream::connect(ops_addr(worker))
        .await
        .expect("connect to the worker's ops endpoint");
    let request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut body = String::new();
    stream.read_to_string(&mut body).await.expect("read");
    body.lines()
        .filter(|l| l.starts_with("fulfil_commands_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn sixty_four_receivers_on_one_product_leave_the_dlq_empty() {
    let p = Pipeline::with_receive_count(false, 2).await;
    let _worker = p
        .worker(&["--concurrency", "64", "--max-in-flight", "640"])
        .await;
    p.publish(&[restock("r", "hot", 100_000)]).await;
    p.wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;

    p.publish(&orders("", 2000)).await;

    p.wait_for_count("SELECT count(*) FROM orders", 2000, DRAIN)
        .await;
    p.wait_drained(DRAIN).await;
    p.assert_invariants().await;
}

#[tokio::test]
async fn two_worker_processes_on_one_hot_product_both_make_progress() {
    let p = Pipeline::new(false).await;
    let first = p.worker(&["--concurrency", "8"]).await;
    let second = p.worker(&["--concurrency", "8"]).await;
    p.publish(&[restock("r", "hot", 100_000)]).await;
    p.wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;

    p.publish(&orders("", 1500)).await;

    p.wait_for_count("SELECT count(*) FROM orders", 1500, DRAIN)
        .await;
    p.wait_drained(DRAIN).await;
    p.assert_invariants().await;
    let (a, b) = (decided_by(&first).await, decided_by(&second).await);
    assert!(
        a > 0 && b > 0,
        "both processes decided commands: {a} and {b}"
    );
}

/// Sessions of the pipeline's write database that have sat in an open transaction for
/// longer than `ms` (a busy worker is briefly idle between a transaction's statements).
async fn idle_in_transaction(p: &Pipeline, ms: u32) -> i64 {
    p.count(&format!(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND state = 'idle in transaction'
           AND state_change < now() - interval '{ms} milliseconds'"
    ))
    .await
}

#[tokio::test]
async fn a_database_connection_cut_mid_transaction_stops_the_product_only_for_its_timeouts() {
    let p = Pipeline::new(false).await;
    let real = p.settings.write_database_url.expose().to_owned();
    let proxy = FaultProxy::start(&upstream_of(&real)).await;
    let through = proxy.url_through(&real);
    // Its second unit (the first of orders, after the restock's) stops for 2 s just before
    // COMMIT, its row lock held.
    let env = [
        ("FULFIL_WRITE_DATABASE_URL", through.as_str()),
        (
            "FAILPOINTS",
            "worker::before_commit=1*off->1*sleep(2000)->off",
        ),
    ];
    let mut cut = p.worker_with(&["--concurrency", "4"], &env).await;
    p.publish(&[restock("r", "hot", 100_000)]).await;
    p.wait_for_count("SELECT count(*) FROM products", 1, DRAIN)
        .await;
    // Watched while the orders are still being published: the stop comes during that.
    let mid_transaction = eventually(DRAIN, "the first worker mid-transaction", || async {
        (idle_in_transaction(&p, 300).await > 0).then_some(())
    });
    let first_wave = orders("a", 300);
    tokio::join!(p.publish(&first_wave), mid_transaction);

    // Right then its connections go silent; a second worker takes over.
    proxy.set(Fault::BlackHole);
    let cut_at = Instant::now();
    let _other = p.worker(&["--concurrency", "4"]).await;
    let before = p.count("SELECT count(*) FROM orders").await;
    p.publish(&orders("b", 300)).await;

    // Lease 1 s (the pipeline's), database waits below it: the product moves again within
    // a few seconds, not when the TCP connection finally times out.
    eventually(
        Duration::from_secs(15),
        "orders decided by the other worker",
        || async { (p.count("SELECT count(*) FROM orders").await > before + 20).then_some(()) },
    )
    .await;
    let stopped = cut_at.elapsed();
    assert_eq!(
        idle_in_transaction(&p, 2000).await,
        0,
        "the server ended the cut session (idle-in-transaction timeout 800 ms)"
    );
    cut.signal("KILL");
    cut.wait_exit(Duration::from_secs(10))
        .await
        .expect("the process exits");
    p.wait_for_count("SELECT count(*) FROM orders", 600, DRAIN)
        .await;
    p.wait_drained(DRAIN).await;
    p.assert_invariants().await;
    eprintln!("the product stopped for {stopped:?}");
}

#[tokio::test]
async fn a_message_whose_product_is_held_elsewhere_holds_only_itself() {
    let p = Pipeline::new(false).await;
    let _worker = p.worker(&[]).await;
    p.publish(&[restock("r1", "slow", 10), restock("r2", "fast", 10)])
        .await;
    p.wait_for_count("SELECT count(*) FROM products", 2, DRAIN)
        .await;
    // Another process takes "slow" (for 60 s, or until it lets go below), as another
    // worker would: once this worker's idle lease on it from the restock has gone.
    let mut redis = crate::harness::redis().await;
    let slow_lock = format!("{}lock:{{slow}}", p.key_prefix);
    eventually(DRAIN, "the lock on slow taken by another process", || {
        let mut redis = redis.clone();
        let key = slow_lock.clone();
        async move {
            let taken: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg("another-process")
                .arg("NX")
                .arg("PX")
                .arg(60_000)
                .query_async(&mut redis)
                .await
                .expect("SET lock");
            taken.map(|_| ())
        }
    })
    .await;

    // The slow order first, on its own (a unit of its own that waits for the lock), then
    // the fast one in a later receive.
    p.publish(&[place("c1", "o-slow", &[("slow", 1)])]).await;
    eventually(DRAIN, "the slow order received", || async {
        (p.queue_depth().await == (0, 1)).then_some(())
    })
    .await;
    p.publish(&[place("c2", "o-fast", &[("fast", 1)])]).await;

    eventually(
        Duration::from_secs(30),
        "the fast order decided and deleted",
        || async {
            let fast = p
                .count("SELECT count(*) FROM orders WHERE order_id = 'o-fast'")
                .await;
            let slow = p
                .count("SELECT count(*) FROM orders WHERE order_id = 'o-slow'")
                .await;
            let depth = p.queue_depth().await;
            (fast == 1 && slow == 0 && depth == (0, 1)).then_some(())
        },
    )
    .await;
    let () = redis::cmd("DEL")
        .arg(&slow_lock)
        .query_async(&mut redis)
        .await
        .expect("DEL lock");
    p.wait_for_count("SELECT count(*) FROM orders", 2, DRAIN)
        .await;
    p.wait_drained(DRAIN).await;
    p.assert_invariants().await;
}
