//! Group commit per product (ARCHITECTURE.md step 3): every command of every receive in flight in
//! this process waits here for its products; a *unit* takes all queued commands whose
//! products are free and commits them together (one lock round, one transaction, one cache
//! write, one release). While a unit commits, the commands that arrive for its products
//! collect behind it and form the next unit: the busier a product, the larger its units, so
//! the fixed cost of a commit is paid once per group instead of once per order.
//!
//! The queue is the only shared state; this module holds the pure rule that forms units
//! (tested without I/O) and the bookkeeping of busy products and kept leases. Running a unit
//! is `unit.rs`'s job.

use std::collections::{BTreeSet, HashSet, VecDeque};

/// One command waiting for its unit. `T` is what travels with it (the command and where
/// its answer goes); the rule looks only at the products.
pub(super) struct Waiting<T> {
    pub products: BTreeSet<String>,
    pub item: T,
}

/// Bounds of the forming rule.
#[derive(Debug, Clone, Copy)]
pub struct GroupLimits {
    /// Units committing at once in this process (each holds one database connection).
    pub max_units: usize,
    /// Commands in one unit: bounds a transaction's size and a unit's latency.
    pub max_commands: usize,
    /// Consecutive units that may reuse one lease before it is released, so that other
    /// processes waiting for the same products get their turn.
    pub max_lease_streak: u32,
    /// Commands that must be waiting before a unit starts beside one already running.
    pub min_to_overlap: usize,
}

impl Default for GroupLimits {
    fn default() -> Self {
        Self {
            max_units: 4,
            max_commands: 512,
            max_lease_streak: 16,
            min_to_overlap: 32,
        }
    }
}

/// The waiting commands and the products that units are committing right now.
pub(super) struct Queue<T> {
    waiting: VecDeque<Waiting<T>>,
    busy: HashSet<String>,
    running: usize,
    /// Running units that wait for a lock another process holds: they commit nothing
    /// meanwhile, so they must not hold back units of other products.
    stalled: usize,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self {
            waiting: VecDeque::new(),
            busy: HashSet::new(),
            running: 0,
            stalled: 0,
        }
    }
}

impl<T> Queue<T> {
    pub(super) fn push(&mut self, products: BTreeSet<String>, item: T) {
        self.waiting.push_back(Waiting { products, item });
    }

    /// Whether another unit should start now: always when none runs (or every running
    /// one waits for another process's lock); beside one that commits only once enough
    /// commands wait to be worth a commit of their own (otherwise they collect for the next
    /// unit, which makes commits fuller and fewer: group commit).
    pub(super) fn has_room(&self, limits: &GroupLimits) -> bool {
        if self.running >= limits.max_units {
            return false;
        }
        self.running == self.stalled || self.waiting.len() >= limits.min_to_overlap
    }

    /// A running unit now waits for a lock held elsewhere (until [`Queue::unstall`]).
    pub(super) fn stall(&mut self) {
        self.stalled += 1;
    }

    /// The stalled unit has its lock (or gave up): it counts as committing again.
    pub(super) fn unstall(&mut self) {
        self.stalled = self.stalled.saturating_sub(1);
    }

    /// Takes the next unit: in arrival order, every command whose products are neither busy
    /// nor touched by an earlier command left waiting (so no command overtakes an earlier
    /// one on the same product), up to `max` commands. With `within`, only commands whose
    /// products all lie inside it (a kept lease's products) are taken. The unit's products
    /// are busy until [`Queue::finish`].
    pub(super) fn take_unit(&mut self, max: usize, within: Option<&BTreeSet<String>>) -> Unit<T> {
        let mut blocked: HashSet<String> = self.busy.clone();
        let mut unit = Unit::default();
        let mut left = VecDeque::with_capacity(self.waiting.len());
        while let Some(w) = self.waiting.pop_front() {
            let free = w.products.iter().all(|p| !blocked.contains(p));
            let fits = within.is_none_or(|set| w.products.is_subset(set));
            if unit.items.len() < max && free && fits {
                unit.products.extend(w.products.iter().cloned());
                unit.items.push(w.item);
            } else {
                blocked.extend(w.products.iter().cloned());
                left.push_back(w);
            }
        }
        self.waiting = left;
        if !unit.items.is_empty() {
            self.busy.extend(unit.products.iter().cloned());
            self.running += 1;
        }
        unit
    }

    /// A unit has committed (or given up): its products are free again.
    pub(super) fn finish(&mut self, products: &BTreeSet<String>) {
        for p in products {
            self.busy.remove(p);
        }
        self.running = self.running.saturating_sub(1);
    }

    /// Whether every one of `products` has a command waiting: only then is a lease on them
    /// worth keeping into the next unit.
    pub(super) fn wanted(&self, products: &BTreeSet<String>) -> bool {
        products
            .iter()
            .all(|p| self.waiting.iter().any(|w| w.products.contains(p)))
    }
}

