//! Folding an event log into a [`ReadModel`] when the log may not be in version order per
//! aggregate (outbox ids need not follow commit order): an event that arrives before its
//! predecessor waits, and is applied as soon as the predecessor is. What still waits at the
//! end is a gap in the log. Pure: `verify` and `rebuild` feed it rows from the write DB.

use std::collections::BTreeMap;

use super::model::{table_of, Applied, ReadModel};
use crate::contract::event::{AggregateType, ChangeEvent};

type Key = (AggregateType, String);

/// A fold in progress.
#[derive(Debug, Default)]
pub struct Replay {
    model: ReadModel,
    waiting: BTreeMap<Key, BTreeMap<i64, ChangeEvent>>,
    read: u64,
}

/// A version the log lacks: `got` is the lowest version found after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGap {
    pub aggregate: AggregateType,
    pub aggregate_id: String,
    pub expected: i64,
    pub got: i64,
}

/// The fold's result.
#[derive(Debug, Clone, Default)]
pub struct Replayed {
    pub model: ReadModel,
    /// Events read, duplicates and waiting ones included.
    pub events_read: u64,
    pub gaps: Vec<LogGap>,
}

impl Replay {
    /// Continues from `model` (a fresh fold starts from `ReadModel::default()`).
    pub fn new(model: ReadModel) -> Self {
        Self {
            model,
            ..Self::default()
        }
    }

    pub fn push(&mut self, event: ChangeEvent) {
        self.read += 1;
        let key = (table_of(&event), event.aggregate_id.clone());
        match self.model.apply(&event) {
            Applied::Applied => self.release(key),
            Applied::AlreadyApplied => {}
            Applied::Gap { .. } => {
                let waiting = self.waiting.entry(key).or_default();
                waiting.insert(event.version, event);
            }
        }
    }

    /// Applies the waiting events of `key` that have become next in line.
    fn release(&mut self, key: Key) {
        let Some(waiting) = self.waiting.get_mut(&key) else {
            return;
        };
        while let Some(entry) = waiting.first_entry() {
            match self.model.apply(entry.get()) {
                Applied::Gap { .. } => break,
                Applied::Applied | Applied::AlreadyApplied => entry.remove(),
            };
        }
        if waiting.is_empty() {
            self.waiting.remove(&key);
        }
    }

    pub fn finish(self) -> Replayed {
        let gaps = self
            .waiting
            .into_iter()
            .filter_map(|((aggregate, aggregate_id), waiting)| {
                let got = *waiting.keys().next()?;
                let expected = self.model.version(aggregate, &aggregate_id) + 1;
                Some(LogGap {
                    aggregate,
                    aggregate_id,
                    expected,
                    got,
                })
            })
            .collect();
        Replayed {
            model: self.model,
            events_read: self.read,
            gaps,
        }
    }
}

/// Folds `events` in the order given.
pub fn replay(events: impl IntoIterator<Item = ChangeEvent>) -> Replayed {
    let mut fold = Replay::default();
    events.into_iter().for_each(|e| fold.push(e));
    fold.finish()
}
