//! `fulfil-demo`'s namespace on the real services: a demo drops what the previous one
//! recorded, by exact name, and leaves alone whatever merely looks like a demo's. Each test
//! records under a scope of its own, so it never touches a real demo's namespace.

use std::time::Duration;

use fulfil::config::{self, Topology};
use fulfil::db::Database;
use fulfil::queue::AwsClients;
use fulfil_demo::namespace::{self, Namespace};
use fulfil_demo::DemoSettings;
use sqlx::PgPool;

use crate::harness;

fn settings() -> DemoSettings {
    DemoSettings {
        aws: harness::aws_settings(),
        write_database_url: config::validate_postgres_url(
            "test",
            &harness::database_url(Database::Write),
        )
        .expect("write URL"),
        redis_url: config::validate_redis_urls("test", &harness::redis_url()).expect("Redis URL"),
        sale: fulfil_testkit::scenario::FlashSale {
            product_id: "bread".into(),
            stock: 1,
            buyers: 1,
            units: 1,
            duplicates: 0.0,
            invalid: 0,
            seed: 1,
        },
        deadline: Duration::from_secs(60),
    }
}

async fn database_exists(admin: &PgPool, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(admin)
        .await
        .expect("pg_database")
}

/// Creates database `name` unless there is one; whether this call created it.
async fn create_database(admin: &PgPool, name: &str) -> bool {
    if database_exists(admin, name).await {
        return false;
    }
    let sql = format!("CREATE DATABASE {name}");
    sqlx::query(&sql)
        .execute(admin)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    true
}

async fn queue_exists(aws: &AwsClients, name: &str) -> bool {
    aws.sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .is_ok()
}

fn databases_of(ns: &Namespace) -> [String; 2] {
    [format!("{}_write", ns.tag), format!("{}_read", ns.tag)]
}

/// Databases and a queue named like a demo's, made by someone else: `demographics_write`
/// (the one the old rule `demo%_write` dropped) and the same trick on the test's scope.
struct Lookalikes {
    databases: Vec<String>,
    /// Those this test created, and so removes at the end.
    created: Vec<String>,
    queue: String,
}

impl Lookalikes {
    async fn create(admin: &PgPool, aws: &AwsClients, scope: &str) -> Lookalikes {
        let databases = vec![
            "demographics_write".to_owned(),
            format!("{scope}graphics_write"),
        ];
        let mut created = Vec::new();
        for name in &databases {
            if create_database(admin, name).await {
                created.push(name.clone());
            }
        }
        let prefix = format!("{scope}graphics-");
        let queue = Topology::validate(&prefix, false, 3, 5)
            .expect("topology")
            .commands_queue();
        let made = aws.sqs.create_queue().queue_name(&queue).send();
        made.await.expect("CreateQueue");
        Lookalikes {
            databases,
            created,
            queue,
        }
    }

    async fn assert_left_alone(&self, admin: &PgPool, aws: &AwsClients) {
        for name in &self.databases {
            assert!(database_exists(admin, name).await, "{name} left alone");
        }
        assert!(
            queue_exists(aws, &self.queue).await,
            "{} left alone",
            self.queue
        );
    }

    async fn remove(self, admin: &PgPool, aws: &AwsClients) {
        for name in self.created {
            let sql = format!("DROP DATABASE {name}");
            sqlx::query(&sql)
                .execute(admin)
                .await
                .expect("drop lookalike");
        }
        let url = aws.sqs.get_queue_url().queue_name(&self.queue).send().await;
        let url = url.expect("lookalike queue").queue_url.unwrap_or_default();
        let _ = aws.sqs.delete_queue().queue_url(url).send().await;
    }
}

#[tokio::test]
async fn a_demo_drops_the_previous_demos_namespace_by_name_and_leaves_lookalikes_alone() {
    let scope = format!("t{}demo", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (settings, admin, aws) = (settings(), harness::admin().await, harness::aws().await);
    let lookalikes = Lookalikes::create(&admin, &aws, &scope).await;

    let first = namespace::create(&settings, &scope).await.expect("first");
    fulfil::setup::run(&first.setup).await.expect("first setup");
    let second = namespace::create(&settings, &scope).await.expect("second");

    for name in databases_of(&first) {
        assert!(!database_exists(&admin, &name).await, "{name} dropped");
    }
    let first_queue = first.setup.topology.commands_queue();
    assert!(
        !queue_exists(&aws, &first_queue).await,
        "{first_queue} deleted"
    );
    for name in databases_of(&second) {
        assert!(database_exists(&admin, &name).await, "{name} created");
    }
    lookalikes.assert_left_alone(&admin, &aws).await;

    namespace::drop_recorded(&settings, &scope)
        .await
        .expect("drop");
    for name in databases_of(&second) {
        assert!(
            !database_exists(&admin, &name).await,
            "{name} dropped at the end"
        );
    }
    lookalikes.remove(&admin, &aws).await;
}
