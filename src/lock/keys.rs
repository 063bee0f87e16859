//! Where the lock's keys live. A product's lock key carries the product as its hash tag
//! (`{prefix}lock:{<product>}`), so on a Redis Cluster all of a product's keys share one slot.
//! A group's products are split by that slot, in ascending slot order; each slot has a fence
//! counter of its own whose tag sends it to that slot, so one script per slot touches only
//! that slot's keys. On a single node there is one group and one counter, `{prefix}fence`.

use crate::redis_slot::{group_by_slot, key_slot, slot_tag};

/// One slot's share of an acquisition: its products (sorted), their lock keys
/// (index-aligned), and the counter their fencing token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SlotGroup {
    pub(super) product_ids: Vec<String>,
    pub(super) locks: Vec<String>,
    pub(super) fence: String,
}

impl SlotGroup {
    /// The product at `index` (as the acquire script reports a held key).
    pub(super) fn product_id(&self, index: usize) -> String {
        self.product_ids.get(index).cloned().unwrap_or_default()
    }
}

/// The key names of one lock configuration on one kind of Redis.
#[derive(Debug)]
pub(super) struct KeyLayout {
    prefix: String,
    cluster: bool,
}

impl KeyLayout {
    pub(super) fn new(prefix: &str, cluster: bool) -> Self {
        let prefix = prefix.to_owned();
        Self { prefix, cluster }
    }

    /// `product_ids` deduplicated and sorted, split into slot groups in ascending slot order
    /// (one group on a single node).
    pub(super) fn groups(&self, product_ids: &[&str]) -> Vec<SlotGroup> {
        let mut ids: Vec<String> = product_ids.iter().map(|&id| id.to_owned()).collect();
        ids.sort_unstable();
        ids.dedup();
        if !self.cluster {
            return vec![self.group(ids, self.single_fence())];
        }
        let by_slot = group_by_slot(ids, |id| self.lock_key(id));
        let group = |(slot, ids)| self.group(ids, self.slot_fence(slot));
        by_slot.into_iter().map(group).collect()
    }

    /// The counter `product_id`'s fencing tokens come from.
    pub(super) fn fence_key(&self, product_id: &str) -> String {
        match self.cluster {
            true => self.slot_fence(key_slot(&self.lock_key(product_id))),
            false => self.single_fence(),
        }
    }

    fn lock_key(&self, product_id: &str) -> String {
        format!("{}lock:{{{product_id}}}", self.prefix)
    }

    fn single_fence(&self) -> String {
        format!("{}fence", self.prefix)
    }

    fn slot_fence(&self, slot: u16) -> String {
        format!("{}fence:{{{}}}", self.prefix, slot_tag(slot))
    }

    fn group(&self, product_ids: Vec<String>, fence: String) -> SlotGroup {
        let locks = product_ids.iter().map(|id| self.lock_key(id)).collect();
        SlotGroup {
            product_ids,
            locks,
            fence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_a_single_node_every_product_shares_one_group_and_one_counter() {
        let groups = KeyLayout::new("p:", false).groups(&["b", "a", "b"]);
        let expected = SlotGroup {
            product_ids: vec!["a".into(), "b".into()],
            locks: vec!["p:lock:{a}".into(), "p:lock:{b}".into()],
            fence: "p:fence".into(),
        };
        assert_eq!(groups, [expected]);
    }

    #[test]
    fn on_a_cluster_each_group_holds_one_slot_with_its_own_counter_in_that_slot() {
        let ids: Vec<String> = (0..40).map(|i| format!("product-{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let layout = KeyLayout::new("fulfil:", true);
        let groups = layout.groups(&refs);
        assert!(groups.len() > 1, "40 products span several slots");
        let slots: Vec<u16> = groups.iter().map(|g| key_slot(&g.fence)).collect();
        assert!(slots.windows(2).all(|w| w[0] < w[1]), "ascending slots");
        for (group, slot) in groups.iter().zip(&slots) {
            assert!(group.locks.iter().all(|key| key_slot(key) == *slot));
            let first = &group.product_ids[0];
            assert_eq!(layout.fence_key(first), group.fence);
        }
        let count: usize = groups.iter().map(|g| g.product_ids.len()).sum();
        assert_eq!(count, 40, "every product in exactly one group");
    }

    #[test]
    fn a_product_always_takes_its_token_from_the_same_counter() {
        let layout = KeyLayout::new("fulfil:", true);
        let alone = layout.groups(&["bread"]);
        let among_others = layout.groups(&["milk", "bread", "eggs"]);
        let with_bread = among_others
            .iter()
            .find(|g| g.product_ids.iter().any(|id| id == "bread"))
            .expect("bread's group");
        assert_eq!(alone[0].fence, with_bread.fence);
    }
}
