//! Hand-computed KPI cases: every KPI and every edge named in DESIGN.md.
//! Times are Asia/Shanghai (UTC+8) local times on 2026-11-23 unless a test
//! says otherwise.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};
use strum::VariantArray;
use wallboard_protocol::{
    AgentState, Board, Direction, Event, KpiKey, Kpis, ServiceLevelDefinition, Status, Window,
};

/// Every service-level definition.
const DEFINITIONS: &[ServiceLevelDefinition] = ServiceLevelDefinition::VARIANTS;

use super::{board, status};
use crate::aggregator::Aggregator;
use crate::config::Config;

struct Floor {
    agg: Aggregator,
    next_id: u64,
    now: Timestamp,
}

/// `hh:mm:ss` on 2026-11-23, Shanghai time.
fn at(hms: &str) -> Timestamp {
    format!("2026-11-23T{hms}+08:00").parse().unwrap()
}

impl Floor {
    fn new(extra_toml: &str) -> Floor {
        let config =
            Config::from_toml(&format!("timezone = \"Asia/Shanghai\"\n{extra_toml}")).unwrap();
        Floor {
            agg: Aggregator::new(Arc::new(config)),
            next_id: 0,
            now: at("10:05:00"),
        }
    }

    fn try_send(&mut self, ts: Timestamp, body: Value) -> Result<(), String> {
        self.next_id += 1;
        let mut object = body;
        object["id"] = json!(format!("e{}", self.next_id));
        object["ts"] = json!(ts.to_string());
        let event = Event::from_json(&object.to_string())?;
        self.agg.apply(&event, self.now)
    }

    fn send(&mut self, hms: &str, body: Value) {
        let ts = at(hms);
        self.try_send(ts, body.clone())
            .unwrap_or_else(|e| panic!("{hms} {body}: {e}"));
    }

    fn board(&self, now: Timestamp) -> Board {
        board(&self.agg, now, 0)
    }

    fn totals(&self, now: Timestamp, window: Window) -> Kpis {
        self.board(now).totals[&window].clone()
    }

    fn queue(&self, now: Timestamp, queue: &str, window: Window) -> Kpis {
        self.board(now).queues[queue].windows[&window].clone()
    }
}

fn close(actual: Option<f64>, expected: f64) {
    let actual = actual.expect("a value");
    assert!(
        (actual - expected).abs() < 1e-9,
        "got {actual}, want {expected}"
    );
}

#[test]
fn an_empty_board_has_nulls_not_zeros() {
    let floor = Floor::new("");
    let b = floor.board(at("10:00:00"));
    for window in Window::ALL {
        let k = &b.totals[&window];
        for key in wallboard_protocol::KpiKey::ALL {
            let kpi = k.get(key).unwrap();
            assert_eq!(kpi.value, None, "{}", key.as_str());
            assert_eq!(kpi.status, Status::None, "{}", key.as_str());
        }
        assert_eq!(k.offered, 0);
    }
    assert_eq!(b.agent_states.len(), 5);
    assert!(b.agent_states.values().all(|&n| n == 0));
    assert!(b.queues.is_empty());
    assert_eq!(b.timezone, "Asia/Shanghai");
}

/// The registry's `inputs` are exactly what each formula reads: moving one
/// counter moves the KPIs that list it, and no other.
#[test]
fn each_kpi_moves_with_exactly_its_declared_inputs() {
    use crate::aggregator::Counters;
    use crate::kpi::value;
    let base = json!({
        "arrived": 10, "blocked": 2, "offered": 9, "answered": 5, "answered_in_sl": 3,
        "wait_ms": 40_000, "abandoned": 2, "short_abandoned": 1, "handled": 4,
        "handle_ms": 500_000, "surveys": 3, "survey_points": 250.0, "dispositions": 4,
        "resolved": 3, "complaints_opened": 2, "complaints_on_time": 1,
        "complaints_overdue": 1, "available_ms": 1_000, "on_contact_ms": 2_000,
        "wrap_up_ms": 500, "abandoned_in_sl": 1, "callbacks": 2, "callbacks_in_sl": 1,
        "callbacks_answered": 1
    });
    let counters = |v: &Value| serde_json::from_value::<Counters>(v.clone()).unwrap();
    let fields = base.as_object().unwrap();
    assert_eq!(
        serde_json::to_value(counters(&base)).unwrap(),
        base,
        "every counter is set"
    );
    let before = counters(&base);
    let mut checked = 0;
    for (field, n) in fields {
        let mut moved = base.clone();
        moved[field] = json!(n.as_f64().unwrap() as i64 + 1);
        if n.is_f64() {
            moved[field] = json!(n.as_f64().unwrap() + 1.0);
        }
        let after = counters(&moved);
        for definition in DEFINITIONS {
            for spec in &wallboard_protocol::REGISTRY {
                let value = |c| value(spec.key, c, *definition);
                let (a, b) = (value(&before), value(&after));
                assert!(a.is_some(), "{} has data in the base", spec.name);
                let inputs = match spec.key {
                    KpiKey::ServiceLevel => definition.inputs(),
                    _ => spec.inputs,
                };
                assert_eq!(
                    a != b,
                    inputs.contains(&field.as_str()),
                    "{} ({definition:?}) and {field}",
                    spec.name
                );
                checked += 1;
            }
        }
    }
    assert_eq!(
        wallboard_protocol::KpiKey::ServiceLevel.spec().inputs,
        ServiceLevelDefinition::Hotline.inputs(),
        "the registry's service level is the hotline's"
    );
    for definition in DEFINITIONS {
        for input in definition.inputs() {
            assert!(fields.contains_key(*input), "{definition:?}: {input}");
        }
    }
    for spec in &wallboard_protocol::REGISTRY {
        for input in spec.inputs {
            assert!(
                fields.contains_key(*input),
                "{}: no counter {input}",
                spec.name
            );
        }
    }
    assert_eq!(
        checked,
        fields.len() * wallboard_protocol::REGISTRY.len() * DEFINITIONS.len()
    );
}

