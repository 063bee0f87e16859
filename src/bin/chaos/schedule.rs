//! The fault schedule: a seeded list of what to break and when. Pure and deterministic: the
//! same seed and length give the same schedule, printed before the soak starts, so a run
//! that breaks something can be repeated fault for fault.

use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

/// Worker processes in the soak.
pub const WORKERS: usize = 2;

/// A `fulfil` process of the soak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Worker(usize),
    Relay,
    Projector,
}

impl Role {
    pub fn all() -> Vec<Role> {
        let mut roles: Vec<Role> = (0..WORKERS).map(Role::Worker).collect();
        roles.extend([Role::Relay, Role::Projector]);
        roles
    }

    /// The `fulfil` subcommand.
    pub fn command(self) -> &'static str {
        match self {
            Role::Worker(_) => "worker",
            Role::Relay => "relay",
            Role::Projector => "projector",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Worker(i) => write!(f, "worker-{}", i + 1),
            other => f.write_str(other.command()),
        }
    }
}

/// Failpoints a restarted worker may carry: a crash at one exact step, transient errors, a
/// stall past the lock lease (the `fail` crate's blocking sleep).
const WORKER_FAILPOINTS: &[&str] = &[
    "worker::after_receive=1*return(crash)",
    "worker::after_lock=1*return(crash)",
    "worker::before_commit=1*return(crash)",
    "worker::after_commit_before_cache=1*return(crash)",
    "worker::before_unlock=1*return(crash)",
    "consumer::before_delete=1*return(crash)",
    "worker::after_receive=10%return(error)",
    "worker::before_commit=20%return(error)",
    "worker::after_commit_before_cache=20%return(error)",
    "worker::before_unlock=20%return(error)",
    "consumer::before_delete=20%return(error)",
    "worker::after_lock=3*sleep(3000)",
];
const RELAY_FAILPOINTS: &[&str] = &[
    "relay::after_publish_before_mark=1*return(crash)",
    "relay::after_publish_before_mark=25%return(error)",
];
const PROJECTOR_FAILPOINTS: &[&str] = &[
    "consumer::before_delete=1*return(crash)",
    "consumer::before_delete=20%return(error)",
];

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// kill -9; the supervisor starts it again.
    Kill(Role),
    /// SIGSTOP, then SIGCONT after the duration.
    Pause(Role, Duration),
    /// kill -9 and start again with `FAILPOINTS` set to this.
    Failpoint(Role, &'static str),
    /// `pg_ctl stop -m immediate`, down for the duration, then started again.
    PostgresCrash(Duration),
    RedisFlush,
    /// `CLIENT PAUSE` for the duration.
    RedisClientPause(Duration),
    /// kill -9 of Redis, down for the duration, then started again (empty).
    RedisKill(Duration),
    /// SIGSTOP of LocalStack's process group, SIGCONT after the duration.
    LocalStackPause(Duration),
}

impl Fault {
    /// The kind it is counted under in the report.
    pub fn kind(&self) -> String {
        let role = |r: &Role| r.command().to_owned();
        match self {
            Fault::Kill(r) => format!("kill -9 {}", role(r)),
            Fault::Pause(r, _) => format!("SIGSTOP/SIGCONT {}", role(r)),
            Fault::Failpoint(r, spec) => format!("failpoint {} {spec}", role(r)),
            Fault::PostgresCrash(_) => "PostgreSQL stop -m immediate + restart".into(),
            Fault::RedisFlush => "Redis FLUSHALL".into(),
            Fault::RedisClientPause(_) => "Redis CLIENT PAUSE".into(),
            Fault::RedisKill(_) => "Redis kill -9 + restart".into(),
            Fault::LocalStackPause(_) => "LocalStack SIGSTOP/SIGCONT".into(),
        }
    }

