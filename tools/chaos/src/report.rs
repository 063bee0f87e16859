//! The soak's report, in the spirit of Jepsen's: what was done to the system, what it was
//! asked to do, and whether it kept its promises.

use std::fmt;

use fulfil_testkit::check::drain::Drained;
use fulfil_testkit::check::CheckReport;

use crate::faults::Injected;
use crate::procs::Seen;
use crate::schedule::Minimum;

pub struct Soak {
    pub seed: u64,
    pub minutes: f64,
    pub fifo: bool,
    /// Faults and kinds the soak had to inject (`--min-faults`, `--min-kinds`).
    pub minimum: Minimum,
    pub injected: Injected,
    pub seen: Seen,
    pub drained: Drained,
    pub check: CheckReport,
}

impl Soak {
    pub fn faults(&self) -> usize {
        self.injected.total()
    }

    /// Whether the faults injected reach the minimum (at least one in any case: a soak
    /// without a fault proves nothing).
    pub fn faults_enough(&self) -> bool {
        self.faults() > 0
            && self
                .minimum
                .met_by(self.faults(), self.injected.classes.len())
    }

    /// Nothing broken (both DLQs included), the pipeline drained, the faults injected.
    pub fn is_clean(&self) -> bool {
        self.check.is_clean() && self.drained.complete && self.faults_enough()
    }
}

impl fmt::Display for Soak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queues = if self.fifo { "FIFO" } else { "standard" };
        writeln!(
            f,
            "== chaos soak: seed {}, {} min of load and faults, {queues} queues ==",
            self.seed, self.minutes
        )?;
        let (n, kinds, min) = (self.faults(), self.injected.classes.len(), &self.minimum);
        let met = if self.faults_enough() {
            "met"
        } else {
            "NOT MET"
        };
        write!(f, "faults injected: {n} of {kinds} kinds")?;
        match *min == Minimum::default() {
            true => writeln!(f)?,
            false => writeln!(f, " (minimum {} of {} kinds: {met})", min.faults, min.kinds)?,
        }
        for (kind, n) in &self.injected.by_kind {
            writeln!(f, "  {n:>5}  {kind}")?;
        }
        writeln!(
            f,
            "processes started {}, aborted at a failpoint {}, other exits {}",
            self.seen.starts, self.seen.failpoint_crashes, self.seen.other_exits
        )?;
        let c = &self.check;
        let distinct = c.published - c.duplicates;
        writeln!(f, "commands published {} ({distinct} distinct), applied {}, rejected {}, invalid {}, conflicts {}, in DLQ {}",
            c.published, c.applied, c.rejected, c.invalid, c.conflicts, c.in_dlq)?;
        writeln!(f, "duplicates absorbed {}", c.duplicates)?;
        writeln!(
            f,
            "lost {}  unexpected {}  oversold {}  read-model differences {}  projector DLQ {}",
            c.lost, c.unexpected, c.oversold, c.read_model_differences, c.in_projector_dlq
        )?;
        let drain = match self.drained.complete {
            true => "drained".to_owned(),
            false => format!("NOT drained, still in flight: {:?}", self.drained.last),
        };
        writeln!(
            f,
            "time to drain: {:.1} s ({drain})",
            self.drained.waited.as_secs_f64()
        )?;
        c.write_dead_letters(f)?;
        for v in c.violations.iter().take(25) {
            writeln!(f, "VIOLATION {}: {}", v.invariant, v.detail)?;
        }
        f.write_str(match self.is_clean() {
            true => "RESULT: every invariant held",
            false => "RESULT: BROKEN",
        })
    }
}
