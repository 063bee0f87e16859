//! Where the `fulfil` executable is, for every tool that starts it as a process (the demo,
//! the bench, the soak, the integration tests): one rule, so they all run the same build;
//! and the one way tests start a long-running role and stop it ([`RoleProcess`]).

use std::fs::OpenOptions;
use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use tokio::time::Instant;

/// How long a started process has to log that it is ready.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The `fulfil` executable: `FULFIL_BIN` when set, else [`binary`]`("fulfil")`.
pub fn fulfil_binary() -> io::Result<PathBuf> {
    match std::env::var_os("FULFIL_BIN") {
        Some(path) => Ok(PathBuf::from(path)),
        None => binary("fulfil"),
    }
}

/// A workspace executable (`fulfil`, `fulfil-check`, ...) beside the running one, or in its
/// parent directory (where test binaries in `deps/` find it).
pub fn binary(name: &str) -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    [dir.join(name), dir.join("..").join(name)]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            let why = format!(
                "no {name} executable beside {} (build it: ./dev build, or cargo build --workspace)",
                exe.display()
            );
            io::Error::new(io::ErrorKind::NotFound, why)
        })
}

/// Why a started process is not doing what the caller waits for. Its `Debug` is its
/// message, so a test's `.expect(...)` shows the log with its line breaks.
#[derive(thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start {name}: {source}")]
    Start { name: String, source: io::Error },
    #[error("{name} exited ({status}) before logging {marker:?}; its log:\n{log}")]
    Exited {
        name: String,
        status: ExitStatus,
        marker: String,
        log: String,
    },
    #[error("{name} did not {what} within {within:?}; its log:\n{log}")]
    Timeout {
        name: String,
        what: String,
        within: Duration,
        log: String,
    },
}

impl std::fmt::Debug for ProcessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A `fulfil` role (or any long-running tool) started by a test, the bench or the demo: its
/// output goes to a log file of its own, it is found by its pid, and it is killed when
/// dropped, so nothing outlives what started it. The one process starter of the tools.
pub struct RoleProcess {
    name: String,
    child: Child,
    pub log_path: PathBuf,
}

impl RoleProcess {
    /// Starts `command` (its arguments and environment already set), stdout and stderr into
    /// a fresh log file in the temporary directory named after `name`.
    pub fn spawn(command: Command, name: &str) -> Result<RoleProcess, ProcessError> {
        let file = format!("{name}-{}.log", uuid::Uuid::new_v4().simple());
        Self::spawn_logging_to(command, name, std::env::temp_dir().join(file))
    }

    /// [`RoleProcess::spawn`] with output appended to `log_path` (a restarted process
    /// continues its predecessor's log).
    pub fn spawn_logging_to(
        mut command: Command,
        name: &str,
        log_path: PathBuf,
    ) -> Result<RoleProcess, ProcessError> {
        let start = |source| ProcessError::Start {
            name: name.to_owned(),
            source,
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(start)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(start)?)
            .stderr(log)
            .spawn()
            .map_err(start)?;
        let name = name.to_owned();
        Ok(RoleProcess {
            name,
            child,
            log_path,
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends `kill -NAME` (TERM, KILL, STOP, CONT, ...); panics if `kill` refuses.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} {}", self.child.id());
    }

    /// Waits up to 30 s until a log line contains `marker` and returns that line.
    pub async fn wait_logged(&mut self, marker: &str) -> Result<String, ProcessError> {
        let until = Instant::now() + READY_WITHIN;
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains(marker)) {
                return Ok(line.to_owned());
            }
            if let Some(status) = self.try_wait() {
                let (name, marker) = (self.name.clone(), marker.to_owned());
                return Err(ProcessError::Exited {
                    name,
                    status,
                    marker,
                    log,
                });
            }
            if Instant::now() >= until {
                return Err(self.timeout(format!("log {marker:?}"), READY_WITHIN));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The value of `key=` on the first line holding `marker` (e.g. the ops address from
    /// the start line), once it is logged; panics if that line has no such field.
    pub async fn logged_field(&mut self, marker: &str, key: &str) -> Result<String, ProcessError> {
        let line = self.wait_logged(marker).await?;
        let prefix = format!("{key}=");
        let value = line
            .split_whitespace()
            .find_map(|word| word.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {key}= on the line {line:?}"));
        Ok(value.trim_matches('"').to_owned())
    }

    /// Waits for the process to exit, at most `deadline`; returns its exit status.
    pub async fn wait_exit(&mut self, deadline: Duration) -> Result<ExitStatus, ProcessError> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.try_wait() {
                return Ok(status);
            }
            if Instant::now() >= until {
                return Err(self.timeout("exit".into(), deadline));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM (the role's graceful drain), SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.id().to_string()])
            .status();
        if self.wait_exit(grace).await.is_err() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn timeout(&self, what: String, within: Duration) -> ProcessError {
        let (name, log) = (self.name.clone(), self.log());
        ProcessError::Timeout {
            name,
            what,
            within,
            log,
        }
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
