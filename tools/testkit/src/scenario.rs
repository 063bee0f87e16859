//! The flash-sale scenario as upstream would send it: one Restock, then `buyers` orders of
//! `units` each for one product, with a share of them sent twice (redeliveries) and a few
//! invalid messages mixed in. Pure and seeded, so a run can be repeated exactly.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use fulfil::contract::Envelope;
use fulfil::queue::publisher::Outgoing;

#[derive(Debug, Clone, PartialEq)]
pub struct FlashSale {
    pub product_id: String,
    pub stock: u32,
    pub buyers: u32,
    pub units: u32,
    /// Share of orders published a second time (0.0..=1.0).
    pub duplicates: f64,
    /// Invalid messages mixed in.
    pub invalid: u32,
    pub seed: u64,
}

/// What the scenario sends: the restock on its own (it must land first) and the rest.
#[derive(Debug, Clone)]
pub struct Messages {
    pub restock: Outgoing,
    pub orders: Vec<Outgoing>,
    pub duplicates: usize,
    pub invalid: usize,
}

impl FlashSale {
    pub fn messages(&self) -> Messages {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let run = format!("{:08x}", rng.random::<u32>());
        let restock = self.restock(&run);
        let mut orders: Vec<Outgoing> = (0..self.buyers).map(|i| self.order(&run, i)).collect();
        let copies: Vec<Outgoing> = orders
            .iter()
            .filter(|_| rng.random_bool(self.duplicates.clamp(0.0, 1.0)))
            .cloned()
            .collect();
        let duplicates = copies.len();
        orders.extend(copies);
        orders.extend((0..self.invalid).map(|i| invalid(&run, i)));
        orders.shuffle(&mut rng);
        Messages {
            restock,
            orders,
            duplicates,
            invalid: self.invalid as usize,
        }
    }

    fn restock(&self, run: &str) -> Outgoing {
        let body = format!(
            r#"{{"version":1,"command_id":"fs-{run}-restock","type":"Restock","product_id":"{}","quantity":{},"name":"Flash sale {}"}}"#,
            self.product_id, self.stock, self.product_id
        );
        valid(body)
    }

    fn order(&self, run: &str, i: u32) -> Outgoing {
        let body = format!(
            r#"{{"version":1,"command_id":"fs-{run}-c{i}","type":"PlaceOrder","order_id":"fs-{run}-o{i}","user_id":"buyer-{i}","lines":[{{"product_id":"{}","quantity":{}}}]}}"#,
            self.product_id, self.units
        );
        valid(body)
    }
}

fn valid(body: String) -> Outgoing {
    match Envelope::parse(&body) {
        Ok(envelope) => Outgoing::command(&envelope, body),
        Err(e) => unreachable!("the scenario wrote an invalid command ({e}): {body}"),
    }
}

/// Invalid in the ways upstream gets it wrong: bad JSON, zero quantity, unknown type.
fn invalid(run: &str, i: u32) -> Outgoing {
    let body = match i % 3 {
        0 => format!(r#"{{"version":1,"command_id":"fs-{run}-bad{i}","type":"PlaceOrder""#),
        1 => format!(
            r#"{{"version":1,"command_id":"fs-{run}-bad{i}","type":"PlaceOrder","order_id":"x{i}","user_id":"u","lines":[{{"product_id":"p","quantity":0}}]}}"#
        ),
        _ => format!(r#"{{"version":1,"command_id":"fs-{run}-bad{i}","type":"ShipOrder"}}"#),
    };
    Outgoing {
        body,
        command_type: "Invalid".into(),
        group_id: format!("fs-{run}-invalid"),
        dedup_id: format!("fs-{run}-bad{i}"),
        traceparent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale(duplicates: f64, invalid: u32) -> FlashSale {
        FlashSale {
            product_id: "bread".into(),
            stock: 1000,
            buyers: 1000,
            units: 2,
            duplicates,
            invalid,
            seed: 7,
        }
    }

    #[test]
    fn the_seed_sale_has_every_order_once_plus_its_duplicates_and_invalid_ones() {
        let m = sale(0.1, 5).messages();
        assert_eq!(m.orders.len(), 1000 + m.duplicates + 5);
        assert!((50..=150).contains(&m.duplicates), "{}", m.duplicates);
        let valid = m
            .orders
            .iter()
            .filter(|o| Envelope::parse(&o.body).is_ok())
            .count();
        assert_eq!(valid, 1000 + m.duplicates);
        assert!(Envelope::parse(&m.restock.body).is_ok());
    }

    #[test]
    fn the_same_seed_gives_the_same_messages_and_another_seed_other_ids() {
        let (a, b) = (sale(0.2, 3).messages(), sale(0.2, 3).messages());
        assert_eq!(a.orders, b.orders);
        let c = FlashSale {
            seed: 8,
            ..sale(0.2, 3)
        }
        .messages();
        assert_ne!(a.restock.dedup_id, c.restock.dedup_id);
    }

    #[test]
    fn orders_are_grouped_by_order_and_the_restock_by_product() {
        let m = sale(0.0, 0).messages();
        assert_eq!(m.restock.group_id, "bread");
        assert!(m.orders.iter().all(|o| o.group_id.contains("-o")));
    }
}
