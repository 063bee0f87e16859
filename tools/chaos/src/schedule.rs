//! The fault schedule: a seeded list of what to break and when. Pure and deterministic: the
//! same seed, length and minimum give the same schedule, printed before the soak starts, so
//! a run that breaks something can be repeated fault for fault. A short soak (CI's) still
//! has to hold a minimum of faults and of kinds: its schedule is packed tighter until it
//! does, and its first faults are of kinds not yet drawn.

use std::collections::BTreeSet;
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

    /// The broad kind the minimum counts (whatever the role or failpoint): kill, pause,
    /// failpoint, and one per way of breaking a service.
    pub fn class(&self) -> &'static str {
        match self {
            Fault::Kill(_) => "kill -9",
            Fault::Pause(..) => "SIGSTOP/SIGCONT",
            Fault::Failpoint(..) => "failpoint",
            Fault::PostgresCrash(_) => "PostgreSQL crash",
            Fault::RedisFlush => "Redis FLUSHALL",
            Fault::RedisClientPause(_) => "Redis CLIENT PAUSE",
            Fault::RedisKill(_) => "Redis kill",
            Fault::LocalStackPause(_) => "LocalStack pause",
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

    /// The same fault lasting `scale` of its time, never under [`SHORTEST_FAULT`].
    fn scaled(self, scale: f64) -> Fault {
        let s = |d: Duration| d.mul_f64(scale).max(SHORTEST_FAULT);
        match self {
            Fault::Pause(r, d) => Fault::Pause(r, s(d)),
            Fault::PostgresCrash(d) => Fault::PostgresCrash(s(d)),
            Fault::RedisClientPause(d) => Fault::RedisClientPause(s(d)),
            Fault::RedisKill(d) => Fault::RedisKill(s(d)),
            Fault::LocalStackPause(d) => Fault::LocalStackPause(s(d)),
            other => other,
        }
    }
}

/// Every [`Fault::class`] there is.
pub const CLASSES: usize = 8;

/// A packed fault still lasts this long (a pause shorter says little).
const SHORTEST_FAULT: Duration = Duration::from_millis(500);

/// Load before the first fault.
const FIRST_FAULT: Duration = Duration::from_secs(5);

/// How much faster than the 1–4 s gaps (and the faults' own lengths) a schedule may be
/// packed to reach its minimum, tried in this order.
const PACKING: [f64; 6] = [1.0, 0.75, 0.5, 0.35, 0.25, 0.18];

/// What a schedule must hold, whatever its length (CI's soak asks for 20 of 6 kinds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Minimum {
    pub faults: usize,
    /// Distinct [`Fault::class`]es, at most [`CLASSES`].
    pub kinds: usize,
}

impl Minimum {
    /// Whether `faults` of `kinds` distinct classes meet it.
    pub fn met_by(&self, faults: usize, kinds: usize) -> bool {
        faults >= self.faults && kinds >= self.kinds
    }
}

/// Distinct classes among `steps`.
pub fn kinds(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|s| s.fault.class())
        .collect::<BTreeSet<_>>()
        .len()
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
/// between them, the first after 5 s of load; packed tighter (shorter gaps and faults) when
/// that does not hold `min` with a quarter more faults to spare (a fault that cannot be
/// injected is not counted). Returns the loosest packing that does, or the tightest.
pub fn plan(seed: u64, length: Duration, min: Minimum) -> Vec<Step> {
    let target = Minimum {
        faults: min.faults + min.faults.div_ceil(4),
        kinds: min.kinds,
    };
    let mut tightest = Vec::new();
    for scale in PACKING {
        let steps = lay_out(seed, length, scale, min.kinds);
        if target.met_by(steps.len(), kinds(&steps)) {
            return steps;
        }
        tightest = steps;
    }
    tightest
}

