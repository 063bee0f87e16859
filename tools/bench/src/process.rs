//! `fulfil` role processes started by the bench (the binary next to the bench's own, or
//! FULFIL_BIN), logging to a temporary file, stopped by their own pid. Their peak memory is
//! read from `/proc/<pid>/status` while they still run.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::BenchError;

pub(super) struct RoleProcess {
    child: Child,
    pub log_path: PathBuf,
}

/// The `fulfil` executable (testkit's one rule: FULFIL_BIN, else beside this executable).
pub(super) fn fulfil_binary() -> Result<PathBuf, BenchError> {
    fulfil_testkit::process::fulfil_binary().map_err(BenchError::io("find the fulfil binary"))
}

impl RoleProcess {
    /// Starts `fulfil <args>` with `env` added, and waits for `ready` in its log.
    pub(super) async fn start(
        args: &[&str],
        env: &[(&str, String)],
        ready: &str,
    ) -> Result<Self, BenchError> {
        let name = format!("fulfil-bench-{}-{}.log", args[0], super::env::short_id());
        let log_path = std::env::temp_dir().join(name);
        let log = std::fs::File::create(&log_path)
            .map_err(BenchError::io(format!("create {}", log_path.display())))?;
        let stderr = log.try_clone().map_err(BenchError::io("log file"))?;
        let child = Command::new(fulfil_binary()?)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(BenchError::io(format!("start fulfil {}", args.join(" "))))?;
        let mut process = Self { child, log_path };
        process.wait_for(ready, Duration::from_secs(30)).await?;
        Ok(process)
    }

    async fn wait_for(&mut self, line: &str, deadline: Duration) -> Result<(), BenchError> {
        let until = tokio::time::Instant::now() + deadline;
        while !self.log().contains(line) {
            let exited = self.child.try_wait().map_err(BenchError::io("try_wait"))?;
            if exited.is_some() || tokio::time::Instant::now() >= until {
                return Err(BenchError::Timeout {
                    what: format!("{line:?} in {}", self.log_path.display()),
                    seconds: deadline.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    pub(super) fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
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
    pub(super) async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let until = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::time::Instant::now() < until {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                match std::env::var_os("FULFIL_BENCH_KEEP_LOGS") {
                    Some(_) => eprintln!("kept {}", self.log_path.display()),
                    None => {
                        let _ = std::fs::remove_file(&self.log_path);
                    }
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RoleProcess {
    /// A bench that fails half-way leaves no process behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
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
