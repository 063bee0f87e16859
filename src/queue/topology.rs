//! Creates, idempotently, the topics, queues, dead-letter queues and raw-delivery
//! subscriptions that carry commands in and events out.
//!
//! Every resource is looked up first and only created or corrected when it differs, so a
//! second run reports "unchanged" for each one: operators can run `fulfil setup` on every
//! deploy and read from its output whether anything drifted.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName as Attr;
use serde_json::{json, Value};

use super::{AwsClients, QueueError};
use crate::config::Topology;

/// Fourteen days, the SQS maximum: a message waits that long for a fix before it is dropped.
const RETENTION_SECS: &str = "1209600";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Unchanged,
}

/// One line of the setup report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub resource: String,
    pub detail: String,
}

/// Adds `change` to the report, folding a second step on the same resource into its line
/// (a DLQ created and then given its redrive-allow policy reads as one "created").
fn record(changes: &mut Vec<Change>, change: Change) {
    let Some(earlier) = changes.iter_mut().find(|c| c.resource == change.resource) else {
        changes.push(change);
        return;
    };
    match (earlier.kind, change.kind) {
        (_, ChangeKind::Unchanged) => {}
        (ChangeKind::Created, _) => {}
        _ => *earlier = change,
    }
}

/// A queue as setup left it.
#[derive(Debug, Clone)]
pub struct QueueRef {
    pub name: String,
    pub url: String,
    pub arn: String,
}

/// The pipes of one topology, with the URLs and ARNs the roles need.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub commands_topic_arn: String,
    pub commands_queue: QueueRef,
    pub commands_dlq: QueueRef,
    pub events_topic_arn: String,
    pub projector_queue: QueueRef,
    pub projector_dlq: QueueRef,
}

/// Ensures both pipes exist as `topology` describes them; returns what it did.
pub async fn ensure(
    aws: &AwsClients,
    topology: &Topology,
) -> Result<(Provisioned, Vec<Change>), QueueError> {
    let mut changes = Vec::new();
    let setup = Setup { aws, topology };
    let (commands_topic_arn, commands_queue, commands_dlq) = setup
        .pipe(
            &topology.commands_topic(),
            &topology.commands_queue(),
            &topology.commands_dlq(),
            &mut changes,
        )
        .await?;
    let (events_topic_arn, projector_queue, projector_dlq) = setup
        .pipe(
            &topology.events_topic(),
            &topology.projector_queue(),
            &topology.projector_dlq(),
            &mut changes,
        )
        .await?;
    let provisioned = Provisioned {
        commands_topic_arn,
        commands_queue,
        commands_dlq,
        events_topic_arn,
        projector_queue,
        projector_dlq,
    };
    Ok((provisioned, changes))
}

/// The URL of an existing queue, or an error that says to run `fulfil setup`.
pub async fn queue_url(aws: &AwsClients, name: &str) -> Result<String, QueueError> {
    lookup_queue(aws, name)
        .await?
        .ok_or_else(|| QueueError::Topology {
            resource: format!("queue {name}"),
            problem: format!(
                "does not exist at {}: run `fulfil setup` first",
                aws.endpoint
            ),
        })
}

/// The ARN of the queue at `url`.
pub async fn queue_arn(aws: &AwsClients, url: &str) -> Result<String, QueueError> {
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Attr::QueueArn)
        .send()
        .await
        .map_err(|e| QueueError::aws("GetQueueAttributes", url, &aws.endpoint, e))?;
    arn_in(&out.attributes().cloned().unwrap_or_default(), url)
}

fn arn_in(attrs: &HashMap<Attr, String>, resource: &str) -> Result<String, QueueError> {
    attrs
        .get(&Attr::QueueArn)
        .cloned()
        .ok_or_else(|| QueueError::Topology {
            resource: resource.to_owned(),
            problem: "has no QueueArn attribute".to_owned(),
        })
}

/// The ARN of an existing topic, or an error that says to run `fulfil setup`.
pub async fn topic_arn(aws: &AwsClients, name: &str) -> Result<String, QueueError> {
    lookup_topic(aws, name)
        .await?
        .ok_or_else(|| QueueError::Topology {
            resource: format!("topic {name}"),
            problem: format!(
                "does not exist at {}: run `fulfil setup` first",
                aws.endpoint
            ),
        })
}

struct Setup<'a> {
    aws: &'a AwsClients,
    topology: &'a Topology,
}

