//! Carries out the schedule: each fault at its time (later if the one before ran long),
//! waited out before the next, counted by kind. A fault that could not be injected (e.g.
//! `./dev fault` failed) is reported and not counted; the services are healed after it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::procs::Procs;
use crate::schedule::{Fault, Step};
use crate::services::Services;

/// Faults injected: how many of each kind, and which broad kinds ([`Fault::class`]).
#[derive(Debug, Default)]
pub struct Injected {
    pub by_kind: BTreeMap<String, usize>,
    pub classes: BTreeSet<&'static str>,
}

impl Injected {
    fn count(&mut self, fault: &Fault) {
        *self.by_kind.entry(fault.kind()).or_default() += 1;
        self.classes.insert(fault.class());
    }

    pub fn total(&self) -> usize {
        self.by_kind.values().sum()
    }
}

pub async fn run(steps: &[Step], procs: &Procs, services: &Services, started: Instant) -> Injected {
    let mut injected = Injected::default();
    for step in steps {
        tokio::time::sleep_until(started + step.at).await;
        let late = started.elapsed().saturating_sub(step.at);
        eprintln!(
            "chaos: {:>7.1} s  {}{}",
            started.elapsed().as_secs_f64(),
            step.fault,
            if late > Duration::from_secs(1) {
                format!(" ({} s late)", late.as_secs())
            } else {
                String::new()
            }
        );
        match inject(&step.fault, procs, services).await {
            Ok(()) => injected.count(&step.fault),
            Err(e) => {
                eprintln!("chaos: could not inject {}: {e:#}", step.fault);
                services.heal().await;
            }
        }
    }
    injected
}

async fn inject(fault: &Fault, procs: &Procs, services: &Services) -> anyhow::Result<()> {
    match fault {
        Fault::Kill(role) => procs.kill(*role),
        Fault::Pause(role, lasts) => procs.pause(*role, *lasts).await,
        Fault::Failpoint(role, spec) => procs.restart_with(*role, spec),
        Fault::PostgresCrash(down) => services.postgres_crash(*down).await?,
        Fault::RedisFlush => services.redis_flush().await?,
        Fault::RedisClientPause(lasts) => services.redis_client_pause(*lasts).await?,
        Fault::RedisKill(down) => services.redis_kill(*down).await?,
        Fault::LocalStackPause(lasts) => services.localstack_pause(*lasts).await?,
    }
    Ok(())
}
