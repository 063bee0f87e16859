//! Named failpoints for the fault tests: the `fail` crate behind the `failpoints` feature.
//! Without the feature every function here is an inlined no-op, so release builds carry none.
//!
//! A process takes its failpoints from `FAILPOINTS` (the fail crate's variable) or
//! `FAIL_POINTS`, as `name=actions;name=actions`, e.g.
//! `worker::before_commit=return(crash)` or `consumer::before_delete=10%return(error)`.
//! Every action of the fail crate works (`sleep(ms)`, `panic`, `pause`, `N%…`, `N*…`, `->`);
//! `return` says what the step does:
//! - `return(crash)`: the process aborts right there, as kill -9 would at that exact step;
//! - `return(error)` or a bare `return`: the step fails as a transient error.
//!
//! The sites: `worker::after_receive`, `worker::after_lock`, `worker::before_commit`,
//! `worker::after_commit_before_cache`, `worker::before_unlock`, `consumer::before_delete`,
//! `relay::after_publish_before_mark`, `worker::poison` (see `worker`),
//! `consumer::slow_heartbeat` (`return(MS)`: one visibility extension sent MS ms late) and
//! `consumer::hang_batch` (`return`: every handler call hangs until the processing deadline;
//! `return(MS)`: each is MS ms late). Three switches turn
//! on deliberately broken behaviour, only so the suite can prove it would notice:
//! `worker::bug_release_lock_before_commit`, `worker::bug_skip_inbox_check` and
//! `worker::bug_cancel_before_order_fails` (see `worker::bugs`).

/// A failpoint made its step fail; callers turn it into their transient error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failpoint {name}: injected error")]
pub struct Injected {
    pub name: &'static str,
}

/// What a `return(arg)` asks of the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Crash,
    Error,
}

impl Action {
    /// `crash` aborts; anything else (none, `error`, an unknown word) is an error, the
    /// harmless reading of a typo.
    pub fn from_arg(arg: Option<&str>) -> Action {
        match arg.map(str::trim) {
            Some("crash") => Action::Crash,
            _ => Action::Error,
        }
    }
}

/// One `name=actions` pair per non-empty `;`-separated entry of a failpoint spec.
pub fn parse_spec(spec: &str) -> Result<Vec<(&str, &str)>, String> {
    spec.split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.split_once('=') {
            Some((name, actions)) if !name.trim().is_empty() => Ok((name.trim(), actions.trim())),
            _ => Err(format!("failpoint entry {entry:?} is not name=actions")),
        })
        .collect()
}

#[cfg(feature = "failpoints")]
mod active {
    use super::{parse_spec, Action, Injected};

    /// Evaluates the failpoint `name` at its step.
    pub fn step(name: &'static str) -> Result<(), Injected> {
        match fail::eval(name, |arg| Action::from_arg(arg.as_deref())) {
            None => Ok(()),
            Some(Action::Crash) => {
                tracing::error!(failpoint = name, "failpoint {name}: crash (abort)");
                eprintln!("failpoint {name}: crash (abort)");
                std::process::abort()
            }
            Some(Action::Error) => {
                tracing::warn!(failpoint = name, "failpoint {name}: injected error");
                Err(Injected { name })
            }
        }
    }

    /// Whether the switch `name` is on (configured with `return`).
    pub fn bug(name: &'static str) -> bool {
        fail::eval(name, |_| ()).is_some()
    }

    /// The value of `return(value)` at `name`, if configured.
    pub fn value(name: &'static str) -> Option<String> {
        fail::eval(name, Option::unwrap_or_default)
    }

    /// Reads `FAILPOINTS` and `FAIL_POINTS`; keep the guard for the life of the process.
    pub fn setup() -> Result<fail::FailScenario<'static>, String> {
        let scenario = fail::FailScenario::setup();
        if let Ok(spec) = std::env::var("FAIL_POINTS") {
            for (name, actions) in parse_spec(&spec)? {
                fail::cfg(name, actions).map_err(|e| format!("failpoint {name}: {e}"))?;
            }
        }
        let active = fail::list();
        if !active.is_empty() {
            tracing::warn!(?active, "failpoints configured");
        }
        Ok(scenario)
    }
}

#[cfg(not(feature = "failpoints"))]
mod active {
    use super::Injected;

    #[inline(always)]
    pub fn step(_name: &'static str) -> Result<(), Injected> {
        Ok(())
    }

    #[inline(always)]
    pub fn bug(_name: &'static str) -> bool {
        false
    }

    #[inline(always)]
    pub fn value(_name: &'static str) -> Option<String> {
        None
    }

    /// What `setup` hands back without the feature: nothing to keep, kept all the same.
    pub struct Inert;

    pub fn setup() -> Result<Inert, String> {
        Ok(Inert)
    }
}

pub use active::{bug, setup, step, value};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_is_the_only_argument_that_aborts() {
        assert_eq!(Action::from_arg(Some("crash")), Action::Crash);
        assert_eq!(Action::from_arg(Some(" crash ")), Action::Crash);
        for arg in [None, Some("error"), Some(""), Some("crsh")] {
            assert_eq!(Action::from_arg(arg), Action::Error, "{arg:?}");
        }
    }

    #[test]
    fn a_spec_is_split_into_names_and_actions() {
        let spec = "worker::before_commit=return(crash); consumer::before_delete=10%return;;";
        assert_eq!(
            parse_spec(spec).unwrap(),
            vec![
                ("worker::before_commit", "return(crash)"),
                ("consumer::before_delete", "10%return"),
            ]
        );
        assert!(parse_spec("worker::after_lock").is_err());
        assert!(parse_spec("=return").is_err());
    }

    #[cfg(feature = "failpoints")]
    #[test]
    fn an_error_action_fails_the_step_and_an_unconfigured_point_passes() {
        let name = "test::failpoint_error";
        assert_eq!(step(name), Ok(()));
        fail::cfg(name, "1*return(error)").unwrap();
        assert_eq!(step(name), Err(Injected { name }));
        assert_eq!(step(name), Ok(()), "a count of 1 fires once");
        fail::remove(name);
    }

    #[cfg(feature = "failpoints")]
    #[test]
    fn a_switch_is_on_only_while_configured() {
        let name = "test::bug_switch";
        assert!(!bug(name));
        fail::cfg(name, "return").unwrap();
        assert!(bug(name));
        fail::remove(name);
        assert!(!bug(name));
    }
}
