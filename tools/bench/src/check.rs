//! The correctness check at the end of every run: what the path's tables say against what
//! the workload makes inevitable. A fast path that oversells, loses an order or leaves a
//! product negative has not won anything, so such a run is reported as FAILED.

use std::collections::BTreeMap;

use serde::Serialize;

use super::workload::Generated;

/// What a path's tables hold after a run, per product.
#[derive(Debug, Default, Clone)]
pub(super) struct Tally {
    pub available: BTreeMap<String, i64>,
    /// (product, status) → (orders, units)
    pub orders: BTreeMap<(String, String), (i64, i64)>,
}

impl Tally {
    fn units(&self, product: &str, status: &str) -> i64 {
        self.orders
            .get(&(product.to_owned(), status.to_owned()))
            .map_or(0, |(_, units)| *units)
    }

    fn count(&self, status: &str) -> i64 {
        self.orders
            .iter()
            .filter(|((_, s), _)| s == status)
            .map(|(_, (n, _))| n)
            .sum()
    }
}

/// The verdict on one run; `problems` says what is wrong (the first few).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub passed: bool,
    pub confirmed: i64,
    pub rejected: i64,
    /// Units left over all the run's products (None where not counted).
    pub available: Option<i64>,
    pub problems: Vec<String>,
}

const SHOWN: usize = 5;

/// confirmed units == `expected` (what the path's way of deciding makes inevitable) and
/// available == stock − confirmed ≥ 0 per product; confirmed + rejected == the orders.
pub(super) fn check(
    generated: &Generated,
    expected: BTreeMap<String, i64>,
    tally: &Tally,
) -> Check {
    let mut problems = Vec::new();
    for (product, expected) in expected {
        let confirmed = tally.units(&product, "confirmed");
        let available = tally.available.get(&product).copied();
        if confirmed != expected {
            problems.push(format!(
                "{product}: {confirmed} units confirmed, expected {expected}"
            ));
        }
        match available {
            None => problems.push(format!("{product}: no stock row")),
            Some(a) if a < 0 => problems.push(format!("{product}: available {a} < 0")),
            Some(a) if a != generated.stock - confirmed => problems.push(format!(
                "{product}: available {a} != stock {} - confirmed {confirmed}",
                generated.stock
            )),
            Some(_) => {}
        }
    }
    let (confirmed, rejected) = (tally.count("confirmed"), tally.count("rejected"));
    let orders = generated.orders.len() as i64;
    if confirmed + rejected != orders {
        problems.push(format!(
            "{confirmed} confirmed + {rejected} rejected != {orders} orders"
        ));
    }
    let passed = problems.is_empty();
    problems.truncate(SHOWN);
    Check {
        passed,
        confirmed,
        rejected,
        available: Some(tally.available.values().sum()),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Workload;

    fn tally(confirmed: i64, rejected: i64, available: i64) -> Tally {
        let p = "t-p0".to_owned();
        let mut t = Tally::default();
        t.available.insert(p.clone(), available);
        t.orders
            .insert((p.clone(), "confirmed".into()), (confirmed, confirmed));
        t.orders
            .insert((p, "rejected".into()), (rejected, rejected));
        t
    }

    #[test]
    fn a_sell_out_with_the_rest_rejected_passes() {
        let g = Workload::hot_product(30).generate("t");
        let c = check(&g, g.expected_confirmed(), &tally(20, 10, 0));
        assert!(c.passed, "{:?}", c.problems);
    }

    #[test]
    fn an_oversell_or_a_lost_order_fails_and_says_why() {
        let g = Workload::hot_product(30).generate("t");
        let oversold = check(&g, g.expected_confirmed(), &tally(21, 9, -1));
        assert!(!oversold.passed);
        assert!(oversold.problems[0].contains("21 units confirmed, expected 20"));
        let lost = check(&g, g.expected_confirmed(), &tally(20, 9, 0));
        assert_eq!(
            lost.problems,
            vec!["20 confirmed + 9 rejected != 30 orders"]
        );
    }
}