/// Two agents, four callers: every contact KPI computed by hand.
fn morning() -> Floor {
    let mut f = Floor::new("");
    for agent in ["a1", "a2"] {
        f.send(
            "09:59:00",
            json!({"type":"agent_state","agent":agent,"state":"available","name":agent.to_uppercase(),"queues":["q"]}),
        );
    }
    for contact in ["c1", "c2", "c3"] {
        f.send(
            "10:00:00",
            json!({"type":"contact_arrived","contact":contact}),
        );
        f.send(
            "10:00:00",
            json!({"type":"contact_offered","contact":contact,"queue":"q"}),
        );
    }
    f.send(
        "10:00:00",
        json!({"type":"contact_arrived","contact":"c4","blocked":true}),
    );
    // c1: answered after 10 s (within the 20 s service level).
    f.send(
        "10:00:10",
        json!({"type":"agent_state","agent":"a1","state":"on_contact"}),
    );
    f.send(
        "10:00:10",
        json!({"type":"contact_answered","contact":"c1","agent":"a1"}),
    );
    // c2: answered after 30 s.
    f.send(
        "10:00:30",
        json!({"type":"agent_state","agent":"a2","state":"on_contact"}),
    );
    f.send(
        "10:00:30",
        json!({"type":"contact_answered","contact":"c2","agent":"a2"}),
    );
    // c3: hangs up after 40 s.
    f.send(
        "10:00:40",
        json!({"type":"contact_abandoned","contact":"c3"}),
    );
    // c1 ends resolved; a1 wraps up for 30 s: handle 10:00:10..10:02:40 = 150 s.
    f.send(
        "10:02:10",
        json!({"type":"contact_ended","contact":"c1","resolved":true}),
    );
    f.send(
        "10:02:10",
        json!({"type":"agent_state","agent":"a1","state":"wrap_up"}),
    );
    f.send(
        "10:02:40",
        json!({"type":"agent_state","agent":"a1","state":"available"}),
    );
    // c2 ends unresolved; a2 goes straight to available: handle ends at
    // contact_ended, 10:00:30..10:03:30 = 180 s.
    f.send(
        "10:03:30",
        json!({"type":"contact_ended","contact":"c2","resolved":false}),
    );
    f.send(
        "10:04:00",
        json!({"type":"agent_state","agent":"a2","state":"available"}),
    );
    // Surveys: 4 of 5 = 80 points, 90 of 100 = 90 points.
    f.send(
        "10:04:10",
        json!({"type":"survey_submitted","contact":"c1","score":4,"max":5}),
    );
    f.send(
        "10:04:20",
        json!({"type":"survey_submitted","contact":"c2","score":90}),
    );
    f
}

#[test]
fn every_contact_kpi_by_hand() {
    let f = morning();
    let now = at("10:05:00");
    for window in Window::ALL {
        for k in [f.totals(now, window), f.queue(now, "q", window)] {
            assert_eq!((k.offered, k.answered, k.abandoned), (3, 2, 1));
            // 2 answered / (2 + 1)
            close(k[KpiKey::AgentConnectRate].value, 2.0 / 3.0);
            assert_eq!(k[KpiKey::AgentConnectRate].target, Some(0.85));
            assert_eq!(k[KpiKey::AgentConnectRate].status, Status::Breach);
            // only c1 within 20 s
            close(k[KpiKey::ServiceLevel].value, 1.0 / 3.0);
            close(k[KpiKey::AbandonRate].value, 1.0 / 3.0);
            // (10 + 30) / 2
            close(k[KpiKey::AsaSeconds].value, 20.0);
            assert_eq!(
                k[KpiKey::AsaSeconds].status,
                Status::Ok,
                "20 s meets a 20 s target"
            );
            // (150 + 180) / 2
            close(k[KpiKey::AhtSeconds].value, 165.0);
            assert_eq!(k[KpiKey::AhtSeconds].status, Status::None, "informational");
            assert_eq!(k.handled, 2);
            close(k[KpiKey::Fcr].value, 0.5);
            assert_eq!((k.dispositions, k.resolved), (2, 1));
            // (80 + 90) / 2 = 85: exactly on target
            close(k[KpiKey::Satisfaction].value, 85.0);
            assert_eq!(k[KpiKey::Satisfaction].status, Status::Ok);
            // a1: available 70 s + 140 s, on contact 120 s, wrap 30 s;
            // a2: available 90 s + 60 s, on contact 210 s → 360 / 720.
            close(k[KpiKey::Occupancy].value, 0.5);
            assert_eq!(k[KpiKey::ComplaintResponseRate].value, None);
        }
        let totals = f.totals(now, window);
        // 3 of 4 arrivals not blocked.
        close(
            totals
                .get(KpiKey::SystemConnectRate)
                .copied()
                .unwrap()
                .value,
            0.75,
        );
        assert_eq!((totals.arrived, totals.blocked), (Some(4), Some(1)));
        assert!(
            f.queue(now, "q", window)
                .get(KpiKey::SystemConnectRate)
                .is_none()
        );
    }
}

