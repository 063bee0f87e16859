//! `fulfil api` as the process operators run: it logs the address it bound (port 0 here),
//! serves the read database, and exits cleanly on SIGTERM.

use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::TestApi;
use crate::harness;
use crate::pipeline::RoleProcess;

/// `fulfil api` on port 0 over `read_database_url`, and the address its start line names.
async fn start_api(read_database_url: &str) -> (RoleProcess, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fulfil"));
    command
        .args(["api", "--listen", "127.0.0.1:0"])
        .env("FULFIL_READ_DATABASE_URL", read_database_url)
        .env("FULFIL_LOG_FORMAT", "text");
    let mut process = RoleProcess::spawn(command, "fulfil-api").expect("start the process");
    let addr = process
        .logged_field("api started", "addr")
        .await
        .expect("the start line");
    (process, addr)
}

/// A plain HTTP/1.1 GET; returns the status and the body.
async fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

#[tokio::test]
async fn fulfil_api_serves_the_read_database_and_stops_on_sigterm() {
    let api = TestApi::new().await;
    api.sql("INSERT INTO read_products VALUES ('bread', 'Bread', 7, 3, 1, 4, now())")
        .await;
    let (mut process, addr) = start_api(api.db.url.expose()).await;

    let (status, body) = http_get(&addr, "/v1/products/bread").await;
    assert_eq!(status, 200, "{body}");
    let product: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(product["available"], 7);
    harness::eventually(Duration::from_secs(10), "/readyz 200", || async {
        (http_get(&addr, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    let (_, metrics) = http_get(&addr, "/metrics").await;
    assert!(metrics.contains("fulfil_api_requests_total"), "{metrics}");

    process.signal("TERM");
    let exit = process
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the process exits");
    assert!(exit.success(), "{exit}:\n{}", process.log());
    assert!(process.log().contains("api stopped"), "{}", process.log());
}

#[tokio::test]
async fn fulfil_api_refuses_a_bad_listen_address_naming_the_setting() {
    let output = Command::new(env!("CARGO_BIN_EXE_fulfil"))
        .args(["api", "--listen", "localhost"])
        .env(
            "FULFIL_READ_DATABASE_URL",
            "postgres://fulfil@127.0.0.1:1/x",
        )
        .output()
        .expect("run fulfil api");

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"FULFIL_API_ADDR (--listen): "localhost" is not an address"#),
        "{stderr}"
    );
}
