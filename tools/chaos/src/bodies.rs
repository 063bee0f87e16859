//! The soak's message bodies: valid commands as upstream writes them, invalid ones as
//! upstream gets them wrong, and copies made to get past SNS FIFO deduplication.

use std::collections::HashSet;

use fulfil::contract::Envelope;
use fulfil::queue::publisher::Outgoing;

pub fn valid(body: String) -> Outgoing {
    match Envelope::parse(&body) {
        Ok(envelope) => Outgoing::command(&envelope, body),
        Err(e) => unreachable!("the soak wrote an invalid command ({e}): {body}"),
    }
}

/// The sale sends one order in ten twice with the same dedup id; give each copy its own, so
/// it reaches the worker instead of being dropped by SNS FIFO deduplication.
pub fn copies_past_dedup(orders: Vec<Outgoing>) -> Vec<Outgoing> {
    let mut seen = HashSet::new();
    orders
        .into_iter()
        .enumerate()
        .map(|(i, mut m)| {
            if !seen.insert(m.dedup_id.clone()) {
                m.dedup_id = format!("{}-copy{i}", m.dedup_id);
            }
            m
        })
        .collect()
}

pub fn restock(id: &str, product: &str, quantity: u32) -> String {
    format!(
        r#"{{"version":1,"command_id":"{id}","type":"Restock","product_id":"{product}","quantity":{quantity},"name":"Product {product}"}}"#
    )
}

pub fn cancel(id: &str, order: &str) -> String {
    format!(
        r#"{{"version":1,"command_id":"{id}","type":"CancelOrder","order_id":"{order}","reason":"soak"}}"#
    )
}

/// Bodies upstream gets wrong, each unique.
pub fn invalid(tick: usize) -> Outgoing {
    let body = match tick % 6 {
        0 => format!(r#"{{"version":1,"command_id":"bad-{tick}","type":"PlaceOrder""#),
        2 => format!(
            r#"{{"version":1,"command_id":"bad-{tick}","type":"Restock","product_id":"p","quantity":0}}"#
        ),
        _ => format!(r#"{{"version":2,"command_id":"bad-{tick}","type":"ShipOrder"}}"#),
    };
    Outgoing {
        body,
        command_type: "Invalid".into(),
        group_id: "invalid".into(),
        dedup_id: format!("bad-{tick}"),
        traceparent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_command_is_valid_and_every_invalid_one_is_not() {
        for tick in 0..6 {
            assert!(Envelope::parse(&invalid(tick).body).is_err());
        }
        assert!(Envelope::parse(&restock("r", "shelf-1", 5)).is_ok());
        assert!(Envelope::parse(&cancel("x", "o-1")).is_ok());
    }

    #[test]
    fn copies_of_a_sale_order_get_their_own_dedup_ids() {
        let order = valid(restock("r", "p", 1));
        let out = copies_past_dedup(vec![order.clone(), order.clone(), order]);
        let ids: HashSet<&str> = out.iter().map(|m| m.dedup_id.as_str()).collect();
        assert_eq!(ids.len(), 3, "{out:?}");
    }
}
