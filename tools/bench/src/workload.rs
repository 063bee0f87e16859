//! The orders every path gets: generated once per run, seeded, with ids unique to the run so
//! runs share one database without seeing each other. Every order of a workload is for the
//! same number of units, so the correct outcome is known in advance whatever the arrival
//! order: per product, as many orders confirmed as the stock covers.

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
    /// The seed article's flash sale: buyers of 2 units each on a stock of one unit per
    /// buyer, so exactly half of them are served.
    SeedCase,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workload {
    pub shape: Shape,
    pub products: usize,
    /// Units each product starts with.
    pub stock: i64,
    pub orders: usize,
    /// Units of every order.
    pub units: i64,
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
            units: 1,
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
            units: 1,
            seed: 42,
        }
    }

    /// `buyers` orders of 2 units on one product with `buyers` units: half confirmed.
    pub fn seed_case(buyers: usize) -> Self {
        Self {
            shape: Shape::SeedCase,
            products: 1,
            stock: buyers.max(2) as i64,
            orders: buyers.max(2),
            units: 2,
            seed: 7,
        }
    }

    /// The same shape at another size (the warm-up).
    pub fn scaled(&self, orders: usize) -> Self {
        match self.shape {
            Shape::HotProduct => Self::hot_product(orders),
            Shape::ManyProducts => Self::many_products((orders / 3).max(1), orders),
            Shape::SeedCase => Self::seed_case(orders),
        }
    }

    pub fn label(&self) -> String {
        match self.shape {
            Shape::HotProduct => format!("hot product (stock {})", self.stock),
            Shape::ManyProducts => {
                format!("{} products (stock {} each)", self.products, self.stock)
            }
            Shape::SeedCase => format!(
                "seed case: {} buyers x {} units, stock {}",
                self.orders, self.units, self.stock
            ),
        }
    }

    /// The orders of a run tagged `tag` (ids `{tag}-p…`, `{tag}-o…`); same seed, same picks.
    pub fn generate(&self, tag: &str) -> Generated {
        let products: Vec<String> = (0..self.products).map(|i| format!("{tag}-p{i}")).collect();
        let mut rng = StdRng::seed_from_u64(self.seed);
        let orders = (0..self.orders)
            .map(|i| {
                let product = &products[rng.random_range(0..products.len())];
                order(tag, i, product, self.units)
            })
            .collect();
        Generated {
            products,
            orders,
            stock: self.stock,
        }
    }
}

/// Orders of one product decided together (all served or none): the ceiling's unit of work.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub product_id: &'a str,
    pub orders: Vec<&'a Order>,
}

impl Group<'_> {
    pub fn units(&self) -> i64 {
        self.orders.iter().map(|o| o.quantity).sum()
    }
}

impl Generated {
    /// Units each product must end up having confirmed when orders are decided one by one.
    pub fn expected_confirmed(&self) -> BTreeMap<String, i64> {
        self.expected_confirmed_in_groups(1)
    }

    /// Units each product ends up having confirmed when its orders are decided in
    /// [`Generated::groups`] of `size`, in order, each served only if the stock covers it all.
    pub fn expected_confirmed_in_groups(&self, size: usize) -> BTreeMap<String, i64> {
        let mut confirmed: BTreeMap<String, i64> =
            self.products.iter().map(|p| (p.clone(), 0)).collect();
        for group in self.groups(size) {
            let served = confirmed.entry(group.product_id.to_owned()).or_default();
            if self.stock - *served >= group.units() {
                *served += group.units();
            }
        }
        confirmed
    }

    /// Each product's orders in arrival order, cut into groups of at most `size` (min 1).
    pub fn groups(&self, size: usize) -> Vec<Group<'_>> {
        let mut by_product: BTreeMap<&str, Vec<&Order>> = BTreeMap::new();
        for o in &self.orders {
            by_product.entry(&o.product_id).or_default().push(o);
        }
        by_product
            .into_iter()
            .flat_map(|(product_id, orders)| {
                orders
                    .chunks(size.max(1))
                    .map(|chunk| Group {
                        product_id,
                        orders: chunk.to_vec(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

fn order(tag: &str, i: usize, product_id: &str, units: i64) -> Order {
    let order_id = format!("{tag}-o{i}");
    let body = format!(
        r#"{{"version":1,"command_id":"{tag}-c{i}","type":"PlaceOrder","order_id":"{order_id}","user_id":"u{i}","lines":[{{"product_id":"{product_id}","quantity":{units}}}]}}"#
    );
    Order {
        order_id,
        product_id: product_id.to_owned(),
        quantity: units,
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
    use fulfil::contract::Envelope;

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

    #[test]
    fn the_seed_case_serves_exactly_half_of_its_buyers() {
        let g = Workload::seed_case(1000).generate("s");
        assert_eq!((g.stock, g.orders.len()), (1000, 1000));
        assert!(g.orders.iter().all(|o| o.quantity == 2));
        assert!(Envelope::parse(&g.orders[0].body).is_ok());
        assert_eq!(g.expected_confirmed().get("s-p0"), Some(&1000));
    }

    #[test]
    fn groups_that_do_not_fit_the_stock_are_refused_whole() {
        // 30 orders, stock 20, groups of 7: 7 + 7 served, 7 > 6 left refused twice, 2 served.
        let g = Workload::hot_product(30).generate("g");
        let sizes: Vec<usize> = g.groups(7).iter().map(|gr| gr.orders.len()).collect();
        assert_eq!(sizes, [7, 7, 7, 7, 2]);
        assert_eq!(g.expected_confirmed_in_groups(7).get("g-p0"), Some(&16));
        assert_eq!(g.expected_confirmed_in_groups(1).get("g-p0"), Some(&20));
    }
}
