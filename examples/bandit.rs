//! Multi-armed bandits against a fixed split, in a seeded simulation.
//!
//! Three Bernoulli arms convert at 4 %, 5 % and 6 %. Each policy serves
//! 100 000 requests, learning from every conversion, and the run is repeated
//! over 100 seeds. Regret is the expected (pseudo-)regret: the sum over
//! requests of `0.06 - rate of the chosen arm`, i.e. the conversions lost
//! against always serving the best arm.
//!
//! Two ways of acting are shown, with the same `fledge-bandit` code a service
//! would use:
//!
//! * per decision: `bandit.choose(&mut rng)` for every request, reward
//!   recorded at once;
//! * per tick: every 1 000 requests the bandit publishes a new split to a
//!   `fledge_select::Selector` (0.5 % minimum share per arm); requests are
//!   routed by the selector from a random sticky bucket and their conversions
//!   come back by request id through the decision journal.
//!
//! Run: `cargo run --release --example bandit`. It ends with one line per
//! policy (per-decision path):
//! `policy=<name> regret=<mean cumulative regret> best_arm_share=<share of the last 10,000 requests on the best arm>`.

use std::time::Instant;

use fledge_bandit::{Bandit, BanditConfig, BanditError, Policy};
use fledge_examples::Table;
use fledge_select::{Selector, Weight};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

const RATES: [f64; 3] = [0.04, 0.05, 0.06];
const ARMS: [&str; 3] = ["rate-4pct", "rate-5pct", "rate-6pct"];
const BEST: usize = 2;
const REQUESTS: u64 = 100_000;
const TAIL: u64 = 10_000;
const SEEDS: u64 = 100;
const TICK_EVERY: u64 = 1_000;
const TICK_MIN_SHARE_BPS: u32 = 50;
const TICK_DRAWS: u32 = 2_000;

/// One run's result.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    regret: f64,
    best_tail: u64,
}

fn policies() -> Result<Vec<Policy>, BanditError> {
    Ok(vec![
        Policy::uniform(),
        Policy::epsilon_greedy(0.1)?,
        Policy::ucb1(),
        Policy::thompson(),
    ])
}

fn conversion(rng: &mut SmallRng, arm: usize) -> f64 {
    if rng.random::<f64>() < RATES[arm] {
        1.0
    } else {
        0.0
    }
}

fn account(outcome: &mut Outcome, request: u64, arm: usize) {
    outcome.regret += RATES[BEST] - RATES[arm];
    if request >= REQUESTS - TAIL && arm == BEST {
        outcome.best_tail += 1;
    }
}

/// Per-decision path: choose, serve, record the reward.
fn per_decision(policy: Policy, seed: u64) -> Result<Outcome, BanditError> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut bandit = Bandit::new(ARMS, BanditConfig::new(policy))?;
    let mut outcome = Outcome::default();
    for request in 0..REQUESTS {
        let arm = bandit.choose(&mut rng);
        let reward = conversion(&mut rng, arm);
        bandit.record_reward(arm, reward)?;
        account(&mut outcome, request, arm);
    }
    Ok(outcome)
}

