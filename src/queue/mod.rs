//! The only place that knows the AWS SDK: SQS and SNS clients, the topic/queue topology,
//! and (with the worker) the consumer and publisher. Everything else sees our own types.

pub mod client;
pub mod consumer;
pub mod dlq;
pub mod error;
pub mod move_task;
pub mod publisher;
pub(crate) mod sns_batch;
pub mod topology;

pub use client::AwsClients;
pub use consumer::{
    BatchHandler, Consumer, ConsumerConfig, ConsumerStats, Disposition, Message, Outage,
};
pub use error::QueueError;
pub use topology::{Change, ChangeKind};