#[test]
fn live_state_on_the_board() {
    let mut f = morning();
    f.send(
        "10:04:30",
        json!({"type":"contact_offered","contact":"c5","queue":"q"}),
    );
    f.send(
        "10:04:45",
        json!({"type":"contact_offered","contact":"c6","queue":"q"}),
    );
    f.send(
        "10:04:50",
        json!({"type":"agent_state","agent":"a2","state":"aux","reason":"lunch"}),
    );
    let b = f.board(at("10:05:00"));
    let q = &b.queues["q"];
    assert_eq!(q.waiting, 2);
    assert_eq!(q.longest_wait_since, Some(at("10:04:30")));
    assert_eq!(q.name, "q");
    let a2 = &b.agents["a2"];
    assert_eq!(a2.state, AgentState::Aux);
    assert_eq!(a2.reason.as_deref(), Some("lunch"));
    assert_eq!(a2.since, at("10:04:50"));
    assert_eq!(a2.name.as_deref(), Some("A2"));
    assert_eq!(a2.queues, ["q"]);
    assert_eq!(b.agent_states[&AgentState::Available], 1);
    assert_eq!(b.agent_states[&AgentState::Aux], 1);

    f.send(
        "10:04:55",
        json!({"type":"agent_state","agent":"a1","state":"on_contact"}),
    );
    f.send(
        "10:04:55",
        json!({"type":"contact_answered","contact":"c5","agent":"a1"}),
    );
    let b = f.board(at("10:05:00"));
    assert_eq!(b.queues["q"].waiting, 1);
    assert_eq!(b.queues["q"].longest_wait_since, Some(at("10:04:45")));
    assert_eq!(b.agents["a1"].contact.as_deref(), Some("c5"));
    assert_eq!(b.agents["a1"].queue.as_deref(), Some("q"));
}

#[test]
fn short_abandons_are_left_out_of_the_rates() {
    let mut f = Floor::new("short_abandon_seconds = 5");
    for c in ["c1", "c2", "c3"] {
        f.send(
            "10:00:00",
            json!({"type":"contact_offered","contact":c,"queue":"q"}),
        );
    }
    f.send(
        "10:00:03",
        json!({"type":"contact_abandoned","contact":"c1"}),
    ); // 3 s: short
    f.send(
        "10:00:05",
        json!({"type":"contact_abandoned","contact":"c2"}),
    ); // 5 s: not short
    f.send(
        "10:00:04",
        json!({"type":"contact_answered","contact":"c3","agent":"a1"}),
    );
    let k = f.totals(at("10:05:00"), Window::Today);
    assert_eq!((k.abandoned, k.short_abandoned, k.answered), (1, 1, 1));
    close(k[KpiKey::AgentConnectRate].value, 0.5);
    close(k[KpiKey::AbandonRate].value, 0.5);
    close(k[KpiKey::ServiceLevel].value, 0.5);
}

#[test]
fn all_abandoned() {
    let mut f = Floor::new("");
    for c in ["c1", "c2"] {
        f.send(
            "10:00:00",
            json!({"type":"contact_offered","contact":c,"queue":"q"}),
        );
        f.send("10:01:00", json!({"type":"contact_abandoned","contact":c}));
    }
    let k = f.totals(at("10:05:00"), Window::Min15);
    close(k[KpiKey::AgentConnectRate].value, 0.0);
    assert_eq!(k[KpiKey::AgentConnectRate].status, Status::Breach);
    close(k[KpiKey::AbandonRate].value, 1.0);
    close(k[KpiKey::ServiceLevel].value, 0.0);
    assert_eq!(
        k[KpiKey::AsaSeconds].value,
        None,
        "no answered contact, no ASA"
    );
    assert_eq!(k[KpiKey::AhtSeconds].value, None);
}

#[test]
fn vip_queues_are_held_to_the_vip_target() {
    // `forced` says vip = false in the config, which beats `vip: true` offers.
    let mut f = Floor::new("[[queues]]\nid = \"forced\"\nvip = false");
    for queue in ["vip", "ordinary", "forced"] {
        for i in 0..8 {
            let contact = format!("{queue}{i}");
            let vip = queue != "ordinary";
            f.send(
                "10:00:00",
                json!({"type":"contact_offered","contact":contact,"queue":queue,"vip":vip}),
            );
            if i < 7 {
                f.send(
                    "10:00:05",
                    json!({"type":"contact_answered","contact":contact,"agent":"a"}),
                );
            } else {
                f.send(
                    "10:00:50",
                    json!({"type":"contact_abandoned","contact":contact}),
                );
            }
        }
    }
    let now = at("10:05:00");
    let b = f.board(now);
    assert!(b.queues["vip"].vip);
    assert!(!b.queues["ordinary"].vip);
    assert!(!b.queues["forced"].vip);
    // 7 / 8 = 0.875: below the VIP 0.90 but within 5% of it → warn;
    // above the ordinary 0.85 → ok.
    let vip = f.queue(now, "vip", Window::Today)[KpiKey::AgentConnectRate];
    close(vip.value, 0.875);
    assert_eq!((vip.target, vip.status), (Some(0.90), Status::Warn));
    let ordinary = f.queue(now, "ordinary", Window::Today)[KpiKey::AgentConnectRate];
    assert_eq!((ordinary.target, ordinary.status), (Some(0.85), Status::Ok));
    let forced = f.queue(now, "forced", Window::Today)[KpiKey::AgentConnectRate];
    assert_eq!(forced.target, Some(0.85));
}

