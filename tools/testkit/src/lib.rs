//! What fulfil's integration tests, benchmarks and chaos soak share, kept out of the product
//! crate so the release binary carries only what operators run: the invariant checker
//! (`check`, also the `fulfil-check` binary) and the flash-sale scenario (`scenario`).

#![forbid(unsafe_code)]

pub mod check;
pub mod fault_proxy;
pub mod process;
pub mod scenario;
pub mod stats;
