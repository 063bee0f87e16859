//! The outage gate shared by all pollers of one consumer: closed while any batch is held
//! for an outage, so nobody receives (and fails) new messages until the dependency is back.

use std::sync::Mutex;

use tokio::sync::watch;
use tokio::time::Instant;

use super::Outage;

/// Counts the batches held for an outage; open when there are none.
pub(super) struct OutageGate {
    held: watch::Sender<usize>,
    since: Mutex<Option<Instant>>,
}

impl Default for OutageGate {
    fn default() -> Self {
        Self {
            held: watch::Sender::new(0),
            since: Mutex::new(None),
        }
    }
}

impl OutageGate {
    pub(super) fn is_open(&self) -> bool {
        *self.held.borrow() == 0
    }

    /// Resolves once no batch is held for an outage.
    pub(super) async fn opened(&self) {
        let mut held = self.held.subscribe();
        // Err only if the sender is gone, and `self` owns it.
        let _ = held.wait_for(|n| *n == 0).await;
    }

    /// Closes the gate for as long as the returned hold lives; the first hold of an
    /// outage logs it, so one outage is one warning however many batches it catches.
    pub(super) fn close(&self, outage: &Outage) -> Hold<'_> {
        let mut first = false;
        self.held.send_modify(|n| {
            first = *n == 0;
            *n += 1;
        });
        if first {
            self.set_since(Some(Instant::now()));
            tracing::warn!(
                dependency = outage.dependency,
                detail = %outage.detail,
                "outage: receiving paused, held messages kept invisible until it recovers"
            );
        }
        Hold {
            gate: self,
            recovered: false,
        }
    }

    fn set_since(&self, at: Option<Instant>) -> Option<Instant> {
        match self.since.lock() {
            Ok(mut since) => std::mem::replace(&mut *since, at),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), at),
        }
    }

    /// The last hold gone: receiving resumes.
    fn release(&self, recovered: bool) {
        let mut last = false;
        self.held.send_modify(|n| {
            *n = n.saturating_sub(1);
            last = *n == 0;
        });
        if !last {
            return;
        }
        let lasted = self.set_since(None).map(|t| t.elapsed());
        if recovered {
            tracing::info!(
                ?lasted,
                "outage over: dependency healthy, receiving resumes"
            );
        }
    }
}

/// One batch's share in keeping the gate closed; dropping it (also on panic) reopens.
pub(super) struct Hold<'a> {
    gate: &'a OutageGate,
    recovered: bool,
}

impl Hold<'_> {
    /// The batch went through after the outage: say so when the gate reopens.
    pub(super) fn recovered(mut self) {
        self.recovered = true;
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.gate.release(self.recovered);
    }
}
