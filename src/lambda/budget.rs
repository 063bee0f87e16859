//! The start-up check that a function's timeout leaves room for the worker's own retries.
//! A unit that may legitimately retry for longer than the function runs would be cut off
//! by the timeout in the normal course of contention, and every cut spends a receive.
//!
//! Lambda tells the function its timeout only per invocation (the context's deadline), so
//! the bootstrap reads it at start from `FULFIL_LAMBDA_TIMEOUT_SECONDS`, which Terraform
//! sets from `lambda_timeout_seconds`: a wrong pair is refused before the first event, not
//! discovered in the DLQ. Unset (a function deployed by other means), the check is skipped
//! with a warning; each invocation still answers before its own deadline.

use std::time::Duration;

use crate::config::ConfigError;

use super::REPORT_MARGIN;

/// The setting the function timeout is read from.
pub const TIMEOUT_SETTING: &str = "FULFIL_LAMBDA_TIMEOUT_SECONDS";

/// What one unit of the worker may spend on its commands before it gives them back, at
/// worst: each attempt may wait a full round for its locks (`FULFIL_LOCK_WAIT_MS`) and then
/// run its transaction to the deadline (the lock lease, `FULFIL_LOCK_LEASE_MS`) before a
/// stale read, a lost lock or a write conflict sends it round again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    pub attempts: u32,
    pub lock_wait: Duration,
    pub transaction_deadline: Duration,
}

impl RetryBudget {
    pub fn worst_case(&self) -> Duration {
        let attempt = self.lock_wait.saturating_add(self.transaction_deadline);
        attempt.saturating_mul(self.attempts)
    }

    /// The shortest function timeout, in whole seconds, that holds the worst case and the
    /// margin kept to report.
    pub fn shortest_timeout_secs(&self) -> u64 {
        let needed = self.worst_case().saturating_add(REPORT_MARGIN);
        needed
            .as_secs()
            .saturating_add(u64::from(needed.subsec_nanos() > 0))
    }
}

/// `FULFIL_LAMBDA_TIMEOUT_SECONDS` as given (`None`: unset).
///
/// # Errors
/// A value that is not a whole number of seconds from 1 to 900 (Lambda's range).
pub fn function_timeout(value: Option<&str>) -> Result<Option<Duration>, ConfigError> {
    let Some(value) = value else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(secs @ 1..=900) => Ok(Some(Duration::from_secs(secs))),
        _ => Err(ConfigError {
            setting: TIMEOUT_SETTING,
            value: value.to_owned(),
            reason: "must be the function's timeout in whole seconds, 1 to 900".into(),
        }),
    }
}

/// Refuses a function timeout shorter than `budget`'s worst case plus the margin to report.
///
/// # Errors
/// Naming the timeout, the lock wait and the lease with their values, and the least
/// timeout that would do.
pub fn check(budget: &RetryBudget, timeout: Duration) -> Result<(), ConfigError> {
    let shortest = budget.shortest_timeout_secs();
    if timeout >= Duration::from_secs(shortest) {
        return Ok(());
    }
    Err(ConfigError {
        setting: TIMEOUT_SETTING,
        value: timeout.as_secs().to_string(),
        reason: format!(
            "is shorter than the worker's worst-case retry budget, {} attempts x \
             (FULFIL_LOCK_WAIT_MS = {} + FULFIL_LOCK_LEASE_MS = {}, the transaction deadline) \
             = {:?}, plus {:?} to report: raise the function timeout (Terraform: \
             lambda_timeout_seconds) to at least {shortest}, or lower FULFIL_LOCK_WAIT_MS or \
             FULFIL_LOCK_LEASE_MS",
            budget.attempts,
            budget.lock_wait.as_millis(),
            budget.transaction_deadline.as_millis(),
            budget.worst_case(),
            REPORT_MARGIN,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worker's defaults: 8 attempts, 2 s lock wait, 5 s lease.
    fn defaults() -> RetryBudget {
        RetryBudget {
            attempts: 8,
            lock_wait: Duration::from_secs(2),
            transaction_deadline: Duration::from_secs(5),
        }
    }

    #[test]
    fn given_the_defaults_the_worst_case_is_56_s_and_a_timeout_needs_58() {
        assert_eq!(defaults().worst_case(), Duration::from_secs(56));
        assert_eq!(defaults().shortest_timeout_secs(), 58);
    }

    #[test]
    fn given_the_old_5_s_timeout_when_checked_then_refused_naming_both_settings_and_values() {
        let refused = check(&defaults(), Duration::from_secs(5)).unwrap_err();

        assert_eq!(refused.setting, "FULFIL_LAMBDA_TIMEOUT_SECONDS");
        assert_eq!(refused.value, "5");
        let message = refused.to_string();
        for part in [
            "FULFIL_LAMBDA_TIMEOUT_SECONDS: \"5\"",
            "FULFIL_LOCK_WAIT_MS = 2000",
            "FULFIL_LOCK_LEASE_MS = 5000",
            "8 attempts",
            "at least 58",
        ] {
            assert!(message.contains(part), "{part:?} missing from: {message}");
        }
    }

    #[test]
    fn given_a_timeout_that_holds_the_budget_and_the_margin_when_checked_then_accepted() {
        assert!(check(&defaults(), Duration::from_secs(58)).is_ok());
        assert!(check(&defaults(), Duration::from_secs(60)).is_ok());
        assert!(check(&defaults(), Duration::from_secs(57)).is_err());
    }

    #[test]
    fn a_fraction_of_a_second_rounds_the_shortest_timeout_up() {
        let budget = RetryBudget {
            attempts: 3,
            lock_wait: Duration::from_millis(500),
            transaction_deadline: Duration::from_millis(1200),
        };
        assert_eq!(budget.shortest_timeout_secs(), 8); // 5.1 s + 2 s
    }

    #[test]
    fn the_timeout_setting_is_whole_seconds_within_lambdas_range_or_unset() {
        assert_eq!(function_timeout(None), Ok(None));
        assert_eq!(
            function_timeout(Some("60")),
            Ok(Some(Duration::from_secs(60)))
        );
        for bad in ["0", "901", "1.5", "sixty", ""] {
            let err = function_timeout(Some(bad)).unwrap_err();
            assert_eq!(err.setting, TIMEOUT_SETTING, "{bad:?}");
        }
    }
}
