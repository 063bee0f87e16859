//! Folding an event log into a [`ReadModel`] by the projection rule: each aggregate ends at
//! the view of its highest version, whatever order the log is read in (outbox ids need not
//! follow commit order) and whatever versions it lacks. Pure: `verify` and `rebuild` feed
//! it rows from the write DB.

use super::model::ReadModel;
use crate::contract::event::ChangeEvent;

/// A fold in progress.
#[derive(Debug, Default)]
pub struct Replay {
    model: ReadModel,
    read: u64,
}

/// The fold's result.
#[derive(Debug, Clone, Default)]
pub struct Replayed {
    pub model: ReadModel,
    /// Events read, copies and superseded ones included.
    pub events_read: u64,
}

impl Replay {
    pub fn push(&mut self, event: &ChangeEvent) {
        self.read += 1;
        self.model.apply(event);
    }

    pub fn finish(self) -> Replayed {
        Replayed {
            model: self.model,
            events_read: self.read,
        }
    }
}

/// Folds `events` in the order given.
pub fn replay<'a>(events: impl IntoIterator<Item = &'a ChangeEvent>) -> Replayed {
    let mut fold = Replay::default();
    events.into_iter().for_each(|e| fold.push(e));
    fold.finish()
}