#[test]
fn complaints_go_overdue_when_due_passes_unanswered() {
    let mut f = Floor::new("");
    // urgent: due 2 h after opening, at 12:00.
    f.send(
        "10:00:00",
        json!({"type":"complaint_opened","complaint":"k1","grade":"urgent","queue":"q"}),
    );
    // explicit due, answered on time.
    f.send(
        "10:00:00",
        json!({"type":"complaint_opened","complaint":"k2","due":"2026-11-23T11:00:00+08:00"}),
    );
    f.send(
        "10:30:00",
        json!({"type":"complaint_answered","complaint":"k2"}),
    );

    let before = f.board(at("11:59:59"));
    assert_eq!((before.complaints.open, before.complaints.overdue), (1, 0));
    let k = &before.totals[&Window::Today];
    close(k[KpiKey::ComplaintResponseRate].value, 1.0);
    assert_eq!(k[KpiKey::ComplaintResponseRate].status, Status::Ok);
    assert_eq!(
        before.queues["q"].windows[&Window::Today][KpiKey::ComplaintResponseRate].value,
        None
    );

    let after = f.board(at("12:00:01"));
    assert_eq!((after.complaints.open, after.complaints.overdue), (1, 1));
    let k = &after.totals[&Window::Today];
    close(k[KpiKey::ComplaintResponseRate].value, 0.5);
    assert_eq!(k[KpiKey::ComplaintResponseRate].status, Status::Breach);
    assert_eq!(k.complaints_overdue, 1);
    // Overdue counts in the window where `due` falls: 12:00 is in 15m at 12:01…
    let k15 = &after.totals[&Window::Min15];
    assert_eq!(k15.complaints_overdue, 1);
    // …and no longer at 12:20.
    assert_eq!(
        f.board(at("12:20:00")).totals[&Window::Min15].complaints_overdue,
        0
    );

    // Answering late does not make it on time, nor count it twice.
    f.now = at("12:30:00");
    f.send(
        "12:30:00",
        json!({"type":"complaint_answered","complaint":"k1"}),
    );
    let late = f.board(at("12:31:00"));
    assert_eq!((late.complaints.open, late.complaints.overdue), (0, 0));
    let k = &late.totals[&Window::Today];
    assert_eq!((k.complaints_on_time, k.complaints_overdue), (1, 1));
    close(k[KpiKey::ComplaintResponseRate].value, 0.5);

    let err = f
        .try_send(
            at("12:31:00"),
            json!({"type":"complaint_answered","complaint":"k1"}),
        )
        .unwrap_err();
    assert!(err.contains("already been answered"), "{err}");
    let err = f
        .try_send(
            at("12:31:00"),
            json!({"type":"complaint_opened","complaint":"k3","grade":"someday"}),
        )
        .unwrap_err();
    assert!(err.contains("unknown complaint grade"), "{err}");
}

#[test]
fn late_events_land_in_their_own_minute() {
    let mut f = Floor::new("");
    f.now = at("10:30:00");
    f.send(
        "10:29:00",
        json!({"type":"contact_offered","contact":"new","queue":"q"}),
    );
    // Arrives after, happened before: 10:10 is outside 15m, inside 60m.
    f.send(
        "10:10:00",
        json!({"type":"contact_offered","contact":"old","queue":"q"}),
    );
    f.send(
        "10:10:30",
        json!({"type":"contact_abandoned","contact":"old"}),
    );
    let now = at("10:30:00");
    assert_eq!(f.totals(now, Window::Min15).offered, 1);
    assert_eq!(f.totals(now, Window::Min15).abandoned, 0);
    assert_eq!(f.totals(now, Window::Min60).offered, 2);
    assert_eq!(f.totals(now, Window::Min60).abandoned, 1);
    assert_eq!(f.totals(now, Window::Today).offered, 2);
    // The 15-minute window holds the current minute and the 14 before it.
    assert_eq!(f.totals(at("10:43:59"), Window::Min15).offered, 1);
    assert_eq!(f.totals(at("10:44:00"), Window::Min15).offered, 0);
}

