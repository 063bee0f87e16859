//! A synthetic, self-consistent event log shaped like the worker's: products restocked,
//! orders confirmed, rejected and cancelled, stock events coalesced per batch of orders.
//! For tests and demonstrations of the read side without running the write side.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use crate::contract::event::{AggregateType, ChangeEvent, EventData, OrderSnapshot, StockSnapshot};
use crate::contract::OrderLine;

/// Stock of one sample product as the log goes on.
struct Stock {
    snapshot: StockSnapshot,
    version: i64,
}

/// `orders` orders spread over `products` products, one `StockChanged` per product per
/// `per_stock_event` orders (the worker's coalescing). Every tenth order is rejected, every
/// fourth confirmed one cancelled. Timestamps have nanoseconds, as `Utc::now()` does.
pub fn history(orders: usize, products: usize, per_stock_event: usize) -> Vec<ChangeEvent> {
    let start = DateTime::from_timestamp(1_750_000_000, 123_456_789).unwrap_or_default();
    let mut stock: Vec<Stock> = (0..products.max(1)).map(restocked).collect();
    let mut log: Vec<ChangeEvent> = stock.iter().map(|s| stock_event(s, start)).collect();
    let mut dirty = BTreeSet::new();
    for i in 0..orders {
        let at = start + Duration::milliseconds(i as i64 * 10 + 5);
        let product = i % stock.len();
        let quantity = 1 + (i % 3) as u32;
        let placed = place(i, &stock[product], quantity, at);
        let confirmed = placed.status == "confirmed";
        log.push(order_event(&placed, 1, at));
        if confirmed {
            take(&mut stock[product], quantity);
            dirty.insert(product);
        }
        if confirmed && i % 4 == 3 {
            log.push(cancel(placed, at + Duration::milliseconds(3)));
            give_back(&mut stock[product], quantity);
        }
        if (i + 1) % per_stock_event.max(1) == 0 || i + 1 == orders {
            for p in std::mem::take(&mut dirty) {
                stock[p].version += 1;
                log.push(stock_event(&stock[p], at + Duration::milliseconds(4)));
            }
        }
    }
    log
}

fn restocked(p: usize) -> Stock {
    Stock {
        snapshot: StockSnapshot {
            product_id: format!("p-{p}"),
            name: Some(format!("Product {p}")),
            available: 1000,
            restocked: 1000,
            confirmed: 0,
            cancelled: 0,
        },
        version: 1,
    }
}

fn take(stock: &mut Stock, quantity: u32) {
    stock.snapshot.available -= i64::from(quantity);
    stock.snapshot.confirmed += i64::from(quantity);
}

fn give_back(stock: &mut Stock, quantity: u32) {
    stock.snapshot.available += i64::from(quantity);
    stock.snapshot.cancelled += i64::from(quantity);
}

fn place(i: usize, stock: &Stock, quantity: u32, at: DateTime<Utc>) -> OrderSnapshot {
    let rejected = i % 10 == 9;
    OrderSnapshot {
        order_id: format!("o-{i}"),
        user_id: format!("u-{}", i % 7),
        status: if rejected { "rejected" } else { "confirmed" }.to_owned(),
        reason: rejected.then(|| "OUT_OF_STOCK".to_owned()),
        lines: vec![OrderLine {
            product_id: stock.snapshot.product_id.clone(),
            quantity,
        }],
        placed_at: at,
    }
}

fn cancel(mut order: OrderSnapshot, at: DateTime<Utc>) -> ChangeEvent {
    order.status = "cancelled".to_owned();
    order.reason = Some("changed mind".to_owned());
    order_event(&order, 2, at)
}

fn order_event(order: &OrderSnapshot, version: i64, at: DateTime<Utc>) -> ChangeEvent {
    let data = match order.status.as_str() {
        "confirmed" => EventData::OrderConfirmed(order.clone()),
        "rejected" => EventData::OrderRejected(order.clone()),
        _ => EventData::OrderCancelled(order.clone()),
    };
    let command = format!("c-{}-{version}", order.order_id);
    ChangeEvent::new(
        AggregateType::Order,
        &order.order_id,
        version,
        &command,
        at,
        data,
    )
}

fn stock_event(stock: &Stock, at: DateTime<Utc>) -> ChangeEvent {
    let id = &stock.snapshot.product_id;
    ChangeEvent::new(
        AggregateType::Product,
        id,
        stock.version,
        &format!("c-{id}-{}", stock.version),
        at,
        EventData::StockChanged(stock.snapshot.clone()),
    )
}
