//! `fulfil-demo flash-sale`: publishes the flash-sale scenario to a running stack, as upstream
//! would: the Restock first (waiting until a worker applied it, when the write database is
//! named), then every buyer's order at once.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use fulfil::cli::{AwsArgs, TopologyArgs};
use fulfil::config::{AwsSettings, Topology};
use fulfil::publish::{self, publish_with_progress};
use fulfil::queue::publisher::PublishReport;
use fulfil_testkit::scenario::FlashSale;

/// How long the orders wait for the Restock to be applied.
const RESTOCK_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Args)]
pub struct FlashSaleArgs {
    #[arg(long, default_value = "pokemon-bread")]
    product: String,
    #[arg(long, default_value_t = 1000)]
    stock: u32,
    #[arg(long, default_value_t = 1000)]
    buyers: u32,
    #[arg(long, default_value_t = 2)]
    units: u32,
    /// Share of orders published twice (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    duplicates: f64,
    /// Invalid messages mixed in.
    #[arg(long, default_value_t = 0)]
    invalid: u32,
    /// Seed for ids, duplicates and order; random when absent.
    #[arg(long)]
    seed: Option<u64>,
    /// Do not wait for the restock to be applied before publishing the orders (waiting
    /// needs FULFIL_WRITE_DATABASE_URL).
    #[arg(long)]
    no_wait: bool,
    #[arg(
        long = "write-database-url",
        env = "FULFIL_WRITE_DATABASE_URL",
        hide_env_values = true
    )]
    write_database_url: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    topology: TopologyArgs,
}

impl FlashSaleArgs {
    fn sale(&self) -> anyhow::Result<FlashSale> {
        if !(0.0..=1.0).contains(&self.duplicates) {
            anyhow::bail!(
                "--duplicates: {} is not between 0.0 and 1.0",
                self.duplicates
            );
        }
        Ok(FlashSale {
            product_id: self.product.clone(),
            stock: self.stock,
            buyers: self.buyers,
            units: self.units,
            duplicates: self.duplicates,
            invalid: self.invalid,
            seed: self.seed.unwrap_or_else(rand::random),
        })
    }
}

/// Publishes the sale; what was sent and what failed, Restock included.
pub async fn run(args: &FlashSaleArgs) -> anyhow::Result<PublishReport> {
    let messages = args.sale()?.messages();
    let publisher = publish::publisher(
        &AwsSettings::try_from(&args.aws)?,
        &Topology::try_from(&args.topology)?,
    )
    .await?;
    let restock = std::slice::from_ref(&messages.restock);
    let restock = publish_with_progress(&publisher, restock, "restock").await?;
    wait_for_restock(args, &messages.restock.dedup_id).await?;
    let orders = publish_with_progress(&publisher, &messages.orders, "orders").await?;
    eprintln!(
        "flash sale {}: {} buyers x {} units on stock {}; {} duplicates and {} invalid mixed in",
        args.product, args.buyers, args.units, args.stock, messages.duplicates, messages.invalid
    );
    Ok(PublishReport {
        sent: restock.sent + orders.sent,
        failed: restock.failed.into_iter().chain(orders.failed).collect(),
    })
}

async fn wait_for_restock(args: &FlashSaleArgs, command_id: &str) -> anyhow::Result<()> {
    let url = match (&args.write_database_url, args.no_wait) {
        (Some(url), false) => fulfil::config::validate_postgres_url(
            "FULFIL_WRITE_DATABASE_URL (--write-database-url)",
            url,
        )?,
        _ => {
            eprintln!("not waiting for the restock to be applied: orders decided before it are rejected UNKNOWN_PRODUCT");
            return Ok(());
        }
    };
    eprintln!("waiting for the restock to be applied ...");
    let applied = publish::wait_applied(&url, command_id, RESTOCK_WAIT)
        .await
        .context("waiting for the restock")?;
    if !applied {
        anyhow::bail!(
            "the restock {command_id} was not applied within {} s: is a worker running?",
            RESTOCK_WAIT.as_secs()
        );
    }
    Ok(())
}
