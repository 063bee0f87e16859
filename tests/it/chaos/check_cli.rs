//! `fulfil-check --published FILE` as the soak and an engineer run it: the report on stdout, exit 0 when
//! every invariant holds, exit 1 and the broken promise named when one does not.

use std::process::Command;

use fulfil_testkit::check::published;

use super::{sale, Run};
use crate::harness::{self, bodies::place};

fn fulfil_check(run: &Run, lines: &[String]) -> (bool, String) {
    let path = std::env::temp_dir().join(format!("{}.jsonl", harness::unique("published")));
    std::fs::write(&path, lines.join("\n")).expect("write the published list");
    let settings = &run.p.settings;
    let out = Command::new(harness::tool("fulfil-check"))
        .arg("--published")
        .arg(&path)
        .env(
            "FULFIL_WRITE_DATABASE_URL",
            settings.write_database_url.expose(),
        )
        .env(
            "FULFIL_READ_DATABASE_URL",
            settings.read_database_url.expose(),
        )
        .env(
            "AWS_ENDPOINT_URL",
            settings.aws.endpoint_url.as_deref().unwrap_or_default(),
        )
        .env("FULFIL_QUEUE_PREFIX", &settings.topology.prefix)
        .env(
            "FULFIL_STANDARD_QUEUES",
            (!settings.topology.fifo).to_string(),
        )
        .output()
        .expect("run fulfil-check");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}: {stdout}\n{stderr}",
        out.status
    );
    (out.status.success(), stdout)
}

#[tokio::test]
async fn fulfil_check_passes_a_drained_pipeline_and_names_a_command_that_never_arrived() {
    let mut run = Run::new(true, 10).await;
    run.start_read_side().await;
    let _worker = run.p.worker(&[]).await;
    let (restock, orders) = sale("bread", 10, 8, 2);
    run.publish(&[restock]).await;
    run.p
        .wait_for_count("SELECT count(*) FROM products", 1, super::DRAIN)
        .await;
    run.publish(&orders).await;
    run.publish(&["{not json".to_owned()]).await;
    assert!(run.drain(super::DRAIN).await.complete);

    let mut lines: Vec<String> = run.published().iter().map(|b| published::line(b)).collect();
    let (clean, text) = fulfil_check(&run, &lines);
    assert!(clean, "{text}");
    assert!(
        text.contains("published 10  applied 6  rejected 3  invalid 1"),
        "{text}"
    );
    assert!(
        text.contains("lost 0  unexpected 0  oversold 0  read-model differences 0"),
        "{text}"
    );

    lines.push(place("c-never-sent", "o-never", &[("bread", 1)]));
    let (clean, text) = fulfil_check(&run, &lines);
    assert!(!clean, "{text}");
    assert!(text.contains("lost 1"), "{text}");
    assert!(
        text.contains(
            "VIOLATION nothing lost: command c-never-sent was published but has no outcome"
        ),
        "{text}"
    );
    lines.pop();

    // Lines are JSON in the order's row (migration 0008), unchecked by the schema: the
    // checker checks them.
    let order_id: String =
        sqlx::query_scalar("SELECT min(order_id) FROM orders WHERE status = 'confirmed'")
            .fetch_one(&run.p.pool)
            .await
            .expect("a confirmed order");
    sqlx::query(r#"UPDATE orders SET lines = '[{"product_id": "bread", "quantity": 0}]' WHERE order_id = $1"#)
        .bind(&order_id)
        .execute(&run.p.pool)
        .await
        .expect("plant a line of no units");
    let (clean, text) = fulfil_check(&run, &lines);
    assert!(!clean, "{text}");
    let violation = format!(
        "every order has its lines, each a product and a positive quantity: order {order_id}: line 0 has product bread and quantity 0"
    );
    assert!(text.contains(&violation), "{text}");
}
