//! When a relay starts its next step. One step at a time while the outbox trickles: rows
//! that commit while a step publishes wait for it and go out together in the next one, so
//! calls fill up as the rate grows (each `PublishBatch` costs about the same whether it
//! carries one event or ten, on SNS and even more on LocalStack, whose FIFO topics deliver
//! on one thread each). When a claim comes back full there is a backlog: then several steps
//! run side by side (each its own claim, so they share the outbox as separate relays
//! would) and keep calls in flight while another step claims or marks. One slow call must
//! not hold back every row behind it either: once the running step has taken longer than
//! [`PATIENCE`], a waiting look starts a step beside it (a LocalStack or SNS call that
//! stalls for half a second would otherwise add half a second to every event committed
//! meanwhile). This is the pure rule the loop in `run::relay` follows, so it is tested
//! without a database or SNS.

use std::time::Duration;

use tokio::time::Instant;

use super::RelayStep;

/// How long rows wait for a running step before a step starts beside it: about twice a
/// usual step (claim, one `PublishBatch`, mark: 40–60 ms on a loaded LocalStack), so a
/// trickle still gathers into full calls and only a stalled call is overtaken.
pub(super) const PATIENCE: Duration = Duration::from_millis(150);

/// What the relay wants started, and the most steps that may run at once.
#[derive(Debug, Clone)]
pub struct Pace {
    most: usize,
    /// A look is due: one step, once none runs.
    look: bool,
    /// Steps wanted beside the running ones, for a backlog.
    extra: usize,
    /// When the newest running step started (None: none runs).
    newest: Option<Instant>,
}

impl Pace {
    /// At least one step may run.
    pub fn new(most_in_flight: usize) -> Self {
        Self {
            most: most_in_flight.max(1),
            look: false,
            extra: 0,
            newest: None,
        }
    }

    /// A NOTIFY, the poll interval or the end of a backoff: one step to look.
    pub fn look(&mut self) {
        self.look = true;
    }

    /// A step ended, `in_flight` others still run. A full claim means a backlog: fill
    /// every slot. One that published may have left rows behind it (held back for order,
    /// or committed meanwhile): look once more. One that found nothing ends the run.
    pub fn finished(&mut self, step: &RelayStep, in_flight: usize) {
        if step.full {
            self.extra = self.most.saturating_sub(in_flight).max(1);
        } else if step.published > 0 {
            self.look();
        }
    }

    /// Whether to start a step at `now` with `in_flight` running; if so it counts as
    /// started.
    pub fn start(&mut self, in_flight: usize, now: Instant) -> bool {
        if in_flight == 0 {
            self.newest = None;
        }
        if in_flight >= self.most || !(self.extra > 0 || self.look_due(now)) {
            return false;
        }
        self.extra = self.extra.saturating_sub(1);
        self.look = false;
        self.newest = Some(now);
        true
    }

    /// When a waiting look may start a step beside the `in_flight` running ones (None: no
    /// look waits, none runs and it starts at once, or no slot is free until one ends).
    pub fn due(&self, in_flight: usize) -> Option<Instant> {
        let waits = self.look && in_flight > 0 && in_flight < self.most;
        self.newest.filter(|_| waits).map(|at| at + PATIENCE)
    }

    /// A look may start a step once none runs, or the newest has run past [`PATIENCE`].
    fn look_due(&self, now: Instant) -> bool {
        self.look && self.newest.is_none_or(|at| now >= at + PATIENCE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(published: usize, full: bool) -> RelayStep {
        RelayStep {
            published,
            waiting: false,
            full,
        }
    }

    /// Steps started at `now` with `in_flight` running.
    fn starts_at(pace: &mut Pace, mut in_flight: usize, now: Instant) -> usize {
        let before = in_flight;
        while pace.start(in_flight, now) {
            in_flight += 1;
        }
        in_flight - before
    }

    fn starts(pace: &mut Pace, in_flight: usize) -> usize {
        starts_at(pace, in_flight, Instant::now())
    }

    #[test]
    fn a_notify_starts_one_step_and_many_notifies_do_not_pile_up() {
        let mut pace = Pace::new(4);
        pace.look();
        pace.look();
        assert_eq!(starts(&mut pace, 0), 1);
        assert_eq!(starts(&mut pace, 1), 0);
    }

    #[test]
    fn while_the_outbox_trickles_a_notify_waits_for_the_running_step() {
        let t0 = Instant::now();
        let mut pace = Pace::new(4);
        pace.look();
        assert_eq!(starts_at(&mut pace, 0, t0), 1);
        pace.look();
        let soon = t0 + PATIENCE / 2;
        assert_eq!(
            starts_at(&mut pace, 1, soon),
            0,
            "rows gather behind the running step"
        );
        assert_eq!(starts_at(&mut pace, 0, soon), 1);
    }

    #[test]
    fn a_step_running_past_the_patience_is_overtaken_by_a_waiting_look() {
        let t0 = Instant::now();
        let mut pace = Pace::new(3);
        pace.look();
        assert_eq!(starts_at(&mut pace, 0, t0), 1);
        assert_eq!(pace.due(1), None, "no look waits");
        pace.look();
        assert_eq!(pace.due(1), Some(t0 + PATIENCE));
        assert_eq!(pace.due(3), None, "no slot free");
        assert_eq!(starts_at(&mut pace, 1, t0 + PATIENCE), 1);
        pace.look();
        let later = t0 + PATIENCE * 3 / 2;
        assert_eq!(
            starts_at(&mut pace, 2, later),
            0,
            "patience counts from the newest step"
        );
        assert_eq!(starts_at(&mut pace, 2, t0 + PATIENCE * 2), 1);
        pace.look();
        assert_eq!(
            starts_at(&mut pace, 3, t0 + PATIENCE * 9),
            0,
            "never more than the most"
        );
    }

    #[test]
    fn a_full_claim_fills_every_slot_and_never_more() {
        let mut pace = Pace::new(4);
        pace.finished(&step(100, true), 0);
        assert_eq!(starts(&mut pace, 0), 4);
        pace.finished(&step(100, true), 3);
        assert_eq!(starts(&mut pace, 3), 1);
    }

    #[test]
    fn a_step_that_published_looks_again_and_one_that_found_nothing_stops() {
        let mut pace = Pace::new(3);
        pace.finished(&step(5, false), 0);
        assert_eq!(starts(&mut pace, 0), 1);
        pace.finished(&step(0, false), 0);
        assert_eq!(starts(&mut pace, 0), 0);
    }
}
