//! `fulfil publish` as upstream would use it: a file of commands, bad lines reported by
//! number and not sent; and the demo's flash-sale publisher (`fulfil-demo flash-sale`) end
//! to end.

use std::process::Command;
use std::time::Duration;

use crate::harness::bodies::{place, restock};
use crate::pipeline::Pipeline;

fn fulfil(p: &Pipeline, args: &[&str]) -> std::process::Output {
    run(p, Command::new(env!("CARGO_BIN_EXE_fulfil")).args(args))
}

fn run(p: &Pipeline, command: &mut Command) -> std::process::Output {
    command
        .env(
            "FULFIL_WRITE_DATABASE_URL",
            p.settings.write_database_url.expose(),
        )
        .env("FULFIL_QUEUE_PREFIX", &p.settings.topology.prefix)
        .env(
            "AWS_ENDPOINT_URL",
            p.settings.aws.endpoint_url.as_deref().unwrap_or_default(),
        )
        .output()
        .expect("run the command")
}

#[tokio::test]
async fn a_file_is_published_except_its_bad_lines_which_are_named_by_number() {
    let p = Pipeline::new(true).await;
    let _worker = p.worker(&[]).await;
    let file = std::env::temp_dir().join(format!("{}.jsonl", crate::harness::unique("orders")));
    let bad = r#"{"version":1,"command_id":"c9","type":"PlaceOrder","order_id":"o9","user_id":"u","lines":[]}"#;
    std::fs::write(
        &file,
        [
            restock("r1", "bread", 10),
            bad.to_owned(),
            String::new(),
            place("c1", "o1", &[("bread", 2)]),
        ]
        .join("\n"),
    )
    .unwrap();

    let out = fulfil(&p, &["publish", "--file", file.to_str().unwrap()]);

    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad line makes the exit code 1"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2: lines: 0 items is below the minimum 1 (not sent)"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sent 2, failed 0, invalid lines 1"));
    p.wait_for_count("SELECT count(*) FROM inbox", 2, Duration::from_secs(60))
        .await;
    p.wait_drained(Duration::from_secs(60)).await;
    assert_eq!(
        p.count("SELECT count(*) FROM invalid_commands").await,
        0,
        "the bad line never left"
    );
}

#[tokio::test]
async fn the_flash_sale_scenario_ends_with_its_numbers_adding_up() {
    let p = Pipeline::new(true).await;
    let _workers = [p.worker(&[]).await, p.worker(&[]).await];

    let demo = crate::harness::tool("fulfil-demo");
    let out = run(
        &p,
        Command::new(demo).args([
            "flash-sale",
            "--product",
            "bread",
            "--stock",
            "300",
            "--buyers",
            "300",
            "--units",
            "2",
            "--duplicates",
            "0.2",
            "--invalid",
            "4",
            "--seed",
            "5",
        ]),
    );

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p.wait_for_count("SELECT count(*) FROM orders", 300, Duration::from_secs(120))
        .await;
    p.wait_for_count(
        "SELECT count(*) FROM invalid_commands",
        4,
        Duration::from_secs(60),
    )
    .await;
    p.wait_drained(Duration::from_secs(120)).await;
    assert_eq!(
        p.count("SELECT count(*) FROM orders WHERE status = 'confirmed'")
            .await,
        150
    );
    assert_eq!(p.count("SELECT available FROM products").await, 0);
    p.assert_invariants().await;
}
