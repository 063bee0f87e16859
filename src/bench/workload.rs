//! The orders every path gets: generated once per run, seeded, with ids unique to the run so
//! runs share one database without seeing each other. Every order is for one unit, so the
//! correct outcome is known in advance: per product, min(stock, demand) units confirmed.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// The two shapes of the stock scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Every order for one product, more orders than stock: a sell-out plus rejections.
    HotProduct,
    /// Orders spread at random over many products.
    ManyProducts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workload {
    pub shape: Shape,
    pub products: usize,
    /// Units each product starts with.
    pub stock: i64,
    pub orders: usize,
    pub seed: u64,
}

/// One pre-generated order of one unit, with its contract-v1 PlaceOrder body.
#[derive(Debug, Clone)]
pub struct Order {
    pub order_id: String,
    pub product_id: String,
    pub quantity: i64,
    pub body: String,
}

/// A run's products and orders.
#[derive(Debug, Clone)]
pub struct Generated {
    pub products: Vec<String>,
    pub orders: Vec<Order>,
    pub stock: i64,
}

impl Workload {
    /// One product with stock two thirds of the orders (S = 2000 for N = 3000).
    pub fn hot_product(orders: usize) -> Self {
        Self {
            shape: Shape::HotProduct,
            products: 1,
            stock: (orders * 2 / 3).max(1) as i64,
            orders,
            seed: 1,
        }
    }

    /// `products` products with stock 10 each, orders on random ones.
    pub fn many_products(products: usize, orders: usize) -> Self {
        Self {
            shape: Shape::ManyProducts,
            products: products.max(1),
            stock: 10,
            orders,
            seed: 42,
        }
    }

    /// The same shape at another size (the warm-up).
    pub fn scaled(&self, orders: usize) -> Self {
        match self.shape {
            Shape::HotProduct => Self::hot_product(orders),
            Shape::ManyProducts => Self::many_products((orders / 3).max(1), orders),
        }
    }

    pub fn label(&self) -> String {
        match self.shape {
            Shape::HotProduct => format!("hot product (stock {})", self.stock),
            Shape::ManyProducts => {
                format!("{} products (stock {} each)", self.products, self.stock)
            }
        }
    }

    /// The orders of a run tagged `tag` (ids `{tag}-p…`, `{tag}-o…`); same seed, same picks.
    pub fn generate(&self, tag: &str) -> Generated {
        let products: Vec<String> = (0..self.products).map(|i| format!("{tag}-p{i}")).collect();
        let mut rng = StdRng::seed_from_u64(self.seed);
        let orders = (0..self.orders)
            .map(|i| {
                let product = &products[rng.random_range(0..products.len())];
                order(tag, i, product)
            })
            .collect();
        Generated {
            products,
            orders,
            stock: self.stock,
        }
    }
}

impl Generated {
    /// Units each product must end up having confirmed: min(stock, demand).
    pub fn expected_confirmed(&self) -> BTreeMap<String, i64> {
        let mut demand: BTreeMap<String, i64> =
            self.products.iter().map(|p| (p.clone(), 0)).collect();
        for o in &self.orders {
            *demand.entry(o.product_id.clone()).or_default() += o.quantity;
        }
        demand
            .into_iter()
            .map(|(p, d)| (p, d.min(self.stock)))
            .collect()
    }
}

fn order(tag: &str, i: usize, product_id: &str) -> Order {
    let order_id = format!("{tag}-o{i}");
    let body = format!(
        r#"{{"version":1,"command_id":"{tag}-c{i}","type":"PlaceOrder","order_id":"{order_id}","user_id":"u{i}","lines":[{{"product_id":"{product_id}","quantity":1}}]}}"#
    );
    Order {
        order_id,
        product_id: product_id.to_owned(),
        quantity: 1,
        body,
    }
}

/// A contract-v1 Restock body creating `product_id` with `quantity` units.
pub fn restock_body(product_id: &str, quantity: i64) -> String {
    format!(
        r#"{{"version":1,"command_id":"{product_id}-restock","type":"Restock","product_id":"{product_id}","quantity":{quantity},"name":"Bench {product_id}"}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Envelope;

    #[test]
    fn a_hot_product_run_sells_out_and_rejects_the_rest() {
        let g = Workload::hot_product(3000).generate("r1");
        assert_eq!(g.stock, 2000);
        assert_eq!(g.orders.len(), 3000);
        assert_eq!(g.expected_confirmed().get("r1-p0"), Some(&2000));
    }

    #[test]
    fn every_body_is_a_valid_place_order_and_restock() {
        let g = Workload::many_products(50, 200).generate("r2");
        for o in &g.orders {
            assert!(Envelope::parse(&o.body).is_ok(), "{}", o.body);
        }
        assert!(Envelope::parse(&restock_body("r2-p0", 10)).is_ok());
    }

    #[test]
    fn the_same_seed_picks_the_same_products_under_another_tag() {
        let w = Workload::many_products(50, 100);
        let (a, b) = (w.generate("a"), w.generate("b"));
        let strip = |g: &Generated, tag: &str| -> Vec<String> {
            g.orders
                .iter()
                .map(|o| o.product_id.trim_start_matches(tag).to_owned())
                .collect()
        };
        assert_eq!(strip(&a, "a"), strip(&b, "b"));
        let total: i64 = a.expected_confirmed().values().sum();
        assert!(total <= 100);
    }
}
