//! For the unit tests: an argument group parsed as a command line would parse it, without a
//! process and without the environment (tests run in parallel; the variables' own path is
//! tested on the built binary, in tests/it/cli.rs), and the flags it declares.

use std::collections::BTreeSet;

use clap::{Args, Command};

/// The group's command, reading no variable; a flag given twice keeps its last value.
fn command<A: Args>() -> Command {
    A::augment_args(Command::new("fulfil-test"))
        .args_override_self(true)
        .mut_args(|arg| arg.env(None))
}

/// `argv` (flags, no program name) parsed into `A`; panics when clap refuses them.
pub(super) fn parse<A: Args>(argv: &[&str]) -> A {
    let argv = std::iter::once("fulfil-test").chain(argv.iter().copied());
    let matches = command::<A>()
        .try_get_matches_from(argv)
        .unwrap_or_else(|e| panic!("the flags parse: {e}"));
    A::from_arg_matches(&matches).expect("the matches fit the group")
}

/// `ENV (--long)`: the flag `long` of `A`, as an error should name it.
pub(super) fn label<A: Args>(long: &str) -> String {
    let group = A::augment_args(Command::new("fulfil-test"));
    let arg = group
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .unwrap_or_else(|| panic!("no --{long}"));
    let env = arg.get_env().expect("every flag reads a variable");
    format!("{} (--{long})", env.to_string_lossy())
}

/// Every long flag `A` declares.
pub(super) fn longs<A: Args>() -> BTreeSet<String> {
    let group = A::augment_args(Command::new("fulfil-test"));
    let longs = group.get_arguments().filter_map(|a| a.get_long());
    longs.map(str::to_owned).collect()
}

/// Every variable `A` reads.
pub(super) fn envs<A: Args>() -> BTreeSet<String> {
    let group = A::augment_args(Command::new("fulfil-test"));
    let envs = group.get_arguments().filter_map(|a| a.get_env());
    envs.map(|e| e.to_string_lossy().into_owned()).collect()
}