/// Per-tick path: the selector routes, the journal joins feedback, and the
/// bandit publishes a new split every `TICK_EVERY` requests.
fn per_tick(policy: Policy, seed: u64) -> Result<Outcome, BanditError> {
    let policy = match policy {
        Policy::Thompson { .. } => Policy::Thompson { draws: TICK_DRAWS },
        other => other,
    };
    let config = BanditConfig {
        min_share: Weight::from_bps(TICK_MIN_SHARE_BPS)?,
        journal_capacity: 4_096,
        ..BanditConfig::new(policy)
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut bandit = Bandit::new(ARMS, config)?;
    let selector = Selector::new(bandit.split(&mut rng)?);
    let mut outcome = Outcome::default();
    for request in 0..REQUESTS {
        // Request path: a user's sticky bucket picks the arm.
        let bucket = rng.random_range(0..10_000);
        let arm = selector.pick_by_bucket(bucket).get();
        bandit.record_decision(request, arm)?;
        // Feedback path: the conversion comes back by request id.
        let reward = conversion(&mut rng, arm);
        bandit.feedback(request, reward)?;
        account(&mut outcome, request, arm);
        // Control path.
        if request % TICK_EVERY == TICK_EVERY - 1 {
            bandit.tick();
            bandit.publish(&selector, &mut rng)?;
        }
    }
    Ok(outcome)
}

/// Mean and standard deviation of the regret, mean best-arm tail share,
/// over all seeds, spread over the available cores.
fn average(
    run: fn(Policy, u64) -> Result<Outcome, BanditError>,
    policy: Policy,
) -> Result<(f64, f64, f64), BanditError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (0..SEEDS)
                        .filter(|seed| seed % threads == t)
                        .map(|seed| run(policy, seed))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("simulation thread panicked"))
            .collect::<Result<Vec<Vec<_>>, _>>()
            .map(|v| v.into_iter().flatten().collect())
    })?;
    let n = outcomes.len() as f64;
    let mean = outcomes.iter().map(|o| o.regret).sum::<f64>() / n;
    let var = outcomes
        .iter()
        .map(|o| (o.regret - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0).max(1.0);
    let share = outcomes
        .iter()
        .map(|o| o.best_tail as f64 / TAIL as f64)
        .sum::<f64>()
        / n;
    Ok((mean, var.sqrt(), share))
}

fn main() -> Result<(), BanditError> {
    println!(
        "3 Bernoulli arms (rates {:?}), {REQUESTS} requests, {SEEDS} seeds; regret = sum of (0.06 - rate of the chosen arm)\n",
        RATES
    );
    let mut table = Table::new([
        "policy",
        "path",
        "regret (mean)",
        "regret (sd)",
        "vs uniform",
        "best-arm share, last 10k",
        "time",
    ]);
    let mut finals = Vec::new();
    let mut uniform_regret = None;
    let mut thompson_regret = None;
    for (path, run) in [
        ("per decision", per_decision as fn(Policy, u64) -> _),
        ("tick 1k, 0.5 % floor", per_tick),
    ] {
        for policy in policies()? {
            let started = Instant::now();
            let (regret, sd, share) = average(run, policy)?;
            let elapsed = started.elapsed();
            if path == "per decision" {
                match policy {
                    Policy::Uniform => uniform_regret = Some(regret),
                    Policy::Thompson { .. } => thompson_regret = Some(regret),
                    _ => {}
                }
                finals.push(format!(
                    "policy={} regret={regret:.1} best_arm_share={share:.3}",
                    policy.name()
                ));
            }
            let vs =
                uniform_regret.map_or("-".to_string(), |u| format!("{:.1} %", 100.0 * regret / u));
            table.row([
                policy.name().to_string(),
                path.to_string(),
                format!("{regret:.1}"),
                format!("{sd:.1}"),
                vs,
                format!("{share:.3}"),
                format!("{:.2} s", elapsed.as_secs_f64()),
            ]);
        }
    }
    print!("{table}");
    println!(
        "\nWhy: the uniform split keeps 2/3 of the traffic on worse arms. Epsilon-greedy wastes\n\
         its 10 % exploration forever. UCB1's bonus sqrt(2 ln N / n) stays larger than the\n\
         1-2 point gaps for tens of thousands of pulls, so it keeps exploring (it is built for\n\
         worst-case guarantees, not small conversion rates). Thompson sampling explores only\n\
         while the posteriors overlap. The tick path learns with up to 1 000 requests of delay\n\
         and keeps a 0.5 % floor per arm, yet stays close to the per-decision path."
    );
    if let (Some(u), Some(t)) = (uniform_regret, thompson_regret) {
        let ratio = 100.0 * t / u;
        let verdict = if ratio <= 15.0 { "met" } else { "NOT met" };
        println!(
            "\nThompson sampling's regret is {ratio:.1} % of the uniform split's (goal <= 15 %: {verdict}).\n"
        );
    }
    for line in finals {
        println!("{line}");
    }
    Ok(())
}
