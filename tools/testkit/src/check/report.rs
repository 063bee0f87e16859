//! What the checker counted and found, said the way an operator reads it; `Display` is the
//! report `fulfil-check` and the chaos soak print, the JSON form is for machines.

use serde::Serialize;

use super::DeadLetter;

/// Violations (and dead letters) listed one per line before the rest are summed up.
const SHOWN_VIOLATIONS: usize = 25;

/// One broken promise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

/// Everything the checker counted and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Bodies published, repeats included.
    pub published: usize,
    pub applied: usize,
    pub rejected: usize,
    pub invalid: usize,
    pub conflicts: usize,
    /// Distinct bodies found in the commands DLQ.
    pub in_dlq: usize,
    /// Messages found in the projector DLQ (each one a violation).
    pub in_projector_dlq: usize,
    /// Publications of a body beyond its first.
    pub duplicates: usize,
    pub lost: usize,
    pub unexpected: usize,
    pub oversold: usize,
    pub read_model_differences: usize,
    /// Every message found in either DLQ, with whether it may be there.
    pub dead_letters: Vec<DeadLetter>,
    pub violations: Vec<Violation>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn violation(&mut self, invariant: &'static str, detail: impl Into<String>) {
        self.violations.push(Violation {
            invariant,
            detail: detail.into(),
        });
    }

    /// Whether some violation concerns `invariant`.
    pub fn broke(&self, invariant: &str) -> bool {
        self.violations.iter().any(|v| v.invariant == invariant)
    }

    /// What the DLQs hold, one line each (up to a limit), for the reports.
    pub fn write_dead_letters(&self, f: &mut impl std::fmt::Write) -> std::fmt::Result {
        if self.dead_letters.is_empty() {
            return writeln!(f, "dead letters: none in either DLQ");
        }
        writeln!(f, "dead letters: {}", self.dead_letters.len())?;
        for found in self.dead_letters.iter().take(SHOWN_VIOLATIONS) {
            writeln!(f, "  {found}")?;
        }
        match self.dead_letters.len().checked_sub(SHOWN_VIOLATIONS) {
            Some(more) if more > 0 => writeln!(f, "  ... and {more} more"),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "published {}  applied {}  rejected {}  invalid {}  conflicts {}  in DLQ {}  duplicates absorbed {}",
            self.published, self.applied, self.rejected, self.invalid, self.conflicts, self.in_dlq, self.duplicates
        )?;
        writeln!(
            f,
            "lost {}  unexpected {}  oversold {}  read-model differences {}  projector DLQ {}",
            self.lost,
            self.unexpected,
            self.oversold,
            self.read_model_differences,
            self.in_projector_dlq
        )?;
        self.write_dead_letters(f)?;
        for v in self.violations.iter().take(SHOWN_VIOLATIONS) {
            writeln!(f, "VIOLATION {}: {}", v.invariant, v.detail)?;
        }
        if let Some(more) = self.violations.len().checked_sub(SHOWN_VIOLATIONS) {
            if more > 0 {
                writeln!(f, "... and {more} more violations")?;
            }
        }
        f.write_str(match self.is_clean() {
            true => "all invariants hold",
            false => "INVARIANTS BROKEN",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_without_violations_is_clean_and_says_so() {
        let report = CheckReport {
            published: 3,
            applied: 2,
            duplicates: 1,
            ..CheckReport::default()
        };
        let text = report.to_string();
        assert!(report.is_clean());
        assert!(text.contains("published 3  applied 2"), "{text}");
        assert!(text.ends_with("all invariants hold"), "{text}");
    }

    #[test]
    fn many_violations_are_listed_up_to_a_limit_then_counted() {
        let mut report = CheckReport::default();
        for i in 0..30 {
            report.violation("nothing lost", format!("command c-{i}"));
        }
        let text = report.to_string();
        assert!(!report.is_clean() && report.broke("nothing lost"));
        assert_eq!(text.matches("VIOLATION").count(), SHOWN_VIOLATIONS);
        assert!(text.contains("... and 5 more violations"), "{text}");
        assert!(text.ends_with("INVARIANTS BROKEN"), "{text}");
    }

    #[test]
    fn the_report_lists_each_dead_letter_and_says_when_there_is_none() {
        let mut report = CheckReport::default();
        assert!(report
            .to_string()
            .contains("dead letters: none in either DLQ"));
        report.dead_letters.push(DeadLetter {
            queue: crate::check::dead_letters::Dlq::Commands,
            message_id: "m-1".into(),
            id: Some("c-1".into()),
            kind: Some("PlaceOrder".into()),
            violation: true,
            why: "a valid command nobody planted".into(),
        });
        let text = report.to_string();
        assert!(text.contains("dead letters: 1\n"), "{text}");
        assert!(
            text.contains("commands DLQ message m-1: PlaceOrder c-1 [VIOLATION]"),
            "{text}"
        );
    }
}
