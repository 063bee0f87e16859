//! No output of `fulfil` shows a database or Redis password: not `--help` (whose defaults
//! come from the environment), not a start-up error about a URL that does not parse, not a
//! connection error. The password holds every character with a meaning in a URL, between
//! two markers, so a leak of any part of it shows.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use fulfil::db::Database;

use crate::harness;

const PASSWORD: &str = "Zq9:/?#[]@!$&'()*+,;=% \"<>\\^`{|}~Wk7";

fn leaks(text: &str) -> bool {
    text.contains("Zq9") || text.contains("Wk7")
}

fn percent_encoded(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Where a setting points: the real service, or a closed port with a password in its URL.
#[derive(Clone, Copy)]
enum To<'a> {
    Real,
    Nothing(&'a str),
}

/// `fulfil ARGS` with the databases and Redis as given, bounded by a deadline.
fn fulfil(args: &[&str], db: To, redis: To) -> Output {
    program(env!("CARGO_BIN_EXE_fulfil").as_ref(), args, db, redis)
}

/// `exe ARGS` (fulfil or one of its tools), the same way.
fn program(exe: &std::path::Path, args: &[&str], db: To, redis: To) -> Output {
    let pg = match db {
        To::Real => harness::database_url(Database::Write),
        To::Nothing(password) => format!("postgres://fulfil:{password}@127.0.0.1:1/fulfil"),
    };
    let redis = match redis {
        To::Real => harness::redis_url(),
        To::Nothing(password) => format!("redis://default:{password}@127.0.0.1:1/0"),
    };
    let child = Command::new(exe)
        .args(args)
        .env("FULFIL_WRITE_DATABASE_URL", &pg)
        .env("FULFIL_READ_DATABASE_URL", &pg)
        .env("FULFIL_REDIS_URL", &redis)
        .env("FULFIL_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fulfil");
    finish_within(child, Duration::from_secs(30))
}

/// The process's output once it exits; killed (and then failing the test) at the deadline.
fn finish_within(mut child: Child, deadline: Duration) -> Output {
    let until = Instant::now() + deadline;
    while child.try_wait().expect("poll fulfil").is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect fulfil");
            panic!("fulfil still ran after {deadline:?}:\n{}", all_output(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("collect fulfil")
}

fn all_output(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn help_never_shows_a_url_from_the_environment() {
    for role in ["worker", "relay", "projector", "api", "run", "verify"] {
        let out = fulfil(
            &[role, "--help"],
            To::Nothing(PASSWORD),
            To::Nothing(PASSWORD),
        );
        let text = all_output(&out);
        assert!(out.status.success(), "{role} --help: {text}");
        assert!(!leaks(&text), "{role} --help shows the password:\n{text}");
        assert!(
            text.contains("FULFIL_"),
            "{role} --help names its variables"
        );
    }
}

#[test]
fn no_tool_help_shows_a_url_from_the_environment() {
    for tool in ["fulfil-bench", "fulfil-check", "fulfil-demo"] {
        let out = program(
            &harness::tool(tool),
            &["--help"],
            To::Nothing(PASSWORD),
            To::Nothing(PASSWORD),
        );
        let text = all_output(&out);
        assert!(out.status.success(), "{tool} --help: {text}");
        assert!(!leaks(&text), "{tool} --help shows the password:\n{text}");
        assert!(
            text.contains("FULFIL_"),
            "{tool} --help names its variables"
        );
    }
}

#[test]
fn a_url_whose_password_breaks_parsing_is_refused_naming_the_setting_not_the_password() {
    let out = fulfil(&["worker"], To::Nothing(PASSWORD), To::Real);
    let text = all_output(&out);
    assert!(!out.status.success(), "{text}");
    assert!(!leaks(&text), "{text}");
    assert!(text.contains("FULFIL_WRITE_DATABASE_URL"), "{text}");
    assert!(text.contains("127.0.0.1:1"), "the host is shown: {text}");
    assert!(text.contains("percent-encoded"), "the fix is named: {text}");
}

#[test]
fn an_encoded_password_is_used_and_never_shown_when_the_database_is_not_there() {
    let encoded = percent_encoded(PASSWORD);
    let out = fulfil(&["verify"], To::Nothing(&encoded), To::Real);
    let text = all_output(&out);
    assert!(!out.status.success(), "{text}");
    assert!(!leaks(&text), "{text}");
    assert!(
        text.contains(
            "cannot connect to the write database at postgres://fulfil:***@127.0.0.1:1/fulfil"
        ),
        "{text}"
    );
}

#[test]
fn an_encoded_redis_password_is_never_shown_when_redis_is_not_there() {
    let encoded = percent_encoded(PASSWORD);
    let out = fulfil(&["worker"], To::Real, To::Nothing(&encoded));
    let text = all_output(&out);
    assert!(!out.status.success(), "{text}");
    assert!(!leaks(&text), "{text}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
}