impl Setup<'_> {
    /// topic → queue (raw delivery) with the queue redriving to its DLQ.
    async fn pipe(
        &self,
        topic: &str,
        queue: &str,
        dlq: &str,
        changes: &mut Vec<Change>,
    ) -> Result<(String, QueueRef, QueueRef), QueueError> {
        let topic_arn = self.ensure_topic(topic, changes).await?;
        let dlq_ref = self.ensure_queue(dlq, HashMap::new(), changes).await?;
        let queue_arn = sibling_arn(&dlq_ref.arn, queue);
        let queue_ref = self
            .ensure_queue(
                queue,
                self.main_queue_attributes(&queue_arn, &topic_arn, &dlq_ref.arn),
                changes,
            )
            .await?;
        let allow = json!({"redrivePermission": "byQueue", "sourceQueueArns": [queue_ref.arn]});
        let dlq_attrs = HashMap::from([(Attr::RedriveAllowPolicy, allow.to_string())]);
        self.ensure_queue(dlq, dlq_attrs, changes).await?;
        self.ensure_subscription(&topic_arn, &queue_ref, changes)
            .await?;
        Ok((topic_arn, queue_ref, dlq_ref))
    }

    fn main_queue_attributes(
        &self,
        queue_arn: &str,
        topic_arn: &str,
        dlq_arn: &str,
    ) -> HashMap<Attr, String> {
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": self.topology.max_receive_count});
        HashMap::from([
            (
                Attr::VisibilityTimeout,
                self.topology.visibility_timeout.as_secs().to_string(),
            ),
            (Attr::ReceiveMessageWaitTimeSeconds, "20".to_owned()),
            (Attr::RedrivePolicy, redrive.to_string()),
            (
                Attr::Policy,
                topic_may_send(queue_arn, topic_arn).to_string(),
            ),
        ])
    }

    async fn ensure_topic(
        &self,
        name: &str,
        changes: &mut Vec<Change>,
    ) -> Result<String, QueueError> {
        let resource = format!("topic {name}");
        if let Some(arn) = self.find_topic(name).await? {
            record(
                changes,
                Change {
                    kind: ChangeKind::Unchanged,
                    resource,
                    detail: arn.clone(),
                },
            );
            return Ok(arn);
        }
        let mut request = self.aws.sns.create_topic().name(name);
        if self.topology.fifo {
            request = request
                .attributes("FifoTopic", "true")
                .attributes("ContentBasedDeduplication", "false");
        }
        let out = request
            .send()
            .await
            .map_err(|e| self.err("CreateTopic", &resource, e))?;
        let arn = out.topic_arn().unwrap_or_default().to_owned();
        record(
            changes,
            Change {
                kind: ChangeKind::Created,
                resource,
                detail: arn.clone(),
            },
        );
        Ok(arn)
    }

    async fn find_topic(&self, name: &str) -> Result<Option<String>, QueueError> {
        lookup_topic(self.aws, name).await
    }

    /// Creates the queue with `wanted` or, when it exists, sets the attributes that differ.
    async fn ensure_queue(
        &self,
        name: &str,
        mut wanted: HashMap<Attr, String>,
        changes: &mut Vec<Change>,
    ) -> Result<QueueRef, QueueError> {
        wanted.insert(Attr::MessageRetentionPeriod, RETENTION_SECS.to_owned());
        let resource = format!("queue {name}");
        match self.queue_url(name).await? {
            None => {
                let url = self.create_queue(name, wanted, &resource).await?;
                let arn = self.queue_arn(&url, &resource).await?;
                record(
                    changes,
                    Change {
                        kind: ChangeKind::Created,
                        resource,
                        detail: url.clone(),
                    },
                );
                Ok(QueueRef {
                    name: name.to_owned(),
                    url,
                    arn,
                })
            }
            Some(url) => {
                self.update_queue(name, url, wanted, resource, changes)
                    .await
            }
        }
    }

    async fn create_queue(
        &self,
        name: &str,
        mut attrs: HashMap<Attr, String>,
        resource: &str,
    ) -> Result<String, QueueError> {
        if self.topology.fifo {
            attrs.insert(Attr::FifoQueue, "true".to_owned());
            attrs.insert(Attr::ContentBasedDeduplication, "false".to_owned());
        }
        let out = self
            .aws
            .sqs
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attrs))
            .send()
            .await;
        let out = out.map_err(|e| self.err("CreateQueue", resource, e))?;
        Ok(out.queue_url().unwrap_or_default().to_owned())
    }

    async fn update_queue(
        &self,
        name: &str,
        url: String,
        wanted: HashMap<Attr, String>,
        resource: String,
        changes: &mut Vec<Change>,
    ) -> Result<QueueRef, QueueError> {
        let current = self.queue_attributes(&url, &resource).await?;
        let arn = current.get(&Attr::QueueArn).cloned().unwrap_or_default();
        let differing: HashMap<Attr, String> = wanted
            .into_iter()
            .filter(|(k, v)| !same_attribute(current.get(k), v))
            .collect();
        if differing.is_empty() {
            record(
                changes,
                Change {
                    kind: ChangeKind::Unchanged,
                    resource,
                    detail: url.clone(),
                },
            );
        } else {
            let mut names: Vec<&str> = differing.keys().map(|k| k.as_str()).collect();
            names.sort_unstable();
            let detail = format!("set {}", names.join(", "));
            let set = self
                .aws
                .sqs
                .set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(differing));
            set.send()
                .await
                .map_err(|e| self.err("SetQueueAttributes", &resource, e))?;
            record(
                changes,
                Change {
                    kind: ChangeKind::Updated,
                    resource,
                    detail,
                },
            );
        }
        Ok(QueueRef {
            name: name.to_owned(),
            url,
            arn,
        })
    }

    async fn queue_url(&self, name: &str) -> Result<Option<String>, QueueError> {
        match self.aws.sqs.get_queue_url().queue_name(name).send().await {
            Ok(out) => Ok(out.queue_url().map(str::to_owned)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_queue_does_not_exist()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.err("GetQueueUrl", &format!("queue {name}"), e)),
        }
    }

    async fn queue_attributes(
        &self,
        url: &str,
        resource: &str,
    ) -> Result<HashMap<Attr, String>, QueueError> {
        let out = self
            .aws
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(Attr::All)
            .send()
            .await;
        let out = out.map_err(|e| self.err("GetQueueAttributes", resource, e))?;
        Ok(out.attributes().cloned().unwrap_or_default())
    }

    async fn queue_arn(&self, url: &str, resource: &str) -> Result<String, QueueError> {
        let attrs = self.queue_attributes(url, resource).await?;
        arn_in(&attrs, resource)
    }

    /// Raw delivery makes the SQS body the command document itself, as the contract says.
    async fn ensure_subscription(
        &self,
        topic_arn: &str,
        queue: &QueueRef,
        changes: &mut Vec<Change>,
    ) -> Result<(), QueueError> {
        let resource = format!("subscription {} -> {}", short(topic_arn), queue.name);
        match self.find_subscription(topic_arn, &queue.arn).await? {
            None => {
                let sub = self
                    .aws
                    .sns
                    .subscribe()
                    .topic_arn(topic_arn)
                    .protocol("sqs")
                    .endpoint(&queue.arn);
                let sub = sub
                    .attributes("RawMessageDelivery", "true")
                    .return_subscription_arn(true);
                let out = sub
                    .send()
                    .await
                    .map_err(|e| self.err("Subscribe", &resource, e))?;
                let detail = out.subscription_arn().unwrap_or_default().to_owned();
                record(
                    changes,
                    Change {
                        kind: ChangeKind::Created,
                        resource,
                        detail,
                    },
                );
            }
            Some(arn) => self.ensure_raw_delivery(arn, resource, changes).await?,
        }
        Ok(())
    }

    async fn ensure_raw_delivery(
        &self,
        arn: String,
        resource: String,
        changes: &mut Vec<Change>,
    ) -> Result<(), QueueError> {
        let out = self
            .aws
            .sns
            .get_subscription_attributes()
            .subscription_arn(&arn)
            .send()
            .await;
        let out = out.map_err(|e| self.err("GetSubscriptionAttributes", &resource, e))?;
        let raw = out
            .attributes()
            .and_then(|a| a.get("RawMessageDelivery"))
            .map(String::as_str);
        if raw == Some("true") {
            record(
                changes,
                Change {
                    kind: ChangeKind::Unchanged,
                    resource,
                    detail: arn,
                },
            );
            return Ok(());
        }
        let set = self
            .aws
            .sns
            .set_subscription_attributes()
            .subscription_arn(&arn);
        let set = set
            .attribute_name("RawMessageDelivery")
            .attribute_value("true");
        set.send()
            .await
            .map_err(|e| self.err("SetSubscriptionAttributes", &resource, e))?;
        record(
            changes,
            Change {
                kind: ChangeKind::Updated,
                resource,
                detail: "set RawMessageDelivery".to_owned(),
            },
        );
        Ok(())
    }

    async fn find_subscription(
        &self,
        topic_arn: &str,
        queue_arn: &str,
    ) -> Result<Option<String>, QueueError> {
        let mut token = None;
        loop {
            let page = self
                .aws
                .sns
                .list_subscriptions_by_topic()
                .topic_arn(topic_arn)
                .set_next_token(token)
                .send()
                .await;
            let page = page.map_err(|e| self.err("ListSubscriptionsByTopic", topic_arn, e))?;
            let found = page
                .subscriptions()
                .iter()
                .find(|s| s.protocol() == Some("sqs") && s.endpoint() == Some(queue_arn))
                .and_then(|s| s.subscription_arn());
            if let Some(arn) = found {
                return Ok(Some(arn.to_owned()));
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(None);
            }
        }
    }

    fn err<E, R>(
        &self,
        operation: &'static str,
        resource: &str,
        e: aws_sdk_sqs::error::SdkError<E, R>,
    ) -> QueueError
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        QueueError::aws(operation, resource, &self.aws.endpoint, e)
    }
}

