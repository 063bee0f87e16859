//! Integration tests against the real services `./dev up` started: one binary, one harness.

mod api;
mod bench;
mod chaos;
mod consumer;
mod db_fault;
mod demo;
mod fault_proxy;
mod flash_sale;
mod foundation;
mod group_commit;
mod harness;
mod hot_product;
mod lambda;
mod lock;
mod lock_support;
mod operations;
mod outage;
mod pipeline;
mod projector;
mod publish;
mod read_side;
mod redis_hygiene;
mod relay;
mod secrets;
mod shutdown;
mod worker;
