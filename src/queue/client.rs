//! Building SDK clients once per process from validated settings.

use std::time::Duration;

use aws_config::{timeout::TimeoutConfig, BehaviorVersion, Region};

use crate::config::AwsSettings;

/// The SNS and SQS clients of one process, sharing one HTTP connection pool.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// Where requests go, for error messages: the override or the region's AWS endpoint.
    pub endpoint: String,
}

impl AwsClients {
    pub async fn connect(settings: &AwsSettings) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .timeout_config(timeouts());
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let endpoint = settings
            .endpoint_url
            .clone()
            .unwrap_or_else(|| format!("AWS {}", settings.region));
        Self {
            sns: aws_sdk_sns::Client::new(&shared),
            sqs: aws_sdk_sqs::Client::new(&shared),
            endpoint,
        }
    }
}

/// A bounded connect so a missing endpoint fails fast, and an attempt timeout above the
/// 20 s long poll so receives are not cut short.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(30))
        .build()
}
