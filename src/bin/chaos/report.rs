//! The soak's report, in the spirit of Jepsen's: what was done to the system, what it was
//! asked to do, and whether it kept its promises.

use std::fmt;

use fulfil::check::drain::Drained;
use fulfil::check::CheckReport;

use crate::faults::Injected;
use crate::procs::Seen;

pub struct Soak {
    pub seed: u64,
    pub minutes: f64,
    pub fifo: bool,
    pub injected: Injected,
    pub seen: Seen,
    pub drained: Drained,
    pub check: CheckReport,
}

impl Soak {
    pub fn faults(&self) -> usize {
        self.injected.values().sum()
    }

    /// Nothing broken, and the pipeline drained.
    pub fn is_clean(&self) -> bool {
        self.check.is_clean() && self.drained.complete
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
        writeln!(f, "faults injected: {} in all", self.faults())?;
        for (kind, n) in &self.injected {
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
        for v in c.violations.iter().take(25) {
            writeln!(f, "VIOLATION {}: {}", v.invariant, v.detail)?;
        }
        f.write_str(match self.is_clean() {
            true => "RESULT: every invariant held",
            false => "RESULT: BROKEN",
        })
    }
}