#[test]
fn today_resets_at_local_midnight_not_utc() {
    let mut f = Floor::new("");
    // 23:59:30 and 00:00:30 Shanghai time = 15:59:30Z and 16:00:30Z.
    let before: Timestamp = "2026-11-23T23:59:30+08:00".parse().unwrap();
    let after: Timestamp = "2026-11-24T00:00:30+08:00".parse().unwrap();
    f.now = after;
    for (ts, c) in [(before, "c1"), (after, "c2")] {
        f.try_send(
            ts,
            json!({"type":"contact_offered","contact":c,"queue":"q"}),
        )
        .unwrap();
    }
    f.try_send(
        "2026-11-23T23:59:50+08:00".parse().unwrap(),
        json!({"type":"agent_state","agent":"a","state":"available"}),
    )
    .unwrap();
    let now: Timestamp = "2026-11-24T00:01:00+08:00".parse().unwrap();
    let b = f.board(now);
    assert_eq!(b.totals[&Window::Today].offered, 1, "yesterday's is gone");
    assert_eq!(
        b.totals[&Window::Min15].offered,
        2,
        "rolling windows span midnight"
    );
    // The agent's time before midnight is yesterday's: 60 s today, 70 s in 15m.
    let today = &b.totals[&Window::Today];
    close(today[KpiKey::Occupancy].value, 0.0);
    // Both contacts still wait: live state does not reset.
    assert_eq!(b.queues["q"].waiting, 2);
    // Just before midnight, both were today (UTC midnight is 08:00 local).
    let b = f.board("2026-11-23T23:59:59+08:00".parse().unwrap());
    assert_eq!(b.totals[&Window::Today].offered, 1);
}

#[test]
fn handle_time_includes_a_wrap_up_that_started_before_the_end() {
    let mut f = Floor::new("");
    f.send(
        "10:00:00",
        json!({"type":"contact_offered","contact":"c","queue":"q"}),
    );
    f.send(
        "10:00:00",
        json!({"type":"contact_answered","contact":"c","agent":"a"}),
    );
    f.send(
        "10:01:00",
        json!({"type":"agent_state","agent":"a","state":"wrap_up"}),
    );
    f.send("10:01:10", json!({"type":"contact_ended","contact":"c"}));
    let k = f.totals(at("10:05:00"), Window::Today);
    assert_eq!(k.handled, 0, "still in wrap-up");
    f.send(
        "10:02:00",
        json!({"type":"agent_state","agent":"a","state":"available"}),
    );
    let k = f.totals(at("10:05:00"), Window::Today);
    assert_eq!(k.handled, 1);
    close(k[KpiKey::AhtSeconds].value, 120.0);
    assert_eq!(k.dispositions, 0, "no `resolved`, no disposition");
}

#[test]
fn handle_time_is_the_same_when_the_wrap_up_arrives_after_the_end() {
    let mut f = Floor::new("");
    f.send(
        "09:59:00",
        json!({"type":"agent_state","agent":"a","state":"available"}),
    );
    f.send(
        "10:00:00",
        json!({"type":"contact_offered","contact":"c","queue":"q"}),
    );
    f.send(
        "10:00:00",
        json!({"type":"contact_answered","contact":"c","agent":"a"}),
    );
    f.send(
        "10:00:00",
        json!({"type":"agent_state","agent":"a","state":"on_contact"}),
    );
    // The end arrives first, the wrap-up that started before it second.
    f.send("10:01:10", json!({"type":"contact_ended","contact":"c"}));
    f.send(
        "10:01:00",
        json!({"type":"agent_state","agent":"a","state":"wrap_up"}),
    );
    f.send(
        "10:02:00",
        json!({"type":"agent_state","agent":"a","state":"available"}),
    );
    let k = f.totals(at("10:05:00"), Window::Today);
    assert_eq!(k.handled, 1);
    close(k[KpiKey::AhtSeconds].value, 120.0);
}

#[test]
fn agent_time_goes_to_the_queues_served_at_the_time() {
    let mut f = Floor::new("");
    f.send(
        "10:00:00",
        json!({"type":"agent_state","agent":"a","state":"available","queues":["q1"]}),
    );
    f.send(
        "10:01:00",
        json!({"type":"agent_state","agent":"a","state":"on_contact","queues":["q2"]}),
    );
    f.send(
        "10:02:00",
        json!({"type":"agent_state","agent":"a","state":"aux"}),
    );
    let b = f.board(at("10:05:00"));
    close(
        b.queues["q1"].windows[&Window::Today][KpiKey::Occupancy].value,
        0.0,
    );
    close(
        b.queues["q2"].windows[&Window::Today][KpiKey::Occupancy].value,
        1.0,
    );
    // A stale event changes neither the state nor the name.
    f.send(
        "09:00:00",
        json!({"type":"agent_state","agent":"a","state":"offline","name":"Old"}),
    );
    let b = f.board(at("10:05:00"));
    assert_eq!(b.agents["a"].state, AgentState::Aux);
    assert_eq!(b.agents["a"].name, None);
}

#[test]
fn rejected_events_change_nothing() {
    let mut f = morning();
    let before = f.board(at("10:05:00"));
    let cases = [
        json!({"type":"contact_answered","contact":"nobody","agent":"a1"}),
        json!({"type":"contact_answered","contact":"c1","agent":"a1"}),
        json!({"type":"contact_abandoned","contact":"c1"}),
        json!({"type":"contact_ended","contact":"c1"}),
        json!({"type":"contact_offered","contact":"c3","queue":"q"}),
        json!({"type":"contact_offered","contact":"c4","queue":"q"}),
        json!({"type":"contact_arrived","contact":"c1"}),
        json!({"type":"complaint_answered","complaint":"nope"}),
    ];
    for case in cases {
        let err = f.try_send(at("10:04:59"), case.clone()).unwrap_err();
        assert!(!err.is_empty(), "{case}");
        assert_eq!(f.board(at("10:05:00")), before, "{case} left a trace");
    }
}