/// Commands committed together, and every product they touch.
pub(super) struct Unit<T> {
    pub products: BTreeSet<String>,
    pub items: Vec<T>,
}

impl<T> Default for Unit<T> {
    fn default() -> Self {
        Self {
            products: BTreeSet::new(),
            items: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    fn queue(commands: &[(&str, &[&str])]) -> Queue<String> {
        let mut q = Queue::default();
        for (name, products) in commands {
            q.push(set(products), (*name).to_owned());
        }
        q
    }

    #[test]
    fn given_free_products_when_a_unit_is_taken_then_every_waiting_command_joins_it() {
        let mut q = queue(&[("a", &["p"]), ("b", &["p"]), ("c", &["q"])]);
        let unit = q.take_unit(100, None);
        assert_eq!(unit.items, ["a", "b", "c"]);
        assert_eq!(unit.products, set(&["p", "q"]));
        assert!(q.take_unit(100, None).items.is_empty());
    }

    #[test]
    fn given_a_busy_product_when_a_unit_is_taken_then_its_commands_wait_and_others_go() {
        let mut q = queue(&[("a", &["p"])]);
        let first = q.take_unit(100, None);
        q.push(set(&["p"]), "b".into());
        q.push(set(&["q"]), "c".into());
        let second = q.take_unit(100, None);
        assert_eq!(second.items, ["c"]);
        q.finish(&first.products);
        assert_eq!(q.take_unit(100, None).items, ["b"]);
    }

    #[test]
    fn given_a_waiting_multi_product_command_when_a_unit_is_taken_then_no_later_command_overtakes_it(
    ) {
        let mut q = queue(&[("hold", &["q"])]);
        let _busy = q.take_unit(100, None);
        q.push(set(&["p", "q"]), "multi".into());
        q.push(set(&["p"]), "later".into());
        q.push(set(&["r"]), "other".into());
        assert_eq!(q.take_unit(100, None).items, ["other"]);
    }

    #[test]
    fn given_a_cap_when_a_unit_is_taken_then_it_holds_at_most_the_cap_in_arrival_order() {
        let mut q = queue(&[("a", &["p"]), ("b", &["p"]), ("c", &["p"]), ("d", &["q"])]);
        assert_eq!(q.take_unit(2, None).items, ["a", "b"]);
        assert_eq!(q.take_unit(2, None).items, ["d"]);
    }

    #[test]
    fn given_a_kept_lease_when_a_unit_is_taken_within_it_then_only_commands_inside_join() {
        let mut q = queue(&[("a", &["p"]), ("b", &["p", "q"]), ("c", &["p"]), ("d", &[])]);
        let unit = q.take_unit(100, Some(&set(&["p"])));
        assert_eq!(unit.items, ["a", "d"]);
    }

    #[test]
    fn a_lease_is_wanted_only_while_every_product_has_waiting_work() {
        let q = queue(&[("a", &["p"])]);
        assert!(q.wanted(&set(&["p"])));
        assert!(!q.wanted(&set(&["p", "q"])));
    }

    #[test]
    fn a_second_unit_starts_beside_a_running_one_only_for_enough_waiting_commands() {
        let limits = GroupLimits {
            max_units: 2,
            min_to_overlap: 2,
            ..GroupLimits::default()
        };
        let mut q = queue(&[("a", &["p"])]);
        let _running = q.take_unit(10, None);
        q.push(set(&["q"]), "b".into());
        assert!(!q.has_room(&limits));
        q.push(set(&["r"]), "c".into());
        assert!(q.has_room(&limits));
    }

    #[test]
    fn a_unit_waiting_for_another_process_lets_one_start_beside_it_at_once() {
        let limits = GroupLimits {
            max_units: 2,
            ..GroupLimits::default()
        };
        let mut q = queue(&[("a", &["held"])]);
        let _stalled = q.take_unit(10, None);
        q.push(set(&["free"]), "b".into());
        assert!(
            !q.has_room(&limits),
            "one command collects behind a committing unit"
        );
        q.stall();
        assert!(q.has_room(&limits), "but not behind a stalled one");
        let _beside = q.take_unit(10, None);
        assert!(!q.has_room(&limits), "never past max_units");
        q.unstall();
        q.finish(&set(&["free"]));
        q.push(set(&["other"]), "c".into());
        assert!(!q.has_room(&limits), "the unstalled unit commits again");
    }

    #[test]
    fn units_running_are_bounded() {
        let limits = GroupLimits {
            max_units: 1,
            ..GroupLimits::default()
        };
        let mut q = queue(&[("a", &["p"]), ("b", &["q"])]);
        assert!(q.has_room(&limits));
        let unit = q.take_unit(1, None);
        assert!(!q.has_room(&limits));
        q.finish(&unit.products);
        assert!(q.has_room(&limits));
    }
}
