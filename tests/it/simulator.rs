//! The built-in simulator: believable, deterministic for a seed, and fed
//! through the same pipeline as HTTP.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeSet;
use wallboard::SimulateOptions;
use wallboard::aggregator::Aggregator;
use wallboard::config::Config;
use wallboard::kpi;
use wallboard::simulator::{SimOptions, Simulation};

use wallboard_protocol::{Board, EventKind, KpiKey, Window};

/// Simulates `hours` from 08:00 Shanghai time and returns the board at the
/// end, the number of events produced and the aux reasons agents gave.
fn simulate(seed: u64, hours: i64) -> (Board, usize, BTreeSet<String>) {
    let config = Arc::new(Config::from_toml("timezone = \"Asia/Shanghai\"").unwrap());
    let start: Timestamp = "2026-11-23T08:00:00+08:00".parse().unwrap();
    let mut sim = Simulation::new(SimOptions {
        seed,
        agents: 80,
        timezone: config.timezone.clone(),
        start,
    });
    let mut agg = Aggregator::new(config);
    let mut count = 0;
    let mut reasons = BTreeSet::new();
    // Step a simulated minute at a time, as the server does in real time.
    let end = start + SignedDuration::from_hours(hours);
    let mut t = start;
    while t < end {
        t += SignedDuration::from_mins(1);
        for event in sim.advance_to(t) {
            agg.apply(&event, t)
                .unwrap_or_else(|e| panic!("simulated event rejected: {e}: {event:?}"));
            count += 1;
            if let EventKind::AgentState {
                reason: Some(reason),
                ..
            } = &event.kind
            {
                reasons.insert(reason.clone());
            }
        }
    }
    (kpi::board(&agg, end, 0), count, reasons)
}

#[test]
fn eight_hours_of_kpis_are_plausible() {
    let (board, events, reasons) = simulate(42, 8);
    assert!(
        events > 20_000,
        "{events} events in 8 h of an 80-agent floor"
    );
    let today = &board.totals[&Window::Today];
    // Every KPI has a value after 8 hours, within a plausible range.
    let checks = [
        (KpiKey::SystemConnectRate, 0.95, 1.0),
        (KpiKey::AgentConnectRate, 0.7, 1.0),
        (KpiKey::ServiceLevel, 0.5, 1.0),
        (KpiKey::AbandonRate, 0.0, 0.3),
        (KpiKey::AsaSeconds, 1.0, 60.0),
        (KpiKey::AhtSeconds, 120.0, 600.0),
        (KpiKey::Occupancy, 0.4, 0.95),
        (KpiKey::Satisfaction, 70.0, 95.0),
        (KpiKey::Fcr, 0.8, 0.97),
        (KpiKey::ComplaintResponseRate, 0.7, 1.0),
    ];
    for (key, lo, hi) in checks {
        let v = today
            .get(key)
            .and_then(|k| k.value)
            .unwrap_or_else(|| panic!("{key}: a value after 8 hours"));
        assert!((lo..=hi).contains(&v), "{key} = {v}, outside {lo}..={hi}");
    }
    assert_eq!(board.queues.len(), 5);
    assert!(board.queues["vip"].vip);
    assert!(
        (40..=80).contains(&board.agents.len()),
        "{} agents",
        board.agents.len()
    );
    assert!(today.blocked.unwrap() > 0, "peaks block some arrivals");
    assert!(today.short_abandoned == 0 && today.abandoned > 0);
    assert!(board.complaints.open > 0);
    // Over a working day the floor takes breaks, lunch (11:00-14:00), training.
    for reason in ["break", "lunch"] {
        assert!(reasons.contains(reason), "no {reason} in {reasons:?}");
    }
}

