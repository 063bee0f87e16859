//! What sits in the dead-letter queues, and whether it may. A valid command reaches the
//! commands DLQ only for a failure of its own (a poison), never because of contention, an
//! outage, a lost cache write or our bug; and a poison is something a test plants. So a
//! valid command there is a broken promise unless the scenario declares it planted. A body
//! the contract refuses is kept in the write database rather than dead-lettered, but one in
//! the DLQ is still accounted for (ARCHITECTURE.md's invariants allow it): listed, not a
//! violation. Every message in the projector DLQ is an event the read model never got: a
//! violation unless planted. Pure: the caller peeks the queues.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::CheckReport;
use fulfil::contract::event::ChangeEvent;
use fulfil::contract::Envelope;
use fulfil::queue::dlq::Peeked;

/// The invariants this module checks, as the report names them.
pub const NO_VALID_COMMAND_IN_DLQ: &str = "no valid command in the commands DLQ";
pub const PROJECTOR_DLQ_EMPTY: &str = "projector DLQ empty";

/// Poisons a scenario put in a DLQ on purpose: command ids (commands DLQ) and event ids
/// (projector DLQ). Found there, they are listed and are no violation.
#[derive(Debug, Clone, Default)]
pub struct Planted(BTreeSet<String>);

impl Planted {
    pub fn none() -> Planted {
        Planted::default()
    }

    pub fn ids<I: Into<String>>(ids: impl IntoIterator<Item = I>) -> Planted {
        Planted(ids.into_iter().map(Into::into).collect())
    }

    fn contains(&self, id: Option<&str>) -> bool {
        id.is_some_and(|id| self.0.contains(id))
    }
}

/// Which dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dlq {
    Commands,
    Projector,
}

/// One message found in a DLQ, and the checker's reading of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub queue: Dlq,
    pub message_id: String,
    /// The command id (commands DLQ) or event id (projector DLQ), when the body parses.
    pub id: Option<String>,
    /// The command or event type, when the body parses.
    pub kind: Option<String>,
    pub violation: bool,
    /// Why it is, or is not, a violation.
    pub why: String,
}

impl fmt::Display for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue = match self.queue {
            Dlq::Commands => "commands DLQ",
            Dlq::Projector => "projector DLQ",
        };
        write!(f, "{queue} message {}", self.message_id)?;
        if let (Some(kind), Some(id)) = (&self.kind, &self.id) {
            write!(f, ": {kind} {id}")?;
        }
        let verdict = if self.violation {
            "VIOLATION"
        } else {
            "allowed"
        };
        write!(f, " [{verdict}] {}", self.why)
    }
}

/// Reads every message of the commands DLQ into the report.
pub fn commands(peeked: &[Peeked], planted: &Planted, report: &mut CheckReport) {
    for message in peeked {
        record(report, NO_VALID_COMMAND_IN_DLQ, command(message, planted));
    }
}

/// Reads every message of the projector DLQ into the report.
pub fn projector(peeked: &[Peeked], planted: &Planted, report: &mut CheckReport) {
    report.in_projector_dlq = peeked.len();
    for message in peeked {
        record(report, PROJECTOR_DLQ_EMPTY, event(message, planted));
    }
}

fn record(report: &mut CheckReport, invariant: &'static str, found: DeadLetter) {
    if found.violation {
        report.violation(invariant, found.to_string());
    }
    report.dead_letters.push(found);
}

fn command(message: &Peeked, planted: &Planted) -> DeadLetter {
    let parsed = Envelope::parse(&message.body);
    let (id, kind) = match &parsed {
        Ok(e) => (Some(e.command_id.clone()), Some(e.command.type_name())),
        Err(_) => (None, None),
    };
    let (violation, why) = match parsed {
        Err(e) => (
            false,
            format!("not a valid command ({e}): a poison of its own"),
        ),
        Ok(_) if planted.contains(id.as_deref()) => (false, "a poison the scenario planted".into()),
        Ok(_) => (
            true,
            format!(
                "a valid command nobody planted: it should have been decided, not dead-lettered ({})",
                how_it_came(message)
            ),
        ),
    };
    DeadLetter {
        queue: Dlq::Commands,
        message_id: message.message_id.clone(),
        id,
        kind: kind.map(str::to_owned),
        violation,
        why,
    }
}

/// Who moved it there and why: the consumer says so in its attributes, SQS's redrive
/// says nothing.
fn how_it_came(message: &Peeked) -> String {
    match &message.why {
        Some(why) => format!(
            "moved by the consumer from {} after {} receives at {}: {}",
            why.source_queue, why.receive_count, why.at, why.reason
        ),
        None => match message.sent_at {
            Some(at) => format!("moved by SQS's redrive; first sent at {at}"),
            None => "moved by SQS's redrive".to_owned(),
        },
    }
}

