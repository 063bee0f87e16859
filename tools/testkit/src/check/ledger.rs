//! Nothing lost, nothing from nowhere: every published message must end as exactly one of
//! applied or rejected (an inbox row with the same fingerprint), a conflicting duplicate,
//! kept invalid, or in the DLQ; and nothing may be in the write database that nobody sent.
//! Pure: the caller loads the rows.

use std::collections::{BTreeMap, BTreeSet};

use super::CheckReport;
use fulfil::contract::Envelope;

/// What the write database and the DLQ hold about messages.
#[derive(Debug, Default)]
pub struct Outcomes {
    /// command_id → (fingerprint, outcome code).
    pub inbox: BTreeMap<String, (String, String)>,
    /// command_ids kept as conflicting duplicates.
    pub conflicts: BTreeSet<String>,
    /// Exact bodies kept as invalid.
    pub invalid_bodies: BTreeSet<String>,
    /// Exact bodies found in the dead-letter queue.
    pub dlq_bodies: BTreeSet<String>,
}

/// Accounts for every published body (a body published twice counts once, plus one
/// duplicate absorbed).
pub fn account(published: &[String], outcomes: &Outcomes, report: &mut CheckReport) {
    let mut distinct: BTreeMap<&str, usize> = BTreeMap::new();
    for body in published {
        *distinct.entry(body.as_str()).or_default() += 1;
    }
    report.published = published.len();
    report.duplicates = published.len() - distinct.len();
    let mut expected_ids = BTreeSet::new();
    for body in distinct.keys() {
        account_one(body, outcomes, &mut expected_ids, report);
    }
    report.invalid = outcomes.invalid_bodies.len();
    report.in_dlq = outcomes.dlq_bodies.len();
    for id in outcomes
        .inbox
        .keys()
        .filter(|id| !expected_ids.contains(*id))
    {
        report.unexpected += 1;
        report.violation(
            "nothing from nowhere",
            format!("command {id} is in the inbox but was never published"),
        );
    }
    for body in outcomes
        .invalid_bodies
        .iter()
        .filter(|b| !distinct.contains_key(b.as_str()))
    {
        report.unexpected += 1;
        report.violation(
            "nothing from nowhere",
            format!("kept as invalid but never published: {}", shorten(body)),
        );
    }
}

fn account_one(
    body: &str,
    outcomes: &Outcomes,
    expected: &mut BTreeSet<String>,
    report: &mut CheckReport,
) {
    let parsed = Envelope::parse(body);
    if let Ok(envelope) = &parsed {
        expected.insert(envelope.command_id.clone());
    }
    if outcomes.dlq_bodies.contains(body) {
        return;
    }
    let Ok(envelope) = parsed else {
        if !outcomes.invalid_bodies.contains(body) {
            report.lost += 1;
            report.violation(
                "nothing lost",
                format!(
                    "invalid message neither kept nor in the DLQ: {}",
                    shorten(body)
                ),
            );
        }
        return;
    };
    match outcomes.inbox.get(&envelope.command_id) {
        Some((fp, outcome)) if *fp == envelope.fingerprint() => match outcome.as_str() {
            "REJECTED" => report.rejected += 1,
            _ => report.applied += 1,
        },
        Some(_) if outcomes.conflicts.contains(&envelope.command_id) => report.conflicts += 1,
        _ => {
            report.lost += 1;
            report.violation(
                "nothing lost",
                format!(
                    "command {} was published but has no outcome",
                    envelope.command_id
                ),
            );
        }
    }
}

fn shorten(body: &str) -> String {
    body.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restock(id: &str, q: u32) -> String {
        format!(
            r#"{{"version":1,"command_id":"{id}","type":"Restock","product_id":"p","quantity":{q}}}"#
        )
    }

    fn applied(body: &str) -> (String, (String, String)) {
        let e = Envelope::parse(body).unwrap();
        (e.command_id.clone(), (e.fingerprint(), "RESTOCKED".into()))
    }

    #[test]
    fn every_published_message_accounted_for_is_clean_and_duplicates_are_counted() {
        let (a, bad) = (restock("a", 1), "{nope".to_owned());
        let outcomes = Outcomes {
            inbox: BTreeMap::from([applied(&a)]),
            invalid_bodies: BTreeSet::from([bad.clone()]),
            ..Outcomes::default()
        };
        let mut report = CheckReport::default();
        account(&[a.clone(), a, bad], &outcomes, &mut report);
        assert!(report.is_clean(), "{report}");
        assert_eq!(
            (
                report.published,
                report.applied,
                report.duplicates,
                report.invalid
            ),
            (3, 1, 1, 1)
        );
    }

    #[test]
    fn a_message_with_no_outcome_is_lost_and_an_inbox_row_nobody_sent_is_unexpected() {
        let outcomes = Outcomes {
            inbox: BTreeMap::from([applied(&restock("ghost", 1))]),
            invalid_bodies: BTreeSet::from(["{ghost".to_owned()]),
            ..Outcomes::default()
        };
        let mut report = CheckReport::default();
        account(&[restock("a", 1)], &outcomes, &mut report);
        assert_eq!((report.lost, report.unexpected), (1, 2));
        assert_eq!(report.violations.len(), 3);
    }

    #[test]
    fn a_command_applied_once_and_also_dead_lettered_is_neither_lost_nor_unexpected() {
        let a = restock("a", 1);
        let outcomes = Outcomes {
            inbox: BTreeMap::from([applied(&a)]),
            dlq_bodies: BTreeSet::from([a.clone()]),
            ..Outcomes::default()
        };
        let mut report = CheckReport::default();
        account(&[a.clone(), a], &outcomes, &mut report);
        assert!(report.is_clean(), "{report}");
        assert_eq!((report.in_dlq, report.duplicates), (1, 1));
    }

    #[test]
    fn a_same_key_other_body_is_a_conflict_when_kept_as_one() {
        let (first, second) = (restock("a", 1), restock("a", 2));
        let outcomes = Outcomes {
            inbox: BTreeMap::from([applied(&first)]),
            conflicts: BTreeSet::from(["a".to_owned()]),
            ..Outcomes::default()
        };
        let mut report = CheckReport::default();
        account(&[first, second], &outcomes, &mut report);
        assert!(report.is_clean(), "{report}");
        assert_eq!((report.applied, report.conflicts), (1, 1));
    }
}
