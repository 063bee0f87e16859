//! Comparing the model the log implies with the model the read database holds, field by
//! field, into differences a person can act on. Pure.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use super::log::Unreadable;
use super::model::{OrderView, ProductView, ReadModel};

/// One way the read database is not what the event log says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    Field {
        aggregate: &'static str,
        id: String,
        field: &'static str,
        expected: String,
        actual: String,
    },
    /// In the log, not in the read database.
    Missing {
        aggregate: &'static str,
        id: String,
    },
    /// In the read database, not in the log.
    Extra {
        aggregate: &'static str,
        id: String,
    },
    Unreadable(Unreadable),
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Field {
                aggregate,
                id,
                field,
                expected,
                actual,
            } => write!(
                f,
                "{aggregate} {id}: {field} {expected} (expected) vs {actual} (read db)"
            ),
            Difference::Missing { aggregate, id } => {
                write!(f, "{aggregate} {id}: missing from the read db")
            }
            Difference::Extra { aggregate, id } => {
                write!(
                    f,
                    "{aggregate} {id}: in the read db but not in the event log"
                )
            }
            Difference::Unreadable(u) => {
                write!(
                    f,
                    "outbox row {}: unreadable event: {}",
                    u.outbox_id, u.error
                )
            }
        }
    }
}

/// Every difference between `expected` and `actual`, orders first, each table by id.
pub(super) fn compare(expected: &ReadModel, actual: &ReadModel) -> Vec<Difference> {
    let mut out = table("order", &expected.orders, &actual.orders, order_fields);
    out.extend(table(
        "product",
        &expected.products,
        &actual.products,
        product_fields,
    ));
    out
}

type Fields = Vec<(&'static str, String)>;

fn table<V>(
    aggregate: &'static str,
    expected: &BTreeMap<String, V>,
    actual: &BTreeMap<String, V>,
    fields: fn(&V) -> Fields,
) -> Vec<Difference> {
    let mut out = Vec::new();
    for (id, want) in expected {
        let Some(have) = actual.get(id) else {
            out.push(Difference::Missing {
                aggregate,
                id: id.clone(),
            });
            continue;
        };
        for ((field, e), (_, a)) in fields(want).into_iter().zip(fields(have)) {
            if e != a {
                out.push(Difference::Field {
                    aggregate,
                    id: id.clone(),
                    field,
                    expected: e,
                    actual: a,
                });
            }
        }
    }
    let extra = actual.keys().filter(|id| !expected.contains_key(*id));
    out.extend(extra.map(|id| Difference::Extra {
        aggregate,
        id: id.clone(),
    }));
    out
}

fn order_fields(o: &OrderView) -> Fields {
    vec![
        ("user_id", o.user_id.clone()),
        ("status", o.status.clone()),
        ("reason", optional(&o.reason)),
        ("lines", serde_json::to_string(&o.lines).unwrap_or_default()),
        ("version", o.version.to_string()),
        ("placed_at", time(o.placed_at)),
        ("updated_at", time(o.updated_at)),
    ]
}

fn product_fields(p: &ProductView) -> Fields {
    vec![
        ("name", optional(&p.name)),
        ("available", p.available.to_string()),
        ("confirmed_units", p.confirmed_units.to_string()),
        ("cancelled_units", p.cancelled_units.to_string()),
        ("version", p.version.to_string()),
        ("updated_at", time(p.updated_at)),
    ]
}

fn optional(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "(none)".to_owned())
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projector::replay::replay;
    use crate::projector::sample::history;

    fn model() -> ReadModel {
        replay(&history(12, 2, 3)).model
    }

    #[test]
    fn a_model_equals_itself() {
        assert_eq!(compare(&model(), &model()), vec![]);
    }

    #[test]
    fn a_changed_status_is_named_with_both_values() {
        let mut actual = model();
        actual.orders.get_mut("o-3").expect("o-3").status = "rejected".into();
        let found: Vec<String> = compare(&model(), &actual)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            found,
            vec!["order o-3: status cancelled (expected) vs rejected (read db)"]
        );
    }

    #[test]
    fn missing_and_extra_rows_are_reported() {
        let mut actual = model();
        let p1 = actual.products.remove("p-1").expect("p-1");
        actual.products.insert("p-9".into(), p1);
        let found: Vec<String> = compare(&model(), &actual)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            found,
            vec![
                "product p-1: missing from the read db",
                "product p-9: in the read db but not in the event log"
            ]
        );
    }
}
