//! Faults in the soak's private services: PostgreSQL stopped with `-m immediate` and started
//! again, Redis flushed, paused (`CLIENT PAUSE`) or killed and started again, LocalStack's
//! process group stopped and continued. Starting and stopping goes through `./dev fault`,
//! which knows the private stack's files and refuses to touch the shared one.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

pub struct Services {
    dev_script: PathBuf,
    redis_url: String,
}

impl Services {
    pub fn new(dev_script: PathBuf, redis_url: String) -> Services {
        Services {
            dev_script,
            redis_url,
        }
    }

    /// `./dev fault ACTION` on the private stack (its variables are in our environment).
    async fn dev(&self, action: &str) -> anyhow::Result<()> {
        let out = tokio::process::Command::new(&self.dev_script)
            .args(["fault", action])
            .output()
            .await
            .with_context(|| format!("running {} fault {action}", self.dev_script.display()))?;
        if !out.status.success() {
            anyhow::bail!(
                "./dev fault {action}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    pub async fn postgres_crash(&self, down: Duration) -> anyhow::Result<()> {
        self.dev("pg-crash").await?;
        tokio::time::sleep(down).await;
        self.dev("pg-start").await
    }

    pub async fn redis_kill(&self, down: Duration) -> anyhow::Result<()> {
        self.dev("redis-kill").await?;
        tokio::time::sleep(down).await;
        self.dev("redis-start").await
    }

    pub async fn localstack_pause(&self, lasts: Duration) -> anyhow::Result<()> {
        self.dev("ls-stop").await?;
        tokio::time::sleep(lasts).await;
        self.dev("ls-cont").await
    }

    pub async fn redis_flush(&self) -> anyhow::Result<()> {
        self.redis(&mut redis::cmd("FLUSHALL")).await
    }

    pub async fn redis_client_pause(&self, lasts: Duration) -> anyhow::Result<()> {
        let millis = lasts.as_millis().to_string();
        self.redis(redis::cmd("CLIENT").arg("PAUSE").arg(millis))
            .await?;
        tokio::time::sleep(lasts).await;
        Ok(())
    }

    async fn redis(&self, command: &mut redis::Cmd) -> anyhow::Result<()> {
        let client = redis::Client::open(self.redis_url.as_str())?;
        let call = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            command.query_async::<()>(&mut conn).await
        };
        tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .context("Redis did not answer within 10 s")??;
        Ok(())
    }

    /// Every service up and running (idempotent): before the drain, and after a failure.
    pub async fn heal(&self) {
        for action in ["ls-cont", "pg-start", "redis-start"] {
            if let Err(e) = self.dev(action).await {
                eprintln!("chaos: healing: {e:#}");
            }
        }
    }
}
