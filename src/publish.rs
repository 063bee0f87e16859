//! `fulfil publish`: the upstream publisher. Validates every line before anything is sent
//! (a bad line is reported with its number and not sent), publishes through SNS with a
//! progress bar, and ends with a count of sent and failed messages.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{AwsSettings, SecretUrl, Topology};
use crate::contract::Envelope;
use crate::queue::publisher::{CommandPublisher, Outgoing, PublishReport};
use crate::queue::{topology, AwsClients, QueueError};

/// A line that is not a valid command, with its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub error: String,
}

/// Splits JSON Lines into messages to send and lines to report; blank lines are skipped.
pub fn read_commands(text: &str) -> (Vec<Outgoing>, Vec<BadLine>) {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for (number, line) in text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
    {
        if line.trim().is_empty() {
            continue;
        }
        match Envelope::parse(line) {
            Ok(envelope) => good.push(Outgoing::command(&envelope, line.to_owned())),
            Err(e) => bad.push(BadLine {
                line: number,
                error: e.to_string(),
            }),
        }
    }
    (good, bad)
}

pub async fn publisher(
    aws: &AwsSettings,
    topology: &Topology,
) -> Result<CommandPublisher, QueueError> {
    let clients = AwsClients::connect(aws).await;
    let arn = topology::topic_arn(&clients, &topology.commands_topic()).await?;
    Ok(CommandPublisher::new(clients, arn, topology.fifo))
}

/// Publishes with a progress bar on stderr (hidden when stderr is not a terminal).
pub async fn publish_with_progress(
    publisher: &CommandPublisher,
    messages: &[Outgoing],
    what: &str,
) -> Result<PublishReport, QueueError> {
    let bar = ProgressBar::new(messages.len() as u64);
    let style = ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec}, {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    let report = publisher.publish(messages, |n| bar.inc(n as u64)).await;
    bar.finish_and_clear();
    report
}

/// Waits until the write database's inbox holds `command_id` (the restock of a flash sale
/// must be applied before its orders are decided, and they travel in different groups).
pub async fn wait_applied(
    url: &SecretUrl,
    command_id: &str,
    deadline: Duration,
) -> Result<bool, crate::db::DbError> {
    let pool = crate::db::connect(crate::db::Database::Write, url, 1).await?;
    let until = tokio::time::Instant::now() + deadline;
    while tokio::time::Instant::now() < until {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM inbox WHERE command_id = $1")
            .bind(command_id)
            .fetch_optional(&pool)
            .await
            .map_err(|source| crate::db::DbError::Query {
                database: crate::db::Database::Write,
                source,
            })?;
        if found.is_some() {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_reported_by_number_and_blank_lines_skipped() {
        let text = concat!(
            r#"{"version":1,"command_id":"c1","type":"Restock","product_id":"p","quantity":5}"#,
            "\n\n",
            r#"{"version":1,"command_id":"c2","type":"Restock","product_id":"p","quantity":0}"#,
            "\n{oops\n"
        );
        let (good, bad) = read_commands(text);
        assert_eq!(good.len(), 1);
        assert_eq!(good[0].group_id, "p");
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(bad[0].error, "quantity: 0 is below the minimum 1");
    }
}