#[test]
fn status_against_the_target() {
    use Direction::*;
    let cases = [
        (HigherIsBetter, 0.85, 0.85, Status::Ok),
        (HigherIsBetter, 0.90, 0.85, Status::Ok),
        (HigherIsBetter, 0.8075, 0.85, Status::Warn), // exactly 5% under
        (HigherIsBetter, 0.8074, 0.85, Status::Breach),
        (LowerIsBetter, 20.0, 20.0, Status::Ok),
        (LowerIsBetter, 21.0, 20.0, Status::Warn),
        (LowerIsBetter, 21.01, 20.0, Status::Breach),
        (HigherIsBetter, 17.0 / 20.0, 0.85, Status::Ok), // not a float miss
    ];
    for (direction, value, target, want) in cases {
        assert_eq!(
            status(direction, Some(value), Some(target), 0.05),
            want,
            "{value} vs {target}"
        );
    }
    assert_eq!(status(HigherIsBetter, None, Some(0.9), 0.05), Status::None);
    assert_eq!(status(HigherIsBetter, Some(0.9), None, 0.05), Status::None);
}

#[test]
fn the_trend_holds_the_last_hour_in_five_minute_slices() {
    let mut f = Floor::new("");
    // 09:41: one caller gives up (slice 09:40–09:45).
    f.send(
        "09:41:00",
        json!({"type":"contact_offered","contact":"c1","queue":"q"}),
    );
    f.send(
        "09:41:30",
        json!({"type":"contact_abandoned","contact":"c1"}),
    );
    // 10:01: one is answered (slice 10:00–10:05, the one running at 10:03).
    f.send(
        "10:00:00",
        json!({"type":"agent_state","agent":"a1","state":"available","queues":["q"]}),
    );
    f.send(
        "10:01:00",
        json!({"type":"contact_offered","contact":"c2","queue":"q"}),
    );
    f.send(
        "10:01:10",
        json!({"type":"agent_state","agent":"a1","state":"on_contact"}),
    );
    f.send(
        "10:01:10",
        json!({"type":"contact_answered","contact":"c2","agent":"a1"}),
    );
    let b = f.board(at("10:03:00"));
    let abandon = &b.trend["abandon_rate"];
    assert_eq!(abandon.len(), 12);
    // Slices start 09:05, 09:10, …, 10:00: 09:40 is the 8th, 10:00 the 12th.
    let mut expected = vec![None; 12];
    expected[7] = Some(1.0);
    expected[11] = Some(0.0);
    assert_eq!(abandon, &expected);
    // Occupancy of the running slice: 1:50 on contact of 3:00 staffed
    // (available 10:00:00–10:01:10, on contact 10:01:10–10:03:00).
    let occupancy = b.trend["occupancy"][11].unwrap();
    assert!((occupancy - 110.0 / 180.0).abs() < 1e-9, "{occupancy}");
    assert_eq!(
        b.trend["occupancy"][10], None,
        "nobody staffed before 10:00"
    );
}

