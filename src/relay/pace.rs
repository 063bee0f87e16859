//! When a relay starts its next step. One step at a time while the outbox trickles: rows
//! that commit while a step publishes wait for it and go out together in the next one, so
//! calls fill up as the rate grows (each `PublishBatch` costs about the same whether it
//! carries one event or ten, on SNS and even more on LocalStack, whose FIFO topics deliver
//! on one thread each). When a claim comes back full there is a backlog: then several steps
//! run side by side (each its own claim, so they share the outbox as separate relays
//! would) and keep calls in flight while another step claims or marks. This is the pure
//! rule the loop in `run::relay` follows, so it is tested without a database or SNS.

use super::RelayStep;

/// What the relay wants started, and the most steps that may run at once.
#[derive(Debug, Clone)]
pub struct Pace {
    most: usize,
    /// A look is due: one step, once none runs.
    look: bool,
    /// Steps wanted beside the running ones, for a backlog.
    extra: usize,
}

impl Pace {
    /// At least one step may run.
    pub fn new(most_in_flight: usize) -> Self {
        Self {
            most: most_in_flight.max(1),
            look: false,
            extra: 0,
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

    /// Whether to start a step now with `in_flight` running; if so it counts as started.
    pub fn start(&mut self, in_flight: usize) -> bool {
        if in_flight >= self.most {
            return false;
        }
        if self.extra > 0 {
            self.extra -= 1;
            self.look = false;
            return true;
        }
        if self.look && in_flight == 0 {
            self.look = false;
            return true;
        }
        false
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

    fn starts(pace: &mut Pace, mut in_flight: usize) -> usize {
        let before = in_flight;
        while pace.start(in_flight) {
            in_flight += 1;
        }
        in_flight - before
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
        let mut pace = Pace::new(4);
        pace.look();
        assert_eq!(
            starts(&mut pace, 1),
            0,
            "rows gather behind the running step"
        );
        assert_eq!(starts(&mut pace, 0), 1);
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
