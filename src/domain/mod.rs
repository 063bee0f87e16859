//! The pure domain core: given the state a batch loaded, decide what each command does.
//!
//! No I/O, no async, no SDK types: the worker loads a [`State`] for the products and orders a
//! batch touches, calls [`decide`] once per command in arrival order, and writes back what
//! changed. Only the contract types come from elsewhere, so every rule is testable here alone.

mod cancel;
mod decide;
mod outcome;
mod place;
#[cfg(test)]
mod properties;
mod state;
#[cfg(test)]
mod testing;

pub use decide::{decide, decide_fingerprinted};
pub use outcome::{DomainError, NoEffect, Outcome, RejectReason};
pub use state::{Order, OrderStatus, PendingCancel, Product, State, UnknownOrderStatus};
