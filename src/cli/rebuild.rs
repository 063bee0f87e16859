//! `fulfil rebuild`: the read database rebuilt from the write database's event log and
//! swapped in.

use std::process::ExitCode;

use anyhow::Context;

use super::shared::{BothDbArgs, BothDbs};

/// Rebuilds, printing what was done.
pub async fn run(args: BothDbArgs) -> anyhow::Result<ExitCode> {
    let dbs = BothDbs::try_from(&args)?;
    let report = crate::projector::rebuild::rebuild_databases(&dbs.write, &dbs.read)
        .await
        .context("rebuild failed")?;
    for line in report.lines() {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