    /// How long the fault itself lasts (the runner waits it out).
    pub fn lasts(&self) -> Duration {
        match self {
            Fault::Pause(_, d)
            | Fault::PostgresCrash(d)
            | Fault::RedisClientPause(d)
            | Fault::RedisKill(d)
            | Fault::LocalStackPause(d) => *d,
            _ => Duration::ZERO,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: &Duration| d.as_millis();
        match self {
            Fault::Kill(r) => write!(f, "kill -9 {r}"),
            Fault::Pause(r, d) => write!(f, "SIGSTOP {r} for {} ms", ms(d)),
            Fault::Failpoint(r, spec) => write!(f, "restart {r} with FAILPOINTS={spec}"),
            Fault::PostgresCrash(d) => write!(f, "PostgreSQL immediate stop, down {} ms", ms(d)),
            Fault::RedisFlush => f.write_str("Redis FLUSHALL"),
            Fault::RedisClientPause(d) => write!(f, "Redis CLIENT PAUSE {} ms", ms(d)),
            Fault::RedisKill(d) => write!(f, "Redis kill -9, down {} ms", ms(d)),
            Fault::LocalStackPause(d) => write!(f, "LocalStack SIGSTOP for {} ms", ms(d)),
        }
    }
}

/// A fault and when it starts, counted from the start of the soak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub at: Duration,
    pub fault: Fault,
}

/// The schedule for `length` of soak: faults one after another (each waited out), with 1–4 s
/// between them, the first after 5 s of load.
pub fn plan(seed: u64, length: Duration) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut at = Duration::from_secs(5);
    let mut steps = Vec::new();
    while at < length {
        let fault = pick(&mut rng);
        let next = at + fault.lasts() + millis(&mut rng, 1000, 4000);
        steps.push(Step { at, fault });
        at = next;
    }
    steps
}

fn millis(rng: &mut StdRng, low: u64, high: u64) -> Duration {
    Duration::from_millis(rng.random_range(low..=high))
}

fn pick(rng: &mut StdRng) -> Fault {
    let worker = Role::Worker(rng.random_range(0..WORKERS));
    match rng.random_range(0..100) {
        0..16 => Fault::Kill(worker),
        16..28 => Fault::Pause(worker, millis(rng, 1000, 5000)),
        28..34 => Fault::Kill(Role::Relay),
        34..39 => Fault::Pause(Role::Relay, millis(rng, 1000, 4000)),
        39..45 => Fault::Kill(Role::Projector),
        45..50 => Fault::Pause(Role::Projector, millis(rng, 1000, 4000)),
        50..60 => Fault::Failpoint(worker, choose(rng, WORKER_FAILPOINTS)),
        60..63 => Fault::Failpoint(Role::Relay, choose(rng, RELAY_FAILPOINTS)),
        63..66 => Fault::Failpoint(Role::Projector, choose(rng, PROJECTOR_FAILPOINTS)),
        66..72 => Fault::PostgresCrash(millis(rng, 1000, 4000)),
        72..79 => Fault::RedisFlush,
        79..86 => Fault::RedisClientPause(millis(rng, 500, 3000)),
        86..92 => Fault::RedisKill(millis(rng, 500, 3000)),
        _ => Fault::LocalStackPause(millis(rng, 1000, 5000)),
    }
}

fn choose(rng: &mut StdRng, specs: &[&'static str]) -> &'static str {
    specs
        .choose(rng)
        .copied()
        .unwrap_or("worker::after_receive=off")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_MINUTES: Duration = Duration::from_secs(600);

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_another_seed_another() {
        assert_eq!(plan(7, TEN_MINUTES), plan(7, TEN_MINUTES));
        assert_ne!(plan(7, TEN_MINUTES), plan(8, TEN_MINUTES));
    }

    #[test]
    fn ten_minutes_hold_well_over_a_hundred_faults_of_every_kind_in_order() {
        for seed in 0..20 {
            let steps = plan(seed, TEN_MINUTES);
            assert!(steps.len() >= 110, "seed {seed}: {} faults", steps.len());
            assert!(steps
                .windows(2)
                .all(|w| w[0].at + w[0].fault.lasts() < w[1].at));
            assert!(steps.last().is_some_and(|s| s.at < TEN_MINUTES));
            let kinds = |prefix: &str| steps.iter().any(|s| s.fault.kind().starts_with(prefix));
            for prefix in [
                "kill -9 worker",
                "kill -9 relay",
                "SIGSTOP/SIGCONT projector",
                "failpoint worker",
                "PostgreSQL",
                "Redis FLUSHALL",
                "Redis CLIENT PAUSE",
                "Redis kill",
                "LocalStack",
            ] {
                assert!(kinds(prefix), "seed {seed}: no {prefix}");
            }
        }
    }
}
