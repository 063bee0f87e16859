//! Counters of the group-commit path that the bench and operators read: how many commands
//! each commit carried and how many lock rounds were taken. Kept in memory per process,
//! drained by whoever reports them.

use std::sync::Mutex;

/// What the worker did since the last [`GroupStats::take`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFigures {
    /// Commands carried by each committed group, in commit order.
    pub commands_per_commit: Vec<usize>,
    /// Lock rounds taken (a kept lease is not a new round).
    pub lock_rounds: u64,
    /// Units that started on the connection their kept lease's previous unit committed on.
    pub kept_connections: u64,
}

impl GroupFigures {
    pub fn mean_per_commit(&self) -> f64 {
        let n = self.commands_per_commit.len();
        match n {
            0 => 0.0,
            _ => self.commands_per_commit.iter().sum::<usize>() as f64 / n as f64,
        }
    }

    /// The 99th percentile of commands per commit (nearest rank).
    pub fn p99_per_commit(&self) -> usize {
        let mut sizes = self.commands_per_commit.clone();
        sizes.sort_unstable();
        match sizes.len() {
            0 => 0,
            n => sizes[((n * 99).div_ceil(100)).clamp(1, n) - 1],
        }
    }
}

/// Shared by every group of one worker process.
#[derive(Debug, Default)]
pub struct GroupStats {
    figures: Mutex<GroupFigures>,
}

impl GroupStats {
    pub fn committed(&self, commands: usize) {
        self.lock().commands_per_commit.push(commands);
    }

    pub fn lock_round(&self) {
        self.lock().lock_rounds += 1;
    }

    pub fn kept_connection(&self) {
        self.lock().kept_connections += 1;
    }

    /// Everything recorded so far; the counters start again from zero.
    pub fn take(&self) -> GroupFigures {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GroupFigures> {
        self.figures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_report_mean_and_p99_per_commit_and_start_again_after_take() {
        let stats = GroupStats::default();
        for n in 1..=100 {
            stats.committed(n);
        }
        stats.lock_round();
        stats.kept_connection();
        let figures = stats.take();
        assert_eq!(figures.lock_rounds, 1);
        assert_eq!(figures.kept_connections, 1);
        assert!((figures.mean_per_commit() - 50.5).abs() < 1e-9);
        assert_eq!(figures.p99_per_commit(), 99);
        assert_eq!(stats.take(), GroupFigures::default());
    }
}
