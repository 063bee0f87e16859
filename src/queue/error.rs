//! Errors at the SQS/SNS boundary, each naming the operation, the resource and the endpoint.

use aws_sdk_sqs::error::{DisplayErrorContext, SdkError};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{operation} {resource} at {endpoint} failed: {message}")]
    Aws {
        operation: &'static str,
        resource: String,
        endpoint: String,
        message: String,
        retryable: bool,
    },
    #[error("{resource}: {problem}")]
    Topology { resource: String, problem: String },
}

impl QueueError {
    /// Transport trouble (endpoint down, timeout) is worth retrying; a refused request is not.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            QueueError::Aws {
                retryable: true,
                ..
            }
        )
    }

    pub fn aws<E, R>(
        operation: &'static str,
        resource: &str,
        endpoint: &str,
        err: SdkError<E, R>,
    ) -> Self
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let retryable = matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        );
        QueueError::Aws {
            operation,
            resource: resource.to_owned(),
            endpoint: endpoint.to_owned(),
            message: DisplayErrorContext(&err).to_string(),
            retryable,
        }
    }
}
