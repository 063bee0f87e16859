//! The TLS tier. `./dev up` gives PostgreSQL and Redis a certificate from a throwaway CA
//! (`.dev/tls`; Redis serves TLS on its own port). The worker, relay, projector and API,
//! given only TLS URLs (PostgreSQL `sslmode=verify-full` with the CA, `rediss://` with the
//! CA), take a sale through to the read side, and PostgreSQL sees every session of theirs
//! encrypted. A CA that did not sign the servers' certificate stops a role at start with
//! an error naming the service and the certificate problem.

use std::time::Duration;

use crate::harness::bodies::{place, restock};
use crate::harness::{eventually, http_get};
use crate::pipeline::Pipeline;

const DEADLINE: Duration = Duration::from_secs(60);
/// Names the roles' sessions, so the check below leaves out the test's own plain ones.
const APP: &str = "fulfil-tls-tier";

fn dev_env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| {
        panic!("{key} is not set: run the tests with ./dev test (./dev env exports it)")
    })
}

/// `url` (a dev URL, `sslmode=disable`) verifying the server against `ca`.
fn postgres_tls(url: &str, ca: &str) -> String {
    let base = url.split('?').next().expect("a URL");
    format!("{base}?sslmode=verify-full&sslrootcert={ca}&application_name={APP}")
}

fn redis_tls(ca: &str) -> String {
    format!("{}?ca_file={ca}", dev_env("FULFIL_DEV_REDIS_TLS_URL"))
}

/// Every database and Redis URL of `p` over TLS, checked against `ca`.
fn tls_urls(p: &Pipeline, ca: &str) -> [(&'static str, String); 3] {
    [
        (
            "FULFIL_WRITE_DATABASE_URL",
            postgres_tls(p.settings.write_database_url.expose(), ca),
        ),
        (
            "FULFIL_READ_DATABASE_URL",
            postgres_tls(p.settings.read_database_url.expose(), ca),
        ),
        ("FULFIL_REDIS_URL", redis_tls(ca)),
    ]
}

fn as_env<'a>(urls: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    urls.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn every_role_over_tls_takes_a_sale_to_the_read_side_on_encrypted_sessions_only() {
    let p = Pipeline::new(true).await;
    let urls = tls_urls(&p, &dev_env("FULFIL_DEV_TLS_CA"));
    let env = as_env(&urls);
    let _worker = p.worker_with(&[], &env).await;
    let _relay = p.relay_with(&[], &env).await;
    let projector = ["projector", "--ops-addr", "127.0.0.1:0"];
    let _projector = p.role(&projector, &env, "projector started").await;
    let api = p
        .role(&["api", "--listen", "127.0.0.1:0"], &env, "api started")
        .await;

    // The stock first: on FIFO an order's group is not the product's, so an order published
    // with the restock may be decided before it (and rejected).
    p.publish(&[restock("r-1", "bread", 10)]).await;
    p.wait_for_count("SELECT count(*) FROM products", 1, DEADLINE)
        .await;
    let sale: Vec<String> = (0..12)
        .map(|i| place(&format!("c-{i}"), &format!("o-{i}"), &[("bread", 1)]))
        .collect();
    p.publish(&sale).await;
    let confirmed = "SELECT count(*) FROM orders WHERE status = 'confirmed'";
    p.wait_for_count(confirmed, 10, DEADLINE).await;
    let addr = api
        .log()
        .lines()
        .find_map(|l| {
            l.split("addr=")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .expect("the API's address in its log");
    let stats = format!("http://{addr}/v1/stats");
    eventually(
        DEADLINE,
        "the read side over TLS to show the sale",
        || async {
            let (_, body) = http_get(&stats).await;
            body.contains(r#""confirmed":10"#).then_some(())
        },
    )
    .await;

    let sessions: (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
         WHERE a.application_name = $1",
    )
    .bind(APP)
    .fetch_one(&p.pool)
    .await
    .expect("pg_stat_ssl");
    assert!(
        sessions.0 >= 4,
        "the roles' sessions over TLS: {sessions:?}"
    );
    assert_eq!(sessions.1, 0, "a role's session without TLS: {sessions:?}");
}

#[tokio::test]
async fn a_ca_that_did_not_sign_the_servers_certificate_stops_the_role_naming_the_problem() {
    let p = Pipeline::new(true).await;
    let wrong = tls_urls(&p, &dev_env("FULFIL_DEV_TLS_OTHER_CA"));
    let cases = [(&wrong[0], "write database"), (&wrong[2], "Redis")];
    for ((key, url), service) in cases {
        let (ok, _, stderr) = p.cli_with(&["worker", "--ops-addr", "127.0.0.1:0"], &[(key, url)]);
        assert!(!ok, "the worker started with a wrong CA for {service}");
        assert!(stderr.contains(service), "{service} not named: {stderr}");
        let problem = stderr.to_lowercase();
        assert!(
            problem.contains("certificate") && problem.contains("unknownissuer"),
            "{service}: no certificate problem named: {stderr}"
        );
    }
}
