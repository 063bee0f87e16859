//! The soak's `fulfil` processes (two workers, a relay, a projector) and what is done to
//! them: kill -9, SIGSTOP/SIGCONT, a restart with failpoints. A supervisor restarts any that
//! died (a kill, a failpoint crash, a start that failed while PostgreSQL was down), always
//! without failpoints. Touches only the processes it started, by their pid.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fulfil_testkit::process::RoleProcess;

use crate::schedule::Role;

/// How a process is started.
#[derive(Debug, Clone)]
pub struct Launch {
    pub exe: PathBuf,
    pub env: Vec<(String, String)>,
    pub logs: PathBuf,
}

#[derive(Default)]
struct Proc {
    /// The running process; dropping it kills it (kill -9).
    child: Option<RoleProcess>,
    paused: bool,
    failpoints: Option<&'static str>,
    /// When a dead process is started again.
    restart_at: Option<Instant>,
}

/// What the supervisor saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen {
    pub starts: usize,
    /// Exits by SIGABRT: a failpoint's `return(crash)`.
    pub failpoint_crashes: usize,
    /// Other exits the soak did not cause itself (e.g. a start while PostgreSQL was down).
    pub other_exits: usize,
}

#[derive(Clone)]
pub struct Procs {
    launch: Arc<Launch>,
    procs: Arc<Mutex<BTreeMap<Role, Proc>>>,
    seen: Arc<Mutex<Seen>>,
}

impl Procs {
    pub fn start(launch: Launch) -> Procs {
        let procs = Procs {
            launch: Arc::new(launch),
            procs: Arc::default(),
            seen: Arc::default(),
        };
        for role in Role::all() {
            procs.spawn(role, None);
        }
        procs
    }

    fn table(&self) -> MutexGuard<'_, BTreeMap<Role, Proc>> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn seen(&self) -> Seen {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn(&self, role: Role, failpoints: Option<&'static str>) {
        let log = self.launch.logs.join(format!("{role}.log"));
        let command = self.command(role, failpoints);
        let child = RoleProcess::spawn_logging_to(command, &role.to_string(), log);
        let mut table = self.table();
        let proc = table.entry(role).or_default();
        match child {
            Ok(child) => {
                *proc = Proc {
                    child: Some(child),
                    failpoints,
                    ..Proc::default()
                };
                self.seen.lock().unwrap_or_else(|e| e.into_inner()).starts += 1;
            }
            Err(e) => {
                eprintln!("chaos: cannot start {role}: {e}");
                proc.restart_at = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }

    fn command(&self, role: Role, failpoints: Option<&'static str>) -> Command {
        let mut command = Command::new(&self.launch.exe);
        command
            .args([role.command(), "--ops-addr", "127.0.0.1:0"])
            .envs(self.launch.env.iter().map(|(k, v)| (k, v)))
            .env("FAILPOINTS", failpoints.unwrap_or(""));
        command
    }

    /// Sends `signal` to the process of `role`, if it runs.
    fn signal(&self, role: Role, signal: &str) {
        let pid = self
            .table()
            .get(&role)
            .and_then(|p| Some(p.child.as_ref()?.id()));
        if let Some(pid) = pid {
            let _ = Command::new("kill")
                .args([format!("-{signal}"), pid.to_string()])
                .status();
        }
    }

    /// kill -9 now; the supervisor starts it again shortly.
    pub fn kill(&self, role: Role) {
        let mut table = self.table();
        if let Some(proc) = table.get_mut(&role) {
            drop(proc.child.take());
            proc.paused = false;
            proc.restart_at = Some(Instant::now() + Duration::from_millis(500));
        }
    }

    /// SIGSTOP, wait, SIGCONT.
    pub async fn pause(&self, role: Role, lasts: Duration) {
        self.signal(role, "STOP");
        self.set_paused(role, true);
        tokio::time::sleep(lasts).await;
        self.signal(role, "CONT");
        self.set_paused(role, false);
    }

    fn set_paused(&self, role: Role, paused: bool) {
        if let Some(proc) = self.table().get_mut(&role) {
            proc.paused = paused;
        }
    }

    /// kill -9 and start again at once with `spec` as its failpoints.
    pub fn restart_with(&self, role: Role, spec: &'static str) {
        self.kill(role);
        self.spawn(role, Some(spec));
    }

    /// One supervision round: note the dead, start those whose time has come (clean).
    pub fn supervise(&self) {
        let now = Instant::now();
        let mut due = Vec::new();
        for (role, proc) in self.table().iter_mut() {
            if let Some(child) = proc.child.as_mut() {
                if let Some(status) = child.try_wait() {
                    self.note_exit(*role, status);
                    proc.child = None;
                    proc.restart_at = Some(now + Duration::from_secs(1));
                }
            }
            if proc.child.is_none() && proc.restart_at.is_some_and(|at| at <= now) {
                due.push(*role);
            }
        }
        for role in due {
            self.spawn(role, None);
        }
    }

    fn note_exit(&self, role: Role, status: std::process::ExitStatus) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match status.signal() {
            Some(6) => seen.failpoint_crashes += 1,
            _ => {
                seen.other_exits += 1;
                eprintln!("chaos: {role} exited ({status}); starting it again");
            }
        }
    }

    /// Everything running, resumed and without failpoints: what the drain needs.
    pub fn heal(&self) {
        for role in Role::all() {
            self.signal(role, "CONT");
            let (dead, faulty) = {
                let table = self.table();
                let proc = table.get(&role);
                (
                    proc.is_none_or(|p| p.child.is_none()),
                    proc.is_some_and(|p| p.failpoints.is_some()),
                )
            };
            if dead || faulty {
                self.kill(role);
                self.spawn(role, None);
            }
        }
    }

    /// SIGTERM to all, then kill -9 what is still there after `grace`.
    pub async fn stop(&self, grace: Duration) {
        for role in Role::all() {
            self.signal(role, "CONT");
            self.signal(role, "TERM");
        }
        let until = Instant::now() + grace;
        while Instant::now() < until && self.any_running() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for role in Role::all() {
            if let Some(proc) = self.table().get_mut(&role) {
                proc.restart_at = None;
                drop(proc.child.take());
            }
        }
    }

    fn any_running(&self) -> bool {
        self.table()
            .values_mut()
            .any(|p| p.child.as_mut().is_some_and(|c| c.try_wait().is_none()))
    }
}
