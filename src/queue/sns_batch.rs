//! One SNS `PublishBatch` call, built from our own description of each message: the one
//! place that knows how an entry is spelled for the SDK (string attributes, the FIFO group
//! and deduplication ids). The command publisher and the relay both publish through it and
//! keep only their own rules (which messages go in which call, what a refusal means).

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use super::QueueError;

/// SNS's limit on entries per `PublishBatch`.
pub(crate) const MAX_ENTRIES: usize = 10;

/// One message of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    /// Unique within the call: SNS names a refused entry by it.
    pub id: String,
    /// Sent byte for byte.
    pub body: &'a str,
    /// String message attributes, by name.
    pub attributes: Vec<(&'static str, &'a str)>,
    /// On FIFO topics: `(MessageGroupId, MessageDeduplicationId)` (owned: the relay
    /// derives them per row, and the SDK's builder copies them all the same).
    pub fifo: Option<(String, String)>,
}

/// An entry SNS did not take, as SNS reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub id: String,
    pub code: String,
    pub message: Option<String>,
    pub sender_fault: bool,
}

/// Sends `entries` in one `PublishBatch` to `topic_arn`; returns the entries SNS refused.
/// An error means the call failed as a whole (none of its entries can be counted as sent).
/// `endpoint` only names where the call went in the error.
pub(crate) async fn publish_batch(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    endpoint: &str,
    entries: &[Entry<'_>],
) -> Result<Vec<Refused>, QueueError> {
    let built = entries
        .iter()
        .map(build)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| QueueError::Topology {
            resource: format!("topic {topic_arn}"),
            problem: format!("cannot build a PublishBatch entry: {e}"),
        })?;
    let out = sns
        .publish_batch()
        .topic_arn(topic_arn)
        .set_publish_batch_request_entries(Some(built))
        .send()
        .await
        .map_err(|e| QueueError::aws("PublishBatch", topic_arn, endpoint, e))?;
    Ok(out.failed().iter().map(refused).collect())
}

fn build(entry: &Entry<'_>) -> Result<PublishBatchRequestEntry, aws_sdk_sns::error::BuildError> {
    let mut built = PublishBatchRequestEntry::builder()
        .id(&entry.id)
        .message(entry.body);
    for (name, value) in &entry.attributes {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(*value)
            .build()?;
        built = built.message_attributes(*name, value);
    }
    if let Some((group_id, dedup_id)) = &entry.fifo {
        built = built
            .message_group_id(group_id)
            .message_deduplication_id(dedup_id);
    }
    built.build()
}

fn refused(f: &aws_sdk_sns::types::BatchResultErrorEntry) -> Refused {
    Refused {
        id: f.id().to_owned(),
        code: f.code().to_owned(),
        message: f.message().map(str::to_owned),
        sender_fault: f.sender_fault(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fifo: Option<(&str, &str)>) -> Entry<'static> {
        Entry {
            id: "7".into(),
            body: r#"{"a":1}"#,
            attributes: vec![("event_type", "StockChanged"), ("traceparent", "00-x")],
            fifo: fifo.map(|(g, d)| (g.to_owned(), d.to_owned())),
        }
    }

    #[test]
    fn an_entry_carries_its_body_every_attribute_as_a_string_and_its_fifo_ids() {
        let built = build(&entry(Some(("product:p", "e-1")))).expect("builds");
        assert_eq!((built.id(), built.message()), ("7", r#"{"a":1}"#));
        let attributes = built.message_attributes().expect("attributes");
        for (name, value) in [("event_type", "StockChanged"), ("traceparent", "00-x")] {
            let attribute = &attributes[name];
            assert_eq!(
                (attribute.data_type(), attribute.string_value()),
                ("String", Some(value))
            );
        }
        assert_eq!(built.message_group_id(), Some("product:p"));
        assert_eq!(built.message_deduplication_id(), Some("e-1"));
    }

    #[test]
    fn a_standard_topic_entry_has_no_fifo_ids() {
        let built = build(&entry(None)).expect("builds");
        assert_eq!(built.message_group_id(), None);
        assert_eq!(built.message_deduplication_id(), None);
    }
}
