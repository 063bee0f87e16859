//! `fulfil dlq list|show|redrive`: what sits in a dead-letter queue, why, and sending it back
//! to the queue it came from once the cause is fixed.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::shared::{AwsArgs, Format, TopologyArgs};
use crate::admin::{DeadLetterQueue, DlqAt, MovedBySqs};
use crate::contract::event::ChangeEvent;
use crate::contract::Envelope;
use crate::queue::dlq::Peeked;

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Every message in a DLQ, oldest first: id, when, group, command or event, and why.
    List {
        #[command(flatten)]
        at: DlqArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One message whole: its body and why it is there (as JSON).
    Show {
        /// The message id `fulfil dlq list` shows.
        message_id: String,
        #[command(flatten)]
        at: DlqArgs,
    },
    /// Send messages back to the queue they came from, oldest first (all, or those named).
    /// All: by SQS's own move task (StartMessageMoveTask) where SQS starts one, else one by
    /// one. Fix what failed them first: a command that fails again returns to the DLQ.
    Redrive {
        /// Message ids from `fulfil dlq list`; none means every message.
        message_ids: Vec<String>,
        #[command(flatten)]
        at: DlqArgs,
    },
}

/// The whole queue by SQS's move task; false when SQS would not start one (said on stderr:
/// the caller moves the messages itself).
async fn redrive_all_by_sqs(dlq: &DlqAt) -> anyhow::Result<bool> {
    let last = std::cell::Cell::new(-1);
    let progress = |moved: i64, to_move: Option<i64>| {
        if last.replace(moved) != moved {
            let of = to_move.map(|n| format!(" of {n}")).unwrap_or_default();
            eprintln!("SQS's move task: {moved}{of} moved ...");
        }
    };
    match dlq.redrive_all_by_sqs(progress).await? {
        MovedBySqs::Moved(moved) => {
            let name = &dlq.dlq_name;
            println!("{moved} message(s) sent back from {name} by SQS's move task");
            Ok(true)
        }
        MovedBySqs::Refused(why) => {
            eprintln!("SQS did not start a move task ({why}); moving the messages one by one");
            Ok(false)
        }
    }
}

#[derive(Debug, Args)]
pub struct DlqArgs {
    /// Which dead-letter queue.
    #[arg(long, value_enum, default_value_t = DeadLetterQueue::Commands)]
    queue: DeadLetterQueue,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    topology: TopologyArgs,
}

impl DlqArgs {
    async fn find(&self) -> anyhow::Result<DlqAt> {
        let aws = crate::config::AwsSettings::try_from(&self.aws)?;
        let topology = crate::config::Topology::try_from(&self.topology)?;
        Ok(DlqAt::find(&aws, &topology, self.queue).await?)
    }
}

impl DlqCommand {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            DlqCommand::List { at, format } => {
                let dlq = at.find().await?;
                let messages = dlq.list().await?;
                match format {
                    Format::Json => println!("{}", serde_json::to_string_pretty(&messages)?),
                    Format::Table => print_table(&dlq.dlq_name, &messages),
                }
            }
            DlqCommand::Show { message_id, at } => {
                let message = at.find().await?.show(&message_id).await?;
                println!("{}", serde_json::to_string_pretty(&message)?);
            }
            DlqCommand::Redrive { message_ids, at } => {
                let dlq = at.find().await?;
                if message_ids.is_empty() && redrive_all_by_sqs(&dlq).await? {
                    return Ok(ExitCode::SUCCESS);
                }
                let progress = |m: &Peeked| println!("redriven {}  {}", m.message_id, what(m));
                let done = dlq.redrive(&message_ids, progress).await?;
                let (moved, left) = (done.moved.len(), done.left);
                println!(
                    "{moved} message(s) sent back from {}; {left} left",
                    dlq.dlq_name
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn print_table(queue: &str, messages: &[Peeked]) {
    println!(
        "{:<36}  {:<19}  {:<24}  {:<32}  why",
        "message id", "sent", "group", "what"
    );
    for m in messages {
        let sent = m.sent_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string());
        let why = match &m.why {
            Some(w) => format!(
                "{} (after {} receive(s) on {})",
                w.reason, w.receive_count, w.source_queue
            ),
            None => "moved by SQS's redrive policy (no reason recorded)".to_owned(),
        };
        println!(
            "{:<36}  {:<19}  {:<24}  {:<32}  {why}",
            m.message_id,
            sent.unwrap_or_default(),
            m.group_id.as_deref().unwrap_or("-"),
            what(m),
        );
    }
    println!("{} message(s) in {queue}", messages.len());
}

/// The command or event a body holds, as `Type id`; or that it does not parse.
fn what(message: &Peeked) -> String {
    if let Ok(envelope) = Envelope::parse(&message.body) {
        return format!("{} {}", envelope.command.type_name(), envelope.command_id);
    }
    match serde_json::from_str::<ChangeEvent>(&message.body) {
        Ok(e) => format!("{} {} v{}", e.data.event_type(), e.aggregate_id, e.version),
        Err(_) => "(not a command or event)".to_owned(),
    }
}
