//! The pipeline's processes for the e2e scenario (workers, relay, projector on one stack)
//! and the scrapes of their `/metrics` that make each rate's profile.

use super::process::RoleProcess;
use super::profile::{ops_addr, Profile, Scrape};
use super::stack::Stack;
use super::BenchError;

/// The pipeline's processes on one stack.
pub(super) struct Roles {
    workers: Vec<RoleProcess>,
    relay: RoleProcess,
    projector: RoleProcess,
}

/// One scrape of each kind of role.
pub(super) struct Scrapes {
    relay: Scrape,
    projector: Scrape,
    workers: Scrape,
}

impl Scrapes {
    pub(super) fn since(&self, earlier: &Scrapes) -> Profile {
        Profile::from(
            &self.relay.since(&earlier.relay),
            &self.projector.since(&earlier.projector),
            &self.workers.since(&earlier.workers),
        )
    }
}

impl Roles {
    /// `worker_processes` worker processes of `worker_polls` polls, a relay, a projector of
    /// `projector_polls` polls.
    pub(super) async fn start(
        stack: &Stack,
        worker_processes: usize,
        worker_polls: usize,
        projector_polls: usize,
    ) -> Result<Self, BenchError> {
        let mut env = stack.role_env();
        env.push(("FULFIL_WORKER_CONCURRENCY", worker_polls.to_string()));
        env.push(("FULFIL_PROJECTOR_CONCURRENCY", projector_polls.to_string()));
        let relay = RoleProcess::start(&["relay"], &env, "relay started").await?;
        let projector = RoleProcess::start(&["projector"], &env, "projector started").await?;
        let mut workers = Vec::new();
        for _ in 0..worker_processes {
            workers.push(RoleProcess::start(&["worker"], &env, "worker started").await?);
        }
        Ok(Self {
            workers,
            relay,
            projector,
        })
    }

    pub(super) async fn scrape(&self) -> Scrapes {
        let addrs = |ps: &[&RoleProcess]| -> Vec<_> {
            ps.iter().filter_map(|p| ops_addr(&p.log())).collect()
        };
        let workers: Vec<&RoleProcess> = self.workers.iter().collect();
        Scrapes {
            relay: Scrape::of(&addrs(&[&self.relay])).await,
            projector: Scrape::of(&addrs(&[&self.projector])).await,
            workers: Scrape::of(&addrs(&workers)).await,
        }
    }

    pub(super) async fn stop(self) {
        for worker in self.workers {
            worker.stop().await;
        }
        self.relay.stop().await;
        self.projector.stop().await;
    }
}
