//! `fulfil prune`: what the retention lets go, deleted once, to the end, with progress.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;

use super::shared::{within, WriteDbArgs};
use crate::config::{ConfigError, SecretUrl};
use crate::run::prune::PruneSettings;

/// How long relayed events and kept records are kept (a week by default); the relay's
/// background pruning reads the same setting.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Seconds a relayed event (once a newer event of its aggregate exists) and a kept
    /// invalid or conflicting command are kept before pruning deletes them.
    #[arg(long, env = "FULFIL_RETENTION_SECS", default_value_t = 604_800)]
    pub retention_secs: u64,
}

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

/// `fulfil prune`'s settings: where, and what one pass deletes.
#[derive(Debug, Clone)]
pub struct PruneOnceSettings {
    pub write_database_url: SecretUrl,
    pub prune: PruneSettings,
}

impl TryFrom<&PruneOnceArgs> for PruneOnceSettings {
    type Error = ConfigError;

    fn try_from(args: &PruneOnceArgs) -> Result<Self, ConfigError> {
        let prune = PruneSettings {
            retention: Duration::from_secs(args.retention.retention_secs),
            batch: within("--batch", args.batch, 1..=100_000)?,
        };
        let write_database_url = (&args.write_db).try_into()?;
        Ok(PruneOnceSettings {
            write_database_url,
            prune,
        })
    }
}

impl PruneOnceArgs {
    /// Prunes everything due, printing progress at most once a second and a summary.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let settings = PruneOnceSettings::try_from(&self)?;
        let url = &settings.write_database_url;
        let pool = crate::db::connect(crate::db::Database::Write, url, 1).await?;
        let mut shown = Instant::now();
        let progress = |p: &crate::store::prune::Pruned| {
            if shown.elapsed() >= Duration::from_secs(1) {
                eprintln!(
                    "pruning: {} events, {} invalid, {} conflicting so far",
                    p.events, p.invalid_commands, p.conflicting_commands
                );
                shown = Instant::now();
            }
        };
        let (pruned, _) = crate::run::prune::prune_due(&pool, settings.prune, 0, progress).await?;
        println!(
            "pruned {} superseded relayed event(s), {} invalid and {} conflicting command(s) older than {} s",
            pruned.events, pruned.invalid_commands, pruned.conflicting_commands,
            settings.prune.retention.as_secs()
        );
        Ok(ExitCode::SUCCESS)
    }
}
