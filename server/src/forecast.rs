//! Foresight: what a queue needs in the next minutes, from the last 15
//! minutes' arrival rate and handle time (DESIGN.md "Definitions, channels
//! and foresight"), by Erlang C.
//!
//! With A the offered load in erlangs (arrivals per second × AHT) and N
//! agents:
//! - P_wait(N, A) = (Aᴺ/N! · N/(N−A)) ÷ (Σₖ₌₀ᴺ⁻¹ Aᵏ/k! + Aᴺ/N! · N/(N−A)),
//!   for N > A, computed from Erlang B's recurrence (B₀ = 1,
//!   Bₖ = A·Bₖ₋₁ ÷ (k + A·Bₖ₋₁); C = N·B ÷ (N − A·(1 − B))), which stays
//!   finite where Aᴺ and N! overflow;
//! - SL(N) = 1 − P_wait(N, A) · e^(−(N−A)·T/AHT), T the threshold; a
//!   queue staffed at or below its load never catches up, so SL = 0 there.
//!
//! Pure functions of the counts: no clock, no state.

/// Agents beyond the load searched for the fewest that meet a target:
/// past this many, no staffing the floor can have would.
const MAX_EXTRA_AGENTS: u64 = 20_000;

/// The largest load the figures are computed for, in erlangs: a floor
/// holds at most 20,000 agents (`limits.max_agents`), and the recurrence
/// costs one step per agent, so a load past any floor (a stale handle
/// time, say) costs nothing and gives `None`.
pub const MAX_LOAD_ERLANGS: f64 = 20_000.0;

/// A hair's breadth: the statuses' own tolerance (`kpis::status`).
const EPSILON: f64 = 1e-9;

/// Erlang B's blocking probability with `n` servers and load `a`.
fn erlang_b(n: u64, a: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=n {
        b = a * b / (k as f64 + a * b);
    }
    b
}

/// Erlang C from Erlang B at the same `n`, for `n > a`.
fn c_from_b(n: u64, a: f64, b: f64) -> f64 {
    let n = n as f64;
    n * b / (n - a * (1.0 - b))
}

/// The probability that a caller waits, with `n` agents and load `a`
/// erlangs; `None` when `n ≤ a` (the line grows without end) or `a` is not
/// a positive load.
pub fn wait_probability(n: u64, a: f64) -> Option<f64> {
    (a > 0.0 && a <= MAX_LOAD_ERLANGS && n as f64 > a).then(|| c_from_b(n, a, erlang_b(n, a)))
}

/// The share answered within `threshold` seconds with `n` agents, load
/// `a` and handle time `aht` seconds (0 at or below the load; 1 without
/// load: nobody waits).
pub fn service_level(n: u64, a: f64, threshold: f64, aht: f64) -> f64 {
    if a <= 0.0 {
        return 1.0;
    }
    match wait_probability(n, a) {
        Some(c) => sl_from_c(c, n, a, threshold, aht),
        None => 0.0,
    }
}

fn sl_from_c(c: f64, n: u64, a: f64, threshold: f64, aht: f64) -> f64 {
    (1.0 - c * (-(n as f64 - a) * threshold / aht).exp()).clamp(0.0, 1.0)
}

/// The fewest agents (more than the load) whose service level within
/// `threshold` reaches `target`; `None` without a positive load and
/// handle time, or when no staffing within reach meets it.
pub fn agents_needed(a: f64, threshold: f64, aht: f64, target: f64) -> Option<u64> {
    if !(a > 0.0 && a <= MAX_LOAD_ERLANGS && aht > 0.0 && aht.is_finite()) {
        return None;
    }
    let first = a.floor() as u64 + 1;
    let mut b = erlang_b(first - 1, a);
    for n in first..=first + MAX_EXTRA_AGENTS {
        b = a * b / (n as f64 + a * b);
        let sl = sl_from_c(c_from_b(n, a, b), n, a, threshold, aht);
        if sl >= target - EPSILON {
            return Some(n);
        }
    }
    None
}

/// The longest estimated wait given, in seconds.
pub const MAX_ESTIMATED_WAIT_SECONDS: f64 = 3600.0;

/// The wait of a caller joining a line of `waiting` now, when `answered`
/// were answered in the last `span_seconds`: (waiting + 1) ÷ the answer
/// rate, at most an hour; `None` without answers.
pub fn estimated_wait(waiting: u64, answered: u64, span_seconds: f64) -> Option<f64> {
    (answered > 0).then(|| {
        let rate = answered as f64 / span_seconds;
        ((waiting + 1) as f64 / rate).min(MAX_ESTIMATED_WAIT_SECONDS)
    })
}

