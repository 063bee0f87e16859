//! Integration tests against the real services `./dev up` started: one binary, one harness.

mod consumer;
mod flash_sale;
mod foundation;
mod harness;
mod lock;
mod lock_support;
mod operations;
mod pipeline;
mod projector;
mod worker;