/// One packing: gaps and fault lengths times `scale`; until `kinds` classes are drawn,
/// a fault of a class already drawn is drawn again.
fn lay_out(seed: u64, length: Duration, scale: f64, kinds: usize) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut at = FIRST_FAULT;
    let (mut steps, mut seen) = (Vec::new(), BTreeSet::new());
    while at < length {
        let fault = pick_new(&mut rng, &seen, kinds).scaled(scale);
        seen.insert(fault.class());
        let gap = millis(&mut rng, 1000, 4000).mul_f64(scale);
        let next = at + fault.lasts() + gap;
        steps.push(Step { at, fault });
        at = next;
    }
    steps
}

/// A fault of a class not in `seen` while fewer than `kinds` are (a bounded number of
/// draws: every class has a fair share of [`pick`]), else any.
fn pick_new(rng: &mut StdRng, seen: &BTreeSet<&'static str>, kinds: usize) -> Fault {
    let mut fault = pick(rng);
    for _ in 0..64 {
        if seen.len() >= kinds || !seen.contains(fault.class()) {
            break;
        }
        fault = pick(rng);
    }
    fault
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
    const ONE_MINUTE: Duration = Duration::from_secs(60);
    const NONE: Minimum = Minimum {
        faults: 0,
        kinds: 0,
    };
    const CI: Minimum = Minimum {
        faults: 20,
        kinds: 6,
    };

    fn in_order(steps: &[Step]) -> bool {
        steps
            .windows(2)
            .all(|w| w[0].at + w[0].fault.lasts() < w[1].at)
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_another_seed_another() {
        assert_eq!(plan(7, TEN_MINUTES, NONE), plan(7, TEN_MINUTES, NONE));
        assert_ne!(plan(7, TEN_MINUTES, NONE), plan(8, TEN_MINUTES, NONE));
        assert_eq!(plan(7, ONE_MINUTE, CI), plan(7, ONE_MINUTE, CI));
    }

    #[test]
    fn one_minute_packed_for_ci_holds_twenty_faults_of_six_kinds_and_five_to_spare() {
        for seed in 0..200 {
            let steps = plan(seed, ONE_MINUTE, CI);
            assert!(
                steps.len() >= 25 && CI.met_by(steps.len(), kinds(&steps)),
                "seed {seed}: {} faults of {} kinds",
                steps.len(),
                kinds(&steps)
            );
            assert!(in_order(&steps), "seed {seed}");
            assert!(steps.last().is_some_and(|s| s.at < ONE_MINUTE));
        }
    }

    /// Whether every gap between one fault's end and the next fault is at least `gap`.
    fn gaps_at_least(steps: &[Step], gap: Duration) -> bool {
        steps
            .windows(2)
            .all(|w| w[1].at >= w[0].at + w[0].fault.lasts() + gap)
    }

    #[test]
    fn only_a_schedule_short_of_its_minimum_is_packed() {
        let second = Duration::from_secs(1);
        assert!(gaps_at_least(&plan(3, TEN_MINUTES, CI), second));
        let loose = plan(3, ONE_MINUTE, NONE);
        assert!(loose.len() < CI.faults && gaps_at_least(&loose, second));
        assert!(!gaps_at_least(&plan(3, ONE_MINUTE, CI), second));
    }

    #[test]
    fn a_packed_fault_is_shorter_but_never_under_the_floor() {
        let pause = Fault::LocalStackPause(Duration::from_millis(4000));
        assert_eq!(
            pause.clone().scaled(0.5).lasts(),
            Duration::from_millis(2000)
        );
        assert_eq!(pause.scaled(0.01).lasts(), SHORTEST_FAULT);
        assert_eq!(Fault::RedisFlush.scaled(0.5), Fault::RedisFlush);
    }

    #[test]
    fn ten_minutes_hold_well_over_a_hundred_faults_of_every_kind_in_order() {
        for seed in 0..20 {
            let steps = plan(seed, TEN_MINUTES, NONE);
            assert!(steps.len() >= 110, "seed {seed}: {} faults", steps.len());
            assert!(in_order(&steps));
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
