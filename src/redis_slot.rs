//! Redis Cluster's key-to-slot mapping, computed here so the lock and the stock cache can
//! split a group's keys by slot before calling a script (a script's keys must share one
//! slot, or the cluster answers `CROSSSLOT`). Pure: no I/O.
//!
//! A key's slot is CRC16 (XMODEM) of its hash tag mod 16384. The hash tag is the text between
//! the first `{` and the first `}` after it, when that text is not empty; otherwise the whole
//! key is hashed. Keys tagged `{product}` therefore share the product's slot.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The number of hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// The slot Redis Cluster stores `key` in.
pub fn key_slot(key: &str) -> u16 {
    crc16(hash_tag(key.as_bytes())) % SLOTS
}

/// A short tag whose `{tag}` sends a key to `slot`: the smallest decimal number that hashes
/// there. Lets a key that belongs to no product (a slot's fence counter) sit beside the
/// products of one slot.
pub fn slot_tag(slot: u16) -> u32 {
    slot_tags()[usize::from(slot % SLOTS)]
}

/// `items` split by the slot of `key_of(item)`, ascending slot order, each slot's items in
/// their given order.
pub fn group_by_slot<T>(items: Vec<T>, key_of: impl Fn(&T) -> String) -> BTreeMap<u16, Vec<T>> {
    let mut groups: BTreeMap<u16, Vec<T>> = BTreeMap::new();
    for item in items {
        groups
            .entry(key_slot(&key_of(&item)))
            .or_default()
            .push(item);
    }
    groups
}

/// Built once per process: trying 0, 1, 2, … until every slot has a tag takes about 170 000
/// CRCs of a few bytes (a few milliseconds).
fn slot_tags() -> &'static [u32] {
    static TAGS: OnceLock<Vec<u32>> = OnceLock::new();
    TAGS.get_or_init(|| {
        let mut tags = vec![u32::MAX; usize::from(SLOTS)];
        let mut missing = tags.len();
        for n in 0u32.. {
            let slot = usize::from(crc16(n.to_string().as_bytes()) % SLOTS);
            if tags[slot] == u32::MAX {
                tags[slot] = n;
                missing -= 1;
            }
            if missing == 0 {
                break;
            }
        }
        tags
    })
}

fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(len) if len > 0 => &rest[..len],
        _ => key,
    }
}

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection.
fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &byte| {
        (0..8).fold(crc ^ (u16::from(byte) << 8), |crc, _| {
            if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_the_one_the_cluster_specification_gives() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn keys_land_in_the_slots_redis_reports() {
        // CLUSTER KEYSLOT of each, on Redis 7.
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("bar"), 5061);
        assert_eq!(key_slot("somekey"), 11058);
    }

    #[test]
    fn only_a_non_empty_hash_tag_is_hashed() {
        assert_eq!(key_slot("p:lock:{foo}"), key_slot("foo"));
        assert_eq!(key_slot("x{foo}y{bar}"), key_slot("foo"));
        assert_eq!(key_slot("a{}b"), crc16(b"a{}b") % SLOTS);
        assert_eq!(key_slot("a{b"), crc16(b"a{b") % SLOTS);
    }

    #[test]
    fn every_slot_has_a_tag_that_leads_to_it() {
        for slot in 0..SLOTS {
            let tag = slot_tag(slot);
            assert_eq!(key_slot(&format!("fulfil:fence:{{{tag}}}")), slot);
        }
        assert!(
            slot_tags().iter().all(|&t| t < 1_000_000),
            "tags stay short"
        );
    }

    #[test]
    fn grouping_splits_by_slot_in_ascending_order_keeping_each_slots_order() {
        let ids = vec!["foo", "bar", "{foo}x", "somekey", "{bar}y"];
        let groups = group_by_slot(ids, |id| (*id).to_owned());
        let expected: Vec<(u16, Vec<&str>)> = vec![
            (5061, vec!["bar", "{bar}y"]),
            (11058, vec!["somekey"]),
            (12182, vec!["foo", "{foo}x"]),
        ];
        assert_eq!(groups.into_iter().collect::<Vec<_>>(), expected);
    }
}