/// Pages through ListTopics for the topic whose ARN ends in `:{name}`.
async fn lookup_topic(aws: &AwsClients, name: &str) -> Result<Option<String>, QueueError> {
    let suffix = format!(":{name}");
    let mut token = None;
    loop {
        let page = aws.sns.list_topics().set_next_token(token).send().await;
        let page = page.map_err(|e| QueueError::aws("ListTopics", name, &aws.endpoint, e))?;
        let found = page
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .find(|a| a.ends_with(&suffix));
        if let Some(arn) = found {
            return Ok(Some(arn.to_owned()));
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(None);
        }
    }
}

async fn lookup_queue(aws: &AwsClients, name: &str) -> Result<Option<String>, QueueError> {
    match aws.sqs.get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url().map(str::to_owned)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(e) => Err(QueueError::aws(
            "GetQueueUrl",
            &format!("queue {name}"),
            &aws.endpoint,
            e,
        )),
    }
}

/// The ARN of queue `name` in the same account and region as `arn`.
fn sibling_arn(arn: &str, name: &str) -> String {
    match arn.rsplit_once(':') {
        Some((head, _)) => format!("{head}:{name}"),
        None => name.to_owned(),
    }
}

fn short(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// Only our topic may send to the queue (SNS needs this on real AWS; LocalStack ignores it).
fn topic_may_send(queue_arn: &str, topic_arn: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "topic-may-send",
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}
        }]
    })
}