#[test]
fn a_checkpoint_restored_and_continued_gives_the_same_board_at_every_split() {
    // A floor with everything in flight somewhere: waiting callers, an
    // answer whose wrap-up spans the split, a complaint open across it, a
    // survey arriving for a contact that ended before it.
    let events: Vec<(&str, Value)> = vec![
        (
            "09:59:00",
            json!({"type":"agent_state","agent":"a1","state":"available","name":"A1","queues":["q","v"]}),
        ),
        (
            "09:59:30",
            json!({"type":"agent_state","agent":"a2","state":"aux","reason":"lunch","queues":["q"]}),
        ),
        ("10:00:00", json!({"type":"contact_arrived","contact":"c1"})),
        (
            "10:00:00",
            json!({"type":"contact_offered","contact":"c1","queue":"q"}),
        ),
        (
            "10:00:05",
            json!({"type":"contact_offered","contact":"c2","queue":"v","vip":true}),
        ),
        (
            "10:00:10",
            json!({"type":"agent_state","agent":"a1","state":"on_contact"}),
        ),
        (
            "10:00:10",
            json!({"type":"contact_answered","contact":"c1","agent":"a1"}),
        ),
        (
            "10:00:20",
            json!({"type":"complaint_opened","complaint":"k1","queue":"q","grade":"urgent"}),
        ),
        (
            "10:01:00",
            json!({"type":"contact_ended","contact":"c1","resolved":true}),
        ),
        (
            "10:01:00",
            json!({"type":"agent_state","agent":"a1","state":"wrap_up"}),
        ),
        (
            "10:01:30",
            json!({"type":"contact_abandoned","contact":"c2"}),
        ),
        (
            "10:02:00",
            json!({"type":"agent_state","agent":"a1","state":"available"}),
        ),
        (
            "10:02:30",
            json!({"type":"survey_submitted","contact":"c1","score":5,"max":5}),
        ),
        (
            "10:03:00",
            json!({"type":"complaint_answered","complaint":"k1"}),
        ),
        (
            "10:03:10",
            json!({"type":"contact_offered","contact":"c3","queue":"v"}),
        ),
    ];
    let play = |f: &mut Floor, part: &[(&str, Value)]| {
        for (hms, body) in part {
            f.send(hms, body.clone());
        }
    };
    let mut whole = Floor::new("");
    play(&mut whole, &events);
    let now = at("10:04:00");
    let want = serde_json::to_value(whole.board(now)).unwrap();
    for split in 0..=events.len() {
        let mut before = Floor::new("");
        play(&mut before, &events[..split]);
        let bytes = before.agg.checkpoint().unwrap();
        let mut after = Floor::new("");
        after.agg.restore(&bytes).unwrap();
        after.next_id = before.next_id;
        play(&mut after, &events[split..]);
        let got = serde_json::to_value(after.board(now)).unwrap();
        assert_eq!(got, want, "split before event {split}");
    }
    // A damaged checkpoint is refused and changes nothing.
    let bytes = whole.agg.checkpoint().unwrap();
    let mut other = Floor::new("");
    assert!(other.agg.restore(&bytes[..bytes.len() / 2]).is_err());
    let mut forged: Value = serde_json::from_slice(&bytes).unwrap();
    forged["agents"]["a1"]["queues"] = json!([0, 7]);
    let err = other
        .agg
        .restore(forged.to_string().as_bytes())
        .unwrap_err();
    assert!(err.contains("queue"), "{err}");
    assert_eq!(
        serde_json::to_value(other.board(now)).unwrap(),
        serde_json::to_value(Floor::new("").board(now)).unwrap()
    );

    // An older checkpoint, written before some fields existed, is read:
    // what it lacks starts from its default (here a counter, an agent's
    // history and a queue's VIP mark), the rest is as written.
    fn strip(value: &mut Value, keys: &[&str]) -> usize {
        let mut removed = 0;
        match value {
            Value::Object(map) => {
                for key in keys {
                    removed += usize::from(map.remove(*key).is_some());
                }
                for v in map.values_mut() {
                    removed += strip(v, keys);
                }
            }
            Value::Array(items) => items
                .iter_mut()
                .map(|v| removed += strip(v, keys))
                .for_each(drop),
            _ => {}
        }
        removed
    }
    let mut older: Value = serde_json::from_slice(&bytes).unwrap();
    let removed = strip(
        &mut older,
        &["complaints_overdue", "history", "seen_vip", "latest_ts"],
    );
    assert!(removed >= 10, "{removed} fields taken out");
    let mut restored = Floor::new("");
    restored
        .agg
        .restore(older.to_string().as_bytes())
        .expect("an older checkpoint is read");
    let counts = |f: &Floor| {
        let board = serde_json::to_value(f.board(now)).unwrap();
        ["offered", "answered", "abandoned", "handled"]
            .map(|k| board["totals"]["today"][k].clone())
            .to_vec()
    };
    assert_eq!(counts(&restored), counts(&whole));
    assert_eq!(
        restored.board(now).agents.keys().collect::<Vec<_>>(),
        whole.board(now).agents.keys().collect::<Vec<_>>()
    );
}

#[test]
fn handle_time_ends_with_the_contact_when_the_next_state_has_the_same_time() {
    // A PBX reports the end and the agent's new state in the same second,
    // in either order.
    for state_first in [false, true] {
        let mut f = Floor::new("");
        f.send(
            "10:00:00",
            json!({"type":"agent_state","agent":"a1","state":"available","queues":["q"]}),
        );
        f.send(
            "10:00:00",
            json!({"type":"contact_offered","contact":"c1","queue":"q"}),
        );
        f.send(
            "10:00:05",
            json!({"type":"agent_state","agent":"a1","state":"on_contact"}),
        );
        f.send(
            "10:00:05",
            json!({"type":"contact_answered","contact":"c1","agent":"a1"}),
        );
        let end = json!({"type":"contact_ended","contact":"c1"});
        let next = json!({"type":"agent_state","agent":"a1","state":"available"});
        let (first, second) = if state_first {
            (next, end)
        } else {
            (end, next)
        };
        f.send("10:01:05", first);
        f.send("10:01:05", second);
        let today = f.totals(at("10:05:00"), Window::Today);
        assert_eq!(today.handled, 1, "state first: {state_first}");
        close(today[KpiKey::AhtSeconds].value, 60.0);
    }
}

/// An agent's entry carries the limit of its state (and aux reason); a
/// queue's row its place in the config's list.
#[test]
fn agents_carry_their_state_limit_and_queues_their_config_position() {
    let mut f = Floor::new(
        "[state_limits.aux_reasons]\nmeeting = \"1h\"\n[[queues]]\nid = \"second\"\n[[queues]]\nid = \"first\"",
    );
    f.send(
        "10:00:00",
        json!({"type":"agent_state","agent":"m","state":"aux","reason":"meeting","queues":["first"]}),
    );
    f.send(
        "10:00:00",
        json!({"type":"agent_state","agent":"b","state":"aux","reason":"break","queues":["other"]}),
    );
    f.send(
        "10:00:00",
        json!({"type":"agent_state","agent":"v","state":"available","queues":["second"]}),
    );
    let b = f.board(at("10:00:01"));
    assert_eq!(b.agents["m"].limit_seconds, Some(3600));
    assert_eq!(b.agents["b"].limit_seconds, Some(600));
    assert_eq!(b.agents["v"].limit_seconds, None);
    assert_eq!(b.queues["second"].position, Some(0));
    assert_eq!(b.queues["first"].position, Some(1));
    assert_eq!(b.queues["other"].position, None);
    assert_eq!(b.warn_band, 0.05);
    let json = serde_json::to_value(&b).unwrap();
    assert!(
        json["agents"]["v"].get("limit_seconds").is_none(),
        "absent, not null"
    );
}

