//! The order-command contract, version 1: the promise made to upstream publishers.
//!
//! Everything that reads a message body goes through [`Envelope::parse`], so the worker never
//! acts on a body the contract (`order-commands.v1.schema.json`) does not allow, and every
//! rejected body comes with an error an operator can act on.

mod command;
mod envelope;
mod error;
mod fields;
mod parse;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod testing;
mod wire;

/// Change events: the write side's outbox records, the read side's input.
pub mod event;

pub use command::{CancelOrder, Command, OrderLine, PlaceOrder, Restock};
pub use envelope::Envelope;
pub use error::ContractError;

/// The only `version` this code accepts; a new contract version is new code, never an edit.
pub const CONTRACT_VERSION: u64 = 1;

/// Largest body we accept: the contract's 64 KiB, which is also SNS's message size limit.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
