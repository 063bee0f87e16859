//! `fulfil` role processes started by the bench (the binary next to the bench's own, or
//! FULFIL_BIN), logging to a temporary file, stopped by their own pid. Their peak memory is
//! read from `/proc/<pid>/status` while they still run.

use std::process::Command;
use std::time::Duration;

use fulfil_testkit::process::{ProcessError, RoleProcess as Process};

use super::BenchError;

/// A role process of the bench: the testkit's one starter, plus what only the bench reads.
pub(super) struct RoleProcess(fulfil_testkit::process::RoleProcess);

/// How long a role has to drain after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(15);

impl RoleProcess {
    /// Starts `fulfil <args>` with `env` added, and waits for `ready` in its log.
    pub(super) async fn start(
        args: &[&str],
        env: &[(&str, String)],
        ready: &str,
    ) -> Result<Self, BenchError> {
        let mut process = Self::spawn(args, env)?;
        process.ready(args, ready).await?;
        Ok(process)
    }

    /// Starts `fulfil <args>` with `env` added, without waiting for it.
    pub(super) fn spawn(args: &[&str], env: &[(&str, String)]) -> Result<Self, BenchError> {
        let binary = fulfil_testkit::process::fulfil_binary()
            .map_err(BenchError::io("find the fulfil binary"))?;
        let mut command = Command::new(binary);
        command
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let name = format!("fulfil-bench-{}", args[0]);
        Ok(Self(Process::spawn(command, &name).map_err(started(args))?))
    }

    /// Waits for `ready` in the log of the process started with `args`.
    pub(super) async fn ready(&mut self, args: &[&str], ready: &str) -> Result<(), BenchError> {
        self.0.wait_logged(ready).await.map_err(started(args))?;
        Ok(())
    }

    pub(super) fn log(&self) -> String {
        self.0.log()
    }

    pub(super) fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Peak resident set size (`VmHWM`) in KiB, while the process runs.
    pub(super) fn peak_rss_kib(&self) -> Result<u64, BenchError> {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            std::fs::read_to_string(&path).map_err(BenchError::io(format!("read {path}")))?;
        vm_hwm_kib(&status).ok_or_else(|| BenchError::Io {
            what: format!("no VmHWM line in {path}"),
            source: std::io::ErrorKind::InvalidData.into(),
        })
    }

    /// SIGTERM (its graceful drain), SIGKILL after 15 s. The log goes too, unless
    /// FULFIL_BENCH_KEEP_LOGS is set (then its path is printed).
    pub(super) async fn stop(self) {
        let log_path = self.0.log_path.clone();
        self.0.stop(GRACE).await;
        match std::env::var_os("FULFIL_BENCH_KEEP_LOGS") {
            Some(_) => eprintln!("kept {}", log_path.display()),
            None => {
                let _ = std::fs::remove_file(&log_path);
            }
        }
    }
}

/// A role that did not start, as the bench reports it.
fn started<'a>(args: &'a [&'a str]) -> impl FnOnce(ProcessError) -> BenchError + 'a {
    move |e| BenchError::Worker(format!("fulfil {}: {e}", args.join(" ")))
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn vm_hwm_is_read_in_kib() {
        let status =
            "Name:\tfulfil\nVmPeak:\t  900000 kB\nVmHWM:\t   23456 kB\nVmRSS:\t 20000 kB\n";
        assert_eq!(super::vm_hwm_kib(status), Some(23456));
        assert_eq!(super::vm_hwm_kib("Name: x\n"), None);
    }
}
