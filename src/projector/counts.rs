//! Orders by status as counters the projector keeps in `projection_state`, so `/v1/stats`
//! reads one row instead of counting every order. Each transaction adds what it changed:
//! every order it writes counts under its new status, less its old status if it had a row.
//! Pure: the caller reads the old statuses under the rows' locks.

use std::collections::BTreeMap;

use super::model::OrderView;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub confirmed: i64,
    pub rejected: i64,
    pub cancelled: i64,
}

impl StatusCounts {
    /// The counts of these statuses (any other status is not counted).
    pub fn of<'a>(statuses: impl IntoIterator<Item = &'a str>) -> Self {
        let mut counts = Self::default();
        statuses.into_iter().for_each(|s| counts.add(s, 1));
        counts
    }

    /// What writing `written` over rows whose statuses were `before` (by order id; absent:
    /// no row yet) changes.
    pub fn change(before: &BTreeMap<String, String>, written: &[OrderView]) -> Self {
        let mut delta = Self::default();
        for order in written {
            delta.add(&order.status, 1);
            if let Some(old) = before.get(&order.order_id) {
                delta.add(old, -1);
            }
        }
        delta
    }

    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    fn add(&mut self, status: &str, n: i64) {
        let slot = match status {
            "confirmed" => &mut self.confirmed,
            "rejected" => &mut self.rejected,
            "cancelled" => &mut self.cancelled,
            _ => return,
        };
        *slot += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: &str, status: &str) -> OrderView {
        OrderView {
            order_id: id.to_owned(),
            user_id: "u".to_owned(),
            status: status.to_owned(),
            reason: None,
            lines: Vec::new(),
            version: 1,
            placed_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_new_order_counts_under_its_status() {
        let written = [order("o-1", "confirmed"), order("o-2", "rejected")];
        let delta = StatusCounts::change(&BTreeMap::new(), &written);
        let expected = StatusCounts {
            confirmed: 1,
            rejected: 1,
            cancelled: 0,
        };
        assert_eq!(delta, expected);
    }

    #[test]
    fn a_cancelled_order_moves_from_confirmed_to_cancelled() {
        let before = BTreeMap::from([("o-1".to_owned(), "confirmed".to_owned())]);
        let delta = StatusCounts::change(&before, &[order("o-1", "cancelled")]);
        let expected = StatusCounts {
            confirmed: -1,
            rejected: 0,
            cancelled: 1,
        };
        assert_eq!(delta, expected);
    }

    #[test]
    fn a_rewrite_under_the_same_status_changes_nothing_and_unknown_statuses_are_not_counted() {
        let before = BTreeMap::from([("o-1".to_owned(), "confirmed".to_owned())]);
        assert!(StatusCounts::change(&before, &[order("o-1", "confirmed")]).is_zero());
        assert!(StatusCounts::change(&BTreeMap::new(), &[order("o-2", "pending")]).is_zero());
        assert_eq!(
            StatusCounts::of(["confirmed", "cancelled", "x"]).confirmed,
            1
        );
    }
}