fn event(message: &Peeked, planted: &Planted) -> DeadLetter {
    let parsed = serde_json::from_str::<ChangeEvent>(&message.body);
    let (id, kind, why) = match &parsed {
        Ok(e) => (
            Some(e.event_id.to_string()),
            Some(e.data.event_type().to_owned()),
            format!(
                "{} {} version {} never projected",
                e.aggregate_type.as_str(),
                e.aggregate_id,
                e.version
            ),
        ),
        Err(e) => (
            None,
            None,
            format!("not a change event ({e}), never projected"),
        ),
    };
    let planted = planted.contains(id.as_deref());
    DeadLetter {
        queue: Dlq::Projector,
        message_id: message.message_id.clone(),
        id,
        kind,
        violation: !planted,
        why: match planted {
            true => format!("a poison the scenario planted: {why}"),
            false => why,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulfil::contract::event::{AggregateType, EventData, StockSnapshot};

    fn peeked(id: &str, body: &str) -> Peeked {
        Peeked {
            message_id: id.to_owned(),
            body: body.to_owned(),
            group_id: None,
            sent_at: None,
            why: None,
        }
    }

    fn restock(id: &str) -> String {
        format!(
            r#"{{"version":1,"command_id":"{id}","type":"Restock","product_id":"p","quantity":1}}"#
        )
    }

    fn stock_changed() -> (String, String) {
        let snapshot = StockSnapshot {
            product_id: "p".into(),
            name: None,
            available: 1,
            restocked: 1,
            confirmed: 0,
            cancelled: 0,
        };
        let data = EventData::StockChanged(snapshot);
        let event = ChangeEvent::new(
            AggregateType::Product,
            "p",
            3,
            "c",
            chrono::Utc::now(),
            data,
        );
        (event.event_id.to_string(), event.to_json())
    }

    #[test]
    fn a_valid_command_in_the_dlq_is_a_violation_naming_its_message_id_and_type() {
        let mut report = CheckReport::default();
        commands(
            &[peeked("m-1", &restock("c-1"))],
            &Planted::none(),
            &mut report,
        );
        assert!(report.broke(NO_VALID_COMMAND_IN_DLQ), "{report}");
        let detail = &report.violations[0].detail;
        assert!(detail.contains("message m-1: Restock c-1"), "{detail}");
        assert!(detail.contains("moved by SQS's redrive"), "{detail}");
        assert_eq!(report.dead_letters.len(), 1);
    }

    #[test]
    fn a_valid_command_the_consumer_moved_says_why_and_after_how_many_receives() {
        let mut report = CheckReport::default();
        let mut moved = peeked("m-1", &restock("c-1"));
        moved.why = Some(fulfil::queue::dlq::Why {
            reason: "not applied after 8 attempts".into(),
            source_queue: "commands.fifo".into(),
            receive_count: 5,
            at: chrono::Utc::now(),
        });
        commands(&[moved], &Planted::none(), &mut report);
        let detail = &report.violations[0].detail;
        assert!(
            detail.contains("from commands.fifo after 5 receives"),
            "{detail}"
        );
        assert!(detail.contains("not applied after 8 attempts"), "{detail}");
    }

    #[test]
    fn a_planted_poison_and_an_invalid_body_are_listed_but_no_violation() {
        let mut report = CheckReport::default();
        let bodies = [peeked("m-1", &restock("c-poison")), peeked("m-2", "{nope")];
        commands(&bodies, &Planted::ids(["c-poison"]), &mut report);
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.dead_letters.len(), 2);
        assert!(report.dead_letters[0].why.contains("planted"));
        assert!(report.dead_letters[1]
            .why
            .starts_with("not a valid command"));
    }

    #[test]
    fn planting_one_command_does_not_excuse_another() {
        let mut report = CheckReport::default();
        let bodies = [
            peeked("m-1", &restock("c-poison")),
            peeked("m-2", &restock("c-2")),
        ];
        commands(&bodies, &Planted::ids(["c-poison"]), &mut report);
        assert_eq!(report.violations.len(), 1);
        assert!(report.violations[0].detail.contains("Restock c-2"));
    }

    #[test]
    fn any_message_in_the_projector_dlq_is_a_violation_unless_its_event_was_planted() {
        let (event_id, body) = stock_changed();
        let found = [peeked("m-1", &body), peeked("m-2", "{nope")];
        let mut report = CheckReport::default();
        projector(&found, &Planted::none(), &mut report);
        assert_eq!(report.in_projector_dlq, 2);
        assert_eq!(report.violations.len(), 2, "{report}");
        assert!(
            report.violations[0].detail.contains("StockChanged"),
            "{report}"
        );
        let mut planted = CheckReport::default();
        projector(&found[..1], &Planted::ids([event_id]), &mut planted);
        assert!(planted.is_clean(), "{planted}");
        assert_eq!(planted.dead_letters.len(), 1);
    }
}
