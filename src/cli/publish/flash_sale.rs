//! `fulfil publish flash-sale`: the seed scenario (`crate::scenario`) published as an
//! upstream would. Kept apart from `fulfil publish --file`: the scenario leaves the product
//! crate for the testkit (issue 14, item 1), and this module with it.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{finish, publisher};
use crate::cli::shared::{AwsArgs, TopologyArgs};
use crate::queue::publisher::PublishReport;
use crate::scenario::FlashSale;

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
    /// The restock, a wait for it to be applied, then every order; exit 1 if any failed.
    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        let sale = self.sale()?;
        let messages = sale.messages();
        let publisher = publisher(&self.aws, &self.topology).await?;
        let restock = std::slice::from_ref(&messages.restock);
        let restock = crate::publish::publish_with_progress(&publisher, restock, "restock").await?;
        self.wait_for_restock(&messages.restock.dedup_id).await?;
        let orders =
            crate::publish::publish_with_progress(&publisher, &messages.orders, "orders").await?;
        eprintln!(
            "flash sale {}: {} buyers x {} units on stock {}; {} duplicates and {} invalid mixed in",
            self.product, self.buyers, self.units, self.stock, messages.duplicates, messages.invalid
        );
        let total = PublishReport {
            sent: restock.sent + orders.sent,
            failed: restock.failed.into_iter().chain(orders.failed).collect(),
        };
        Ok(finish(total, 0))
    }

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

    async fn wait_for_restock(&self, command_id: &str) -> anyhow::Result<()> {
        let url = match (&self.write_database_url, self.no_wait) {
            (Some(url), false) => crate::config::validate_postgres_url(
                "FULFIL_WRITE_DATABASE_URL (--write-database-url)",
                url,
            )?,
            _ => {
                eprintln!("not waiting for the restock to be applied: orders decided before it are rejected UNKNOWN_PRODUCT");
                return Ok(());
            }
        };
        eprintln!("waiting for the restock to be applied ...");
        if !crate::publish::wait_applied(&url, command_id, Duration::from_secs(120)).await? {
            anyhow::bail!(
                "the restock {command_id} was not applied within 120 s: is a worker running?"
            );
        }
        Ok(())
    }
}