/// A queue's definition switched live re-evaluates every window at once
/// (the counts behind every definition are kept), and the KPI says which
/// definition its figure uses.
#[test]
fn a_definition_switched_live_reevaluates_every_window_at_once() {
    let mut f = Floor::new("[[queues]]\nid = \"q\"");
    for c in ["c1", "c2", "c3"] {
        f.send(
            "10:00:00",
            json!({"type":"contact_offered","contact":c,"queue":"q"}),
        );
    }
    f.send(
        "10:00:05",
        json!({"type":"contact_answered","contact":"c1","agent":"a"}),
    );
    f.send(
        "10:00:10",
        json!({"type":"contact_abandoned","contact":"c2"}),
    );
    f.send(
        "10:00:40",
        json!({"type":"contact_callback_requested","contact":"c3"}),
    );
    let now = at("10:01:00");
    let sl = |f: &Floor, window| {
        let k = f.queue(now, "q", window)[KpiKey::ServiceLevel];
        (k.value, k.definition.map(|d| d.as_str()))
    };
    assert_eq!(sl(&f, Window::Today), (Some(0.5), Some("hotline")));
    let mut checked = 0;
    for (definition, value) in [
        ("answered_only", 1.0),
        ("abandons_in_threshold_met", 1.0),
        ("connect", 2.0 / 3.0),
        ("hotline", 0.5),
    ] {
        let change = Event {
            id: format!("s-{definition}"),
            ts: at("10:00:50"),
            kind: wallboard_protocol::EventKind::SettingsChanged {
                by: "admin".into(),
                patch: json!({"queues": {"q": {"service_level_definition": definition}}}),
            },
        };
        f.agg.apply(&change, f.now).unwrap();
        for window in Window::ALL {
            let (v, d) = sl(&f, window);
            close(v, value);
            assert_eq!(d, Some(definition), "{window:?}");
            checked += 1;
        }
        let totals = f.totals(now, Window::Today)[KpiKey::ServiceLevel];
        assert_eq!(totals.definition.map(|d| d.as_str()), Some("hotline"));
        close(totals.value, 0.5);
    }
    assert_eq!(checked, 12);
    let b = f.board(now);
    assert_eq!(b.queues["q"].callbacks_pending, 1);
    assert_eq!(b.queues["q"].waiting, 0);
}

/// Same time yesterday: the kept sum (a step's read) equals the plain one,
/// moves with the minute, and takes a late event for yesterday at once.
#[test]
fn same_time_yesterday_is_kept_as_the_plain_sum() {
    let mut f = Floor::new("[[queues]]\nid = \"q\"");
    f.now = at("10:05:00");
    let yesterday = |hms: &str| {
        format!("2026-11-22T{hms}+08:00")
            .parse::<Timestamp>()
            .unwrap()
    };
    let offer = |c: &str| json!({"type":"contact_offered","contact":c,"queue":"q"});
    let answer = |c: &str| json!({"type":"contact_answered","contact":c,"agent":"a"});
    for (c, offered, answered) in [
        ("y1", "09:00:00", "09:00:05"),
        ("y2", "10:04:10", "10:04:50"),
    ] {
        f.try_send(yesterday(offered), offer(c)).unwrap();
        f.try_send(yesterday(answered), answer(c)).unwrap();
    }
    let mut checked = 0;
    let mut check = |f: &mut Floor, now: Timestamp, offered: u64, sl: Option<f64>| {
        let kept = super::changes(&mut f.agg, now, 0).same_time_yesterday;
        let plain = f.board(now).same_time_yesterday;
        assert_eq!(kept, plain, "at {now}");
        let k = kept.expect("yesterday had calls by then");
        assert_eq!(k.offered, offered, "at {now}");
        assert_eq!(k[KpiKey::ServiceLevel].value, sl, "at {now}");
        checked += 1;
    };
    // At 10:04:30 yesterday's span ends before 10:04: y1 alone (in 5 s).
    check(&mut f, at("10:04:30"), 1, Some(1.0));
    // The minute moves on: y2 (offered 10:04:10, answered in 40 s) is in.
    check(&mut f, at("10:05:00"), 2, Some(0.5));
    check(&mut f, at("10:05:59"), 2, Some(0.5));
    // A late event for yesterday lands in the span the step had kept.
    f.try_send(yesterday("09:30:00"), offer("y3")).unwrap();
    check(&mut f, at("10:05:59"), 3, Some(0.5));
    check(&mut f, at("10:06:00"), 3, Some(0.5));
    assert_eq!(checked, 5);
    // Nothing yesterday before 09:00: absent, not zeros.
    assert_eq!(f.board(at("08:59:00")).same_time_yesterday, None);
}
