//! `fulfil verify`: the read database against a replay of the write database's event log;
//! exit 1 on any difference.

use std::process::ExitCode;

use anyhow::Context;

use super::shared::{BothDbArgs, BothDbs};

/// Prints each difference and a summary.
pub async fn run(args: BothDbArgs) -> anyhow::Result<ExitCode> {
    let dbs = BothDbs::try_from(&args)?;
    let report = crate::projector::verify::verify_databases(&dbs.write, &dbs.read)
        .await
        .context("verify failed")?;
    for difference in &report.differences {
        println!("{difference}");
    }
    println!("{}", report.summary());
    Ok(super::exit_code(report.is_clean()))
}