/// Compares attribute values as SQS returns them: JSON documents by content (numbers and
/// numeric strings alike), everything else as text.
fn same_attribute(current: Option<&String>, wanted: &str) -> bool {
    let Some(current) = current else { return false };
    match (
        serde_json::from_str::<Value>(current),
        serde_json::from_str::<Value>(wanted),
    ) {
        (Ok(a @ Value::Object(_)), Ok(b @ Value::Object(_))) => normalise(a) == normalise(b),
        _ => current == wanted,
    }
}

fn normalise(value: Value) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(items.into_iter().map(normalise).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalise(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redrive_policy_with_a_string_count_equals_one_with_a_number() {
        let current = r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":"5"}"#.to_owned();
        assert!(same_attribute(
            Some(&current),
            r#"{"maxReceiveCount":5,"deadLetterTargetArn":"arn:x"}"#
        ));
        assert!(!same_attribute(
            Some(&current),
            r#"{"maxReceiveCount":6,"deadLetterTargetArn":"arn:x"}"#
        ));
    }

    #[test]
    fn a_created_queue_updated_later_in_the_same_run_reads_as_created() {
        let change = |kind, detail: &str| Change {
            kind,
            resource: "queue q".into(),
            detail: detail.into(),
        };
        let mut changes = Vec::new();
        record(&mut changes, change(ChangeKind::Created, "url"));
        record(&mut changes, change(ChangeKind::Updated, "set X"));
        assert_eq!(changes, vec![change(ChangeKind::Created, "url")]);
        let mut changes = vec![change(ChangeKind::Unchanged, "url")];
        record(&mut changes, change(ChangeKind::Updated, "set X"));
        record(&mut changes, change(ChangeKind::Unchanged, "url"));
        assert_eq!(changes, vec![change(ChangeKind::Updated, "set X")]);
    }

    #[test]
    fn a_missing_attribute_differs() {
        assert!(!same_attribute(None, "30"));
        assert!(same_attribute(Some(&"30".to_owned()), "30"));
    }

    #[test]
    fn the_sibling_arn_keeps_account_and_region() {
        assert_eq!(
            sibling_arn("arn:aws:sqs:us-east-1:000000000000:a-dlq.fifo", "a.fifo"),
            "arn:aws:sqs:us-east-1:000000000000:a.fifo"
        );
    }
}
