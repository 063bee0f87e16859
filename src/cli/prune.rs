//! `fulfil prune`: what the retention lets go, deleted once, to the end, with progress.

use clap::Args;

use super::{RetentionArgs, WriteDbArgs};
use crate::config::{ConfigError, SecretUrl};

/// `fulfil prune`: everything due, once, with progress.
#[derive(Debug, Clone, Args)]
pub struct PruneOnceArgs {
    #[command(flatten)]
    pub write_db: WriteDbArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Most rows one statement deletes (1 to 100000).
    #[arg(long, default_value_t = crate::run::prune::DEFAULT_BATCH)]
    pub batch: i64,
}

impl PruneOnceArgs {
    /// Prunes everything due, printing progress at most once a second and a summary.
    pub async fn run(&self) -> anyhow::Result<()> {
        let (url, settings) = self.into_settings()?;
        let pool = crate::db::connect(crate::db::Database::Write, &url, 1).await?;
        let mut shown = std::time::Instant::now();
        let progress = |p: &crate::store::prune::Pruned| {
            if shown.elapsed() >= std::time::Duration::from_secs(1) {
                eprintln!(
                    "pruning: {} events, {} invalid, {} conflicting so far",
                    p.events, p.invalid_commands, p.conflicting_commands
                );
                shown = std::time::Instant::now();
            }
        };
        let (pruned, _) = crate::run::prune::prune_due(&pool, settings, 0, progress).await?;
        println!(
        "pruned {} superseded relayed event(s), {} invalid and {} conflicting command(s) older than {} s",
        pruned.events, pruned.invalid_commands, pruned.conflicting_commands,
        settings.retention.as_secs()
    );
        Ok(())
    }

    pub fn into_settings(
        &self,
    ) -> Result<(SecretUrl, crate::run::prune::PruneSettings), ConfigError> {
        if !(1..=100_000).contains(&self.batch) {
            let value = self.batch.to_string();
            return Err(ConfigError::new(
                "--batch",
                &value,
                "must be between 1 and 100000",
            ));
        }
        let settings = crate::run::prune::PruneSettings {
            retention: std::time::Duration::from_secs(self.retention.retention_secs),
            batch: self.batch,
        };
        Ok((self.write_db.into_settings()?, settings))
    }
}