/// The service level an interval ends at if the rates hold: `so_far` =
/// (in threshold, denominator) counted in it, `arrivals` the contacts still
/// expected before it ends, `sl` the share of them served in threshold
/// (`None`: unknown). `None` when there is nothing to judge, or arrivals
/// are expected and their share is unknown.
pub fn projected(so_far: (u64, u64), arrivals: f64, sl: Option<f64>) -> Option<f64> {
    let (in_threshold, denominator) = (so_far.0 as f64, so_far.1 as f64);
    if arrivals <= 0.0 {
        return (denominator > 0.0).then(|| in_threshold / denominator);
    }
    let sl = sl?;
    Some((in_threshold + arrivals * sl) / (denominator + arrivals))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(actual: f64, expected: f64, digits: i32) {
        let tolerance = 0.5 * 10f64.powi(-digits);
        assert!(
            (actual - expected).abs() <= tolerance,
            "got {actual}, want {expected} to {digits} digits"
        );
    }

    /// By hand: A = 2, N = 3. Σₖ₌₀² 2ᵏ/k! = 1 + 2 + 2 = 5; 2³/3! · 3/(3−2)
    /// = 4/3 · 3 = 4; P_wait = 4 ÷ (5 + 4) = 4/9.
    #[test]
    fn the_wait_probability_by_hand() {
        near(wait_probability(3, 2.0).unwrap(), 4.0 / 9.0, 12);
        // A = 1, N = 2: Σ = 1 + 1 = 2; 1/2 · 2/1 = 1; P = 1/3.
        near(wait_probability(2, 1.0).unwrap(), 1.0 / 3.0, 12);
        // One agent: P_wait = A (the M/M/1 utilisation).
        near(wait_probability(1, 0.6).unwrap(), 0.6, 12);
        assert_eq!(wait_probability(2, 2.0), None, "N = A never catches up");
        assert_eq!(wait_probability(1, 3.5), None);
        assert_eq!(wait_probability(5, 0.0), None, "no load");
        assert_eq!(wait_probability(5, f64::NAN), None);
    }

    /// Erlang C tables as printed in staffing references (P_wait for A
    /// erlangs and N agents), to 4 digits; checked here to 3.
    #[test]
    fn the_wait_probability_against_the_published_table() {
        let table = [
            (10.0, 11, 0.6821),
            (10.0, 12, 0.4494),
            (10.0, 13, 0.2853),
            (10.0, 14, 0.1741),
            (10.0, 15, 0.1020),
            (5.0, 6, 0.5875),
            (5.0, 7, 0.3241),
            (5.0, 8, 0.1673),
        ];
        for (a, n, p) in table {
            near(wait_probability(n, a).unwrap(), p, 3);
        }
    }

    /// The worked example published with the Erlang-C formula (360 calls
    /// per half hour, 4-minute calls, 55 agents, 15 s answer target):
    /// traffic 48 erlangs, P_wait 0.2387, service level 84.6%.
    #[test]
    fn the_published_worked_example() {
        let a = 360.0 / 1800.0 * 240.0;
        near(a, 48.0, 12);
        near(wait_probability(55, a).unwrap(), 0.2387, 4);
        near(service_level(55, a, 15.0, 240.0), 0.846, 3);
        // The ASA it prints, P_wait · AHT ÷ (N − A) = 8.18 s.
        near(wait_probability(55, a).unwrap() * 240.0 / 7.0, 8.18, 2);
    }

    /// 360 calls an hour of 240 s (A = 24): 80% within 20 s needs 29
    /// agents (28 give 0.761, 29 give 0.840).
    #[test]
    fn agents_needed_for_a_target() {
        let a = 360.0 / 3600.0 * 240.0;
        assert_eq!(agents_needed(a, 20.0, 240.0, 0.80), Some(29));
        near(service_level(28, a, 20.0, 240.0), 0.761, 3);
        near(service_level(29, a, 20.0, 240.0), 0.840, 3);
        assert_eq!(agents_needed(a, 20.0, 240.0, 0.84), Some(29));
        assert_eq!(agents_needed(a, 20.0, 240.0, 0.85), Some(30));
        // Each extra agent helps: the service level rises with N.
        let mut last = 0.0;
        for n in 25..40 {
            let sl = service_level(n, a, 20.0, 240.0);
            assert!(sl > last, "N = {n}: {sl} after {last}");
            last = sl;
        }
        assert_eq!(service_level(24, a, 20.0, 240.0), 0.0, "at the load");
        assert_eq!(
            service_level(3, 0.0, 20.0, 240.0),
            1.0,
            "no load: nobody waits"
        );
        // A load past any floor is not computed (and costs nothing).
        assert_eq!(agents_needed(1e7, 20.0, 240.0, 0.8), None);
        assert_eq!(wait_probability(20_000_000, 1e7), None);
        assert_eq!(agents_needed(0.0, 20.0, 240.0, 0.8), None);
        assert_eq!(agents_needed(24.0, 20.0, 0.0, 0.8), None);
        // A big floor: 2,000 erlangs stay finite and need just over 2,000.
        let n = agents_needed(2000.0, 20.0, 300.0, 0.8).unwrap();
        assert!((2001..2100).contains(&n), "{n}");
        // A target of 1.0 is met once the miss is below a hair's breadth.
        let n = agents_needed(24.0, 20.0, 240.0, 1.0).unwrap();
        assert!(n > 30 && n < 100, "{n}");
    }

    #[test]
    fn estimated_wait_and_projection() {
        // 45 answered in 900 s: one every 20 s; 3 waiting → the 4th in 80 s.
        near(estimated_wait(3, 45, 900.0).unwrap(), 80.0, 12);
        assert_eq!(estimated_wait(3, 0, 900.0), None);
        assert_eq!(estimated_wait(10_000, 1, 900.0), Some(3600.0));
        // 8 of 10 so far, 10 more expected at 0.9: (8 + 9) ÷ 20.
        near(projected((8, 10), 10.0, Some(0.9)).unwrap(), 0.85, 12);
        near(projected((8, 10), 0.0, None).unwrap(), 0.8, 12);
        assert_eq!(projected((0, 0), 0.0, Some(0.9)), None);
        assert_eq!(projected((8, 10), 5.0, None), None);
        near(projected((0, 0), 5.0, Some(0.5)).unwrap(), 0.5, 12);
    }
}
