//! 2000 commands of every type over eight products, one in ten sent twice, all shuffled (a
//! fixed seed, so a failure can be replayed) and published at once for three workers: orders
//! before their restocks, cancels before their orders, copies anywhere (on FIFO with new
//! deduplication ids, so SQS does not drop them for us). Whatever the order, the checker
//! must find every command decided once and the read model equal to the event log.

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};

use super::{assert_clean, Run, DRAIN};
use crate::harness::bodies::{cancel, place, restock};

const SEED: u64 = 6;
const COMMANDS: usize = 2000;
const PRODUCTS: usize = 8;

fn product(rng: &mut StdRng) -> String {
    format!("p-{}", rng.random_range(0..PRODUCTS))
}

fn order(rng: &mut StdRng, i: usize) -> String {
    let mut ids: Vec<String> = (0..rng.random_range(1..=3)).map(|_| product(rng)).collect();
    ids.sort();
    ids.dedup();
    let lines: Vec<(&str, i64)> = ids
        .iter()
        .map(|p| (p.as_str(), rng.random_range(1..=3)))
        .collect();
    place(&format!("c-{i}"), &format!("o-{i}"), &lines)
}

/// The first restock of every product; the shuffled commands; the copies (shuffled in too).
fn commands(rng: &mut StdRng) -> (Vec<String>, Vec<String>, Vec<String>) {
    let first = (0..PRODUCTS)
        .map(|p| restock(&format!("r-first-{p}"), &format!("p-{p}"), 300))
        .collect();
    let mut orders: Vec<usize> = Vec::new();
    let mut rest: Vec<String> = (0..COMMANDS)
        .map(|i| match rng.random_range(0..100) {
            0..5 => restock(&format!("r-{i}"), &product(rng), rng.random_range(10..50)),
            5..20 if !orders.is_empty() => {
                let order = orders.choose(rng).copied().unwrap_or_default();
                cancel(&format!("x-{i}"), &format!("o-{order}"))
            }
            _ => {
                orders.push(i);
                order(rng, i)
            }
        })
        .collect();
    rest.shuffle(rng);
    let copies: Vec<String> = rest.choose_multiple(rng, COMMANDS / 10).cloned().collect();
    (first, rest, copies)
}

async fn shuffled(fifo: bool) {
    let mut run = Run::new(fifo, 10).await;
    run.start_read_side().await;
    let _workers = [
        run.p.worker(&[]).await,
        run.p.worker(&[]).await,
        run.p.worker(&[]).await,
    ];
    let (first, rest, copies) = commands(&mut StdRng::seed_from_u64(SEED));
    run.publish(&first).await;
    run.p
        .wait_for_count("SELECT count(*) FROM products", PRODUCTS as i64, DRAIN)
        .await;
    let (early, late) = rest.split_at(COMMANDS / 2);
    run.publish(early).await;
    run.publish_again(&copies).await;
    run.publish(late).await;

    let report = run.finish().await;
    assert_clean(&report);
    assert_eq!(report.published, PRODUCTS + COMMANDS + COMMANDS / 10);
    assert_eq!(report.duplicates, COMMANDS / 10);
    assert_eq!(report.applied + report.rejected, PRODUCTS + COMMANDS);
    assert_eq!(
        run.p.count("SELECT count(*) FROM inbox").await,
        (PRODUCTS + COMMANDS) as i64
    );
}

#[tokio::test]
async fn two_thousand_shuffled_commands_with_one_in_ten_twice_are_each_decided_once() {
    shuffled(true).await;
}

/// On standard queues a product with hundreds of versions reaches the projector in any
/// order; the newest version wins, so nothing waits and nothing reaches the projector DLQ.
#[tokio::test]
async fn two_thousand_shuffled_commands_on_standard_queues() {
    shuffled(false).await;
}
