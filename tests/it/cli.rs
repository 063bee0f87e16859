//! A bad setting given by its environment variable is refused at start, before any
//! connection (the URLs point at nothing), naming the variable and the flag of the
//! subcommand that read it, with exit code 1 and no password in the output. The flags'
//! own path is unit-tested in src/cli.

use std::process::{Command, Output};

const PASSWORD: &str = "Pw-not-to-show-7";

/// `fulfil SUBCOMMAND` with URLs holding a password, no other FULFIL_* variable but `vars`.
fn fulfil(subcommand: &str, vars: &[(&str, &str)]) -> Output {
    let pg = format!("postgres://fulfil:{PASSWORD}@127.0.0.1:1/fulfil");
    let redis = format!("redis://default:{PASSWORD}@127.0.0.1:1/0");
    let mut command = Command::new(env!("CARGO_BIN_EXE_fulfil"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("FULFIL_")) {
        command.env_remove(name);
    }
    command
        .arg(subcommand)
        .env("FULFIL_WRITE_DATABASE_URL", &pg)
        .env("FULFIL_READ_DATABASE_URL", &pg)
        .env("FULFIL_REDIS_URL", &redis)
        .envs(vars.iter().copied())
        .output()
        .expect("run fulfil")
}

/// Exit code 1 and the error as `main` prints it, naming `setting`; no password anywhere.
fn assert_refused(out: &Output, setting: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    let said = format!("Error: {setting}: ");
    assert!(stderr.contains(&said), "want {said:?} in stderr:\n{stderr}");
    assert!(
        !stderr.contains(PASSWORD) && !stdout.contains(PASSWORD),
        "{stderr}"
    );
}

#[test]
fn fulfil_run_reports_a_bad_relay_variable_under_its_own_flag() {
    let out = fulfil("run", &[("FULFIL_RELAY_POLL_MS", "0")]);
    assert_refused(&out, "FULFIL_RELAY_POLL_MS (--relay-poll-ms)");
}

#[test]
fn fulfil_run_reads_the_relay_batch_from_the_environment() {
    let out = fulfil("run", &[("FULFIL_RELAY_BATCH", "0")]);
    assert_refused(&out, "FULFIL_RELAY_BATCH (--relay-batch)");
}

#[test]
fn fulfil_run_reports_bad_projector_and_api_variables_under_its_own_flags() {
    let out = fulfil("run", &[("FULFIL_PROJECTOR_CONCURRENCY", "0")]);
    assert_refused(
        &out,
        "FULFIL_PROJECTOR_CONCURRENCY (--projector-concurrency)",
    );
    let out = fulfil("run", &[("FULFIL_API_MAX_IN_FLIGHT", "0")]);
    assert_refused(&out, "FULFIL_API_MAX_IN_FLIGHT (--api-max-in-flight)");
}

#[test]
fn fulfil_relay_reports_the_same_variable_under_its_own_flag() {
    let out = fulfil("relay", &[("FULFIL_RELAY_POLL_MS", "0")]);
    assert_refused(&out, "FULFIL_RELAY_POLL_MS (--poll-interval-ms)");
}

#[test]
fn fulfil_worker_reports_a_bad_worker_variable() {
    let out = fulfil("worker", &[("FULFIL_LOCK_LEASE_MS", "0")]);
    assert_refused(&out, "FULFIL_LOCK_LEASE_MS (--lock-lease-ms)");
}