#[test]
fn kpis_cross_their_targets_now_and_then() {
    // Over a day, the 15-minute agent connect rate is not stuck on one side
    // of its target: a wallboard of a simulator that never alarms shows nothing.
    let config = Arc::new(Config::from_toml("timezone = \"Asia/Shanghai\"").unwrap());
    let start: Timestamp = "2026-11-23T00:00:00+08:00".parse().unwrap();
    let mut sim = Simulation::new(SimOptions {
        seed: 7,
        agents: 80,
        timezone: config.timezone.clone(),
        start,
    });
    let mut agg = Aggregator::new(config);
    let (mut ok, mut not_ok) = (0, 0);
    for quarter in 1..=96 {
        let t = start + SignedDuration::from_mins(15 * quarter);
        for event in sim.advance_to(t) {
            agg.apply(&event, t).unwrap();
        }
        let board = kpi::board(&agg, t, 0);
        match board.totals[&Window::Min15][KpiKey::AbandonRate].status {
            wallboard_protocol::Status::Ok => ok += 1,
            wallboard_protocol::Status::None => {}
            _ => not_ok += 1,
        }
    }
    assert!(
        ok >= 10 && not_ok >= 10,
        "abandon rate ok {ok} times, warn/breach {not_ok} times"
    );
}

#[test]
fn the_same_seed_gives_the_same_day() {
    let (a, n, _) = simulate(9, 3);
    let (b, m, _) = simulate(9, 3);
    assert_eq!(n, m);
    assert_eq!(a, b);
    let (c, _, _) = simulate(10, 3);
    assert_ne!(a.totals, c.totals, "another seed, another day");
}

#[tokio::test]
async fn the_server_feeds_the_board_from_the_simulator() {
    let s = wallboard_tests::TestServer::builder("timezone = \"Asia/Shanghai\"")
        .simulate(SimulateOptions {
            seed: 3,
            agents: 40,
        })
        .start()
        .await;
    // It replays today so far at once, then runs live.
    let mut board = serde_json::Value::Null;
    for _ in 0..50 {
        board = s.board().await;
        if board["agents"].as_object().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!board["agents"].as_object().unwrap().is_empty(), "{board}");
    assert!(board["queues"].as_object().unwrap().len() >= 3, "{board}");
    assert!(board["seq"].as_u64().unwrap() >= 1);
    s.server.stop().await;
}

/// Senders split a floor's events by entity (agents, contacts), so an
/// agent's states and the contacts they handle arrive interleaved any which
/// way: every count must come out the same. (An agent's contacts on two
/// senders once made one contact's late end replace another's pending
/// handle time, losing it.)
#[test]
fn the_counts_do_not_depend_on_how_senders_interleave() {
    let config = Arc::new(Config::from_toml("timezone = \"Asia/Shanghai\"").unwrap());
    for seed in 0..12u64 {
        let now: Timestamp = "2026-11-23T06:00:00Z".parse().unwrap();
        let now = now + SignedDuration::from_mins(seed as i64 * 37);
        let mut sim = Simulation::new(SimOptions {
            seed: 100 + seed,
            agents: 30,
            timezone: config.timezone.clone(),
            start: now - SignedDuration::from_mins(90),
        });
        let events = sim.advance_to(now);
        let mut in_order = Aggregator::new(config.clone());
        for e in &events {
            let _ = in_order.apply(e, now);
        }
        // Four senders, each its entities' events in order, taking turns
        // with batches of uneven sizes so some run far ahead.
        let mut senders: Vec<std::collections::VecDeque<_>> = vec![Default::default(); 4];
        for e in &events {
            let s = wallboard_tests::stable_hash(wallboard_tests::entity_of(e)) % 4;
            senders[s as usize].push_back(e);
        }
        let mut interleaved = Aggregator::new(config.clone());
        let mut turn = seed as usize;
        while senders.iter().any(|s| !s.is_empty()) {
            for k in 0..4 {
                let s = (k + turn) % 4;
                let n = if (s + turn).is_multiple_of(3) { 25 } else { 10 };
                let take = n.min(senders[s].len());
                for e in senders[s].drain(..take) {
                    let _ = interleaved.apply(e, now);
                }
            }
            turn += 1;
        }
        let mut a = in_order.totals.lifetime.clone();
        let mut b = interleaved.totals.lifetime.clone();
        // How long a contact was handled may still differ: "the agent took
        // the next contact" can close it before the agent's late wrap-up
        // state is known. How many is the same.
        a.handle_ms = 0;
        b.handle_ms = 0;
        assert_eq!(a, b, "seed {seed}");
    }
}
