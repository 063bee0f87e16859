//! The soak's load, seeded: flash sales one after another (the generator behind
//! `fulfil-demo flash-sale`, one order in ten sent twice, a few invalid bodies), and
//! between them restocks, orders over several shelf products, cancels of earlier orders,
//! late copies of earlier commands, command ids reused with another body, and invalid
//! bodies. Every publication is written to the published list before it is sent, and a
//! publish that fails is repeated until SNS takes it, so every listed body reaches the queue
//! at least once (on FIFO a repeat within five minutes is dropped by SNS itself).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::Duration;

use fulfil::contract::{Command, Envelope};
use fulfil::queue::publisher::{CommandPublisher, Outgoing};
use fulfil_testkit::check::published;
use fulfil_testkit::scenario::FlashSale;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use tokio::time::Instant;

use crate::bodies::{cancel, copies_past_dedup, invalid, restock, valid};

const SHELF: usize = 10;
const REMEMBERED: usize = 2000;

pub struct Load {
    publisher: CommandPublisher,
    list: BufWriter<File>,
    write: PgPool,
    rng: StdRng,
    seed: u64,
    tick: usize,
    orders: Vec<String>,
    recent: VecDeque<Outgoing>,
    pub published: usize,
}

impl Load {
    pub fn new(publisher: CommandPublisher, list: File, write: PgPool, seed: u64) -> Load {
        Load {
            publisher,
            list: BufWriter::new(list),
            write,
            rng: StdRng::seed_from_u64(seed ^ 0x10ad),
            seed,
            tick: 0,
            orders: Vec::new(),
            recent: VecDeque::new(),
            published: 0,
        }
    }

    /// Publishes until `until`: a sale, then about nine seconds of the rest, again and again.
    pub async fn run(&mut self, until: Instant) -> anyhow::Result<()> {
        let shelf: Vec<Outgoing> = (0..SHELF)
            .map(|p| valid(restock(&format!("shelf-r{p}"), &format!("shelf-{p}"), 500)))
            .collect();
        self.send(&shelf).await?;
        let mut round = 0;
        while Instant::now() < until {
            self.flash_sale(round).await?;
            for _ in 0..6 {
                if Instant::now() >= until {
                    break;
                }
                self.background().await?;
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            round += 1;
        }
        Ok(())
    }

    async fn flash_sale(&mut self, round: u64) -> anyhow::Result<()> {
        let sale = FlashSale {
            product_id: format!("sale-{round}"),
            stock: self.rng.random_range(100..=300),
            buyers: self.rng.random_range(150..=300),
            units: self.rng.random_range(1..=3),
            duplicates: 0.1,
            invalid: 3,
            seed: self.seed.wrapping_add(round),
        };
        let messages = sale.messages();
        self.send(std::slice::from_ref(&messages.restock)).await?;
        self.wait_applied(&messages.restock.dedup_id, Duration::from_secs(30))
            .await;
        let orders = copies_past_dedup(messages.orders);
        self.send(&orders).await
    }

    /// Waits (with a deadline: the database may be down) until the sale's restock is applied.
    async fn wait_applied(&self, command_id: &str, deadline: Duration) {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            let found: Result<Option<i32>, _> =
                sqlx::query_scalar("SELECT 1 FROM inbox WHERE command_id = $1")
                    .bind(command_id)
                    .fetch_optional(&self.write)
                    .await;
            if matches!(found, Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// One second and a half of everything else.
    async fn background(&mut self) -> anyhow::Result<()> {
        self.tick += 1;
        let t = self.tick;
        let mut batch = Vec::new();
        for k in 0..3 {
            batch.push(valid(self.shelf_order(&format!("so-{t}-{k}"))));
        }
        for k in 0..2 {
            let product = format!("shelf-{}", self.rng.random_range(0..SHELF));
            let quantity = self.rng.random_range(5..50);
            batch.push(valid(restock(&format!("sr-{t}-{k}"), &product, quantity)));
        }
        for k in 0..3 {
            if let Some(order) = self.orders.choose(&mut self.rng).cloned() {
                batch.push(valid(cancel(&format!("sx-{t}-{k}"), &order)));
            }
        }
        batch.extend(self.late_copies(2));
        batch.extend(self.conflict());
        if t % 2 == 0 {
            batch.push(invalid(t));
        }
        self.send(&batch).await
    }

    fn shelf_order(&mut self, id: &str) -> String {
        let mut products: Vec<usize> = (0..self.rng.random_range(1..=3))
            .map(|_| self.rng.random_range(0..SHELF))
            .collect();
        products.sort_unstable();
        products.dedup();
        let lines: Vec<String> = products
            .iter()
            .map(|p| {
                let quantity = self.rng.random_range(1..=3);
                format!(r#"{{"product_id":"shelf-{p}","quantity":{quantity}}}"#)
            })
            .collect();
        format!(
            r#"{{"version":1,"command_id":"{id}","type":"PlaceOrder","order_id":"o-{id}","user_id":"u-{}","lines":[{}]}}"#,
            self.rng.random_range(0..50),
            lines.join(",")
        )
    }

    /// Earlier commands again, past SNS FIFO deduplication (a new dedup id).
    fn late_copies(&mut self, n: usize) -> Vec<Outgoing> {
        let tick = self.tick;
        (0..n)
            .filter_map(|k| {
                let mut copy = self
                    .recent
                    .get(self.rng.random_range(0..self.recent.len().max(1)))?
                    .clone();
                copy.dedup_id = format!("{}-late{tick}-{k}", copy.dedup_id);
                Some(copy)
            })
            .collect()
    }

    /// An earlier restock's command id with another quantity: a conflicting duplicate.
    fn conflict(&mut self) -> Option<Outgoing> {
        if self.rng.random_range(0..4) != 0 {
            return None;
        }
        let earlier = self.recent.iter().find(|m| m.command_type == "Restock")?;
        let envelope = Envelope::parse(&earlier.body).ok()?;
        let Command::Restock(r) = &envelope.command else {
            return None;
        };
        let body = restock(&envelope.command_id, &r.product_id, r.quantity + 1);
        let mut message = valid(body);
        message.dedup_id = format!("{}-conflict{}", message.dedup_id, self.tick);
        Some(message)
    }

    /// Records, then publishes in batches of ten, repeating what SNS did not take.
    async fn send(&mut self, messages: &[Outgoing]) -> anyhow::Result<()> {
        for m in messages {
            writeln!(self.list, "{}", published::line(&m.body))?;
            self.remember(m);
        }
        self.list.flush()?;
        self.published += messages.len();
        for chunk in messages.chunks(10) {
            let mut pending = chunk.to_vec();
            while !pending.is_empty() {
                match self.publisher.publish(&pending, |_| {}).await {
                    Ok(report) => {
                        pending = report
                            .failed
                            .iter()
                            .filter_map(|(i, _)| pending.get(*i).cloned())
                            .collect();
                    }
                    Err(e) => eprintln!("chaos: publish failed, repeating: {e}"),
                }
                if !pending.is_empty() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        Ok(())
    }

    fn remember(&mut self, m: &Outgoing) {
        let Ok(envelope) = Envelope::parse(&m.body) else {
            return;
        };
        if let Command::PlaceOrder(order) = &envelope.command {
            self.orders.push(order.order_id.clone());
        }
        self.recent.push_back(m.clone());
        if self.recent.len() > REMEMBERED {
            self.recent.pop_front();
        }
    }
}
