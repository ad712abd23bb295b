//! Property tests (proptest) on what takes input from outside: the ingest
//! body and event parser, the AMI wire parser and mapper, the merge-patch
//! client. `cargo xtask test` runs 256 cases each (the event properties
//! report how many reached their assertions); a longer run:
//! `PROPTEST_CASES=100000 cargo test --release -p wallboard-tests --test it fuzz::`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};
use wallboard::ingest::body;
use wallboard::sources::ami::mapper::Mapper;
use wallboard::sources::ami::parser::Parser;
use wallboard::sources::freeswitch::mapper::Mapper as EslMapper;
use wallboard::sources::freeswitch::parser::Parser as EslParser;
use wallboard_protocol::stream::{merge_apply, merge_diff, without_nulls};
use wallboard_protocol::{BoardClient, Event};

/// JSON with few distinct keys, so that documents overlap and diffs nest.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[a-c]{0,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-e]", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-e]", json_value(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// Event-shaped objects: known keys with values of any type.
fn event_like() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "id",
        "ts",
        "type",
        "agent",
        "state",
        "reason",
        "name",
        "queues",
        "capacity",
        "contact",
        "queue",
        "vip",
        "blocked",
        "resolved",
        "score",
        "max",
        "complaint",
        "grade",
        "due",
        "extra",
    ]);
    let values = prop_oneof![
        json_value(),
        prop::sample::select(
            wallboard_protocol::EventKind::TYPE_NAMES
                .iter()
                .copied()
                .chain([
                    "available",
                    "aux",
                    "2026-11-23T10:00:00+08:00",
                    "q",
                    "all",
                    "a1",
                    "c1"
                ])
                .collect::<Vec<_>>(),
        )
        .prop_map(|s| json!(s)),
    ];
    prop::collection::btree_map(keys, values, 0..10)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

static ACCEPTED: AtomicUsize = AtomicUsize::new(0);
static MUTATED_ACCEPTED: AtomicUsize = AtomicUsize::new(0);
static MUTATED_REFUSED: AtomicUsize = AtomicUsize::new(0);

/// An identifier as platforms send them.
fn id(prefix: &'static str) -> impl Strategy<Value = String> {
    "[a-z0-9]{1,10}".prop_map(move |s| format!("{prefix}{s}"))
}

/// A valid event of any type, as JSON.
fn valid_event() -> impl Strategy<Value = Value> {
    let ts = prop::sample::select(vec![
        "2026-11-23T10:00:00+08:00",
        "2026-11-23T02:00:00.125Z",
        "2026-11-23T09:59:59+08:00",
    ]);
    let state = prop::sample::select(vec!["available", "on_contact", "wrap_up", "aux", "offline"]);
    let queue = prop::sample::select(vec!["billing", "vip", "general", "q-1"]);
    let kind = prop_oneof![
        (id("a"), state, proptest::option::of("[a-z ]{0,12}"), proptest::option::of("[A-Za-z王芳 ]{1,12}"),
         proptest::option::of(prop::collection::vec(queue.clone(), 0..3)),
         proptest::option::of(prop::collection::btree_map(
             prop::sample::select(vec!["voice", "chat", "email", "callback"]), 0u32..=20, 0..3)))
            .prop_map(|(agent, state, reason, name, queues, capacity)| {
                let mut v = json!({"type": "agent_state", "agent": agent, "state": state});
                if let Some(r) = reason { v["reason"] = json!(r); }
                if let Some(n) = name { v["name"] = json!(n); }
                if let Some(q) = queues { v["queues"] = json!(q); }
                if let Some(c) = capacity { v["capacity"] = json!(c); }
                v
            }),
        (id("c"), any::<bool>()).prop_map(|(c, b)| json!({"type": "contact_arrived", "contact": c, "blocked": b})),
        (id("c"), queue.clone(), proptest::option::of(any::<bool>())).prop_map(|(c, q, vip)| {
            let mut v = json!({"type": "contact_offered", "contact": c, "queue": q});
            if let Some(vip) = vip { v["vip"] = json!(vip); }
            v
        }),
        (id("c"), id("a")).prop_map(|(c, a)| json!({"type": "contact_answered", "contact": c, "agent": a})),
        id("c").prop_map(|c| json!({"type": "contact_abandoned", "contact": c})),
        (id("c"), proptest::option::of(any::<bool>())).prop_map(|(c, r)| {
            let mut v = json!({"type": "contact_ended", "contact": c});
            if let Some(r) = r { v["resolved"] = json!(r); }
            v
        }),
        (id("c"), 0u32..=5).prop_map(|(c, score)| {
            json!({"type": "survey_submitted", "contact": c, "score": score, "max": 5})
        }),
        (queue.clone(), 0u32..=100).prop_map(|(q, score)| {
            json!({"type": "survey_submitted", "queue": q, "score": score})
        }),
        (id("k"), proptest::option::of(queue), prop::sample::select(vec!["a", "b"])).prop_map(|(k, q, g)| {
            let mut v = json!({"type": "complaint_opened", "complaint": k, "grade": g});
            if let Some(q) = q { v["queue"] = json!(q); }
            v
        }),
        id("k").prop_map(|k| json!({"type": "complaint_opened", "complaint": k, "due": "2026-11-24T10:00:00+08:00"})),
        id("k").prop_map(|k| json!({"type": "complaint_answered", "complaint": k})),
    ];
    (id("e"), ts, kind).prop_map(|(id, ts, mut kind)| {
        kind["id"] = json!(id);
        kind["ts"] = json!(ts);
        kind
    })
}

/// Runs after the properties (names sort): how many cases reached their
/// assertions.
#[test]
fn zz_the_event_properties_reached_their_assertions() {
    valid_events_round_trip_and_one_changed_field_is_named();
    let (accepted, changed_accepted, changed_refused) = (
        ACCEPTED.load(Ordering::Relaxed),
        MUTATED_ACCEPTED.load(Ordering::Relaxed),
        MUTATED_REFUSED.load(Ordering::Relaxed),
    );
    println!(
        "valid events accepted and round-tripped: {accepted}; one field changed: {changed_accepted} accepted (round-tripped), {changed_refused} refused naming the field"
    );
    assert!(accepted >= 256, "{accepted}");
    assert!(
        changed_accepted >= 4 && changed_refused >= 64,
        "{changed_accepted} / {changed_refused}"
    );
}

proptest! {
    // `fuzz.proptest-regressions` next to this file (the default would
    // look for `../proptest-regressions/fuzz.txt`, this directory having a
    // `main.rs`); the number of cases still from `PROPTEST_CASES`.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_merge_patch_turns_the_old_board_into_the_new(old in json_object(), new in json_object()) {
        let mut doc = without_nulls(old.clone());
        if let Some(patch) = merge_diff(&old, &new) {
            merge_apply(&mut doc, &patch);
        }
        prop_assert_eq!(doc, without_nulls(new));
    }

    #[test]
    fn the_stream_client_never_panics_and_refuses_gaps(
        board in json_object(),
        patches in prop::collection::vec((0u64..6, json_object()), 0..8),
    ) {
        let mut client = BoardClient::default();
        let snapshot = json!({"type":"snapshot","seq":1,"board":board}).to_string();
        prop_assert!(client.apply_text(&snapshot).is_ok());
        let mut expected = client.seq();
        for (seq, patch) in patches {
            let text = json!({"type":"patch","seq":seq,"patch":patch}).to_string();
            let result = client.apply_text(&text);
            if expected.map(|e| e + 1) == Some(seq) {
                prop_assert!(result.is_ok(), "{:?}", result);
                expected = Some(seq);
            } else {
                prop_assert!(result.is_err(), "seq {} after {:?} was taken", seq, expected);
                break;
            }
        }
        // Garbage is an error, not a panic.
        let garbage = client.apply_text(r#"{"type":"patch""#);
        prop_assert!(garbage.is_err());
    }

    #[test]
    fn any_body_parses_or_is_refused_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = body::parse(&bytes);
    }

    #[test]
    fn event_shaped_objects_parse_or_are_refused_without_panicking(object in event_like()) {
        if let Ok(event) = Event::from_json(&object.to_string()) {
            prop_assert!(event.validate().is_ok());
        }
        // The same objects as a batch: one result per object.
        let batch = Value::Array(vec![object.clone(), object]).to_string();
        let items = body::parse(batch.as_bytes()).expect("a JSON array");
        prop_assert_eq!(items.len(), 2);
    }

    /// Valid events of every type, then each with one field changed (a
    /// value of another shape, removed, or an unknown key added): the
    /// valid one is accepted, what is accepted survives a round trip
    /// unchanged, and what is refused is refused with an error naming the
    /// field (or the type that makes it wrong).
    #[test]
    fn valid_events_round_trip_and_one_changed_field_is_named(
        event in valid_event(),
        field in any::<prop::sample::Index>(),
        change in prop_oneof![
            Just(None),
            json_value().prop_map(Some),
        ],
    ) {
        let text = event.to_string();
        let parsed = Event::from_json(&text);
        prop_assert!(parsed.is_ok(), "a valid event refused: {} → {:?}", text, parsed);
        let parsed = parsed.unwrap();
        prop_assert_eq!(Event::from_json(&serde_json::to_string(&parsed).unwrap()), Ok(parsed));
        ACCEPTED.fetch_add(1, Ordering::Relaxed);

        let fields: Vec<String> = event.as_object().unwrap().keys().cloned().collect();
        let key = field.get(&fields).clone();
        let mut changed = event.clone();
        match &change {
            Some(value) => changed[&key] = value.clone(),
            None => {
                changed.as_object_mut().unwrap().remove(&key);
            }
        }
        match Event::from_json(&changed.to_string()) {
            Ok(again) => {
                prop_assert!(again.validate().is_ok());
                prop_assert_eq!(
                    Event::from_json(&serde_json::to_string(&again).unwrap()),
                    Ok(again)
                );
                MUTATED_ACCEPTED.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                let named = error.contains(&format!("`{key}`"))
                    || error.contains(&format!("{key}:"))
                    || error.contains(&format!("{key}."))
                    || error.contains(&format!("`{key}[]`"))
                    || (key == "type" && error.contains("type"));
                prop_assert!(named, "changing `{}` of {} to {:?}: {}", key, text, change, error);
                MUTATED_REFUSED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn the_ami_parser_and_mapper_take_any_bytes(
        chunks in prop::collection::vec(
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..64),
                prop::sample::select(vec![
                    "Event: QueueCallerJoin\r\nQueue: q\r\nUniqueid: 1.1\r\n\r\n",
                    "Event: AgentConnect\r\nQueue: q\r\nUniqueid: 1.1\r\nInterface: SIP/1\r\nHoldTime: 99999999999\r\n\r\n",
                    "Event: QueueMemberStatus\r\nQueue: q\r\nInterface: SIP/1\r\nStatus: 9\r\nPaused: 1\r\n\r\n",
                    "Event: AgentComplete\r\nQueue: q\r\nUniqueid: 1.1\r\nInterface: SIP/1\r\nTimestamp: 1e300\r\n\r\n",
                    "Response: Follows\r\nPrivilege: Command\r\n",
                    "--END COMMAND--\r\n",
                    "\r\n",
                ])
                .prop_map(|s| s.as_bytes().to_vec()),
            ],
            0..20,
        )
    ) {
        let mut parser = Parser::new();
        let mut mapper = Mapper::new("pbx", BTreeMap::new());
        let now = jiff::Timestamp::now();
        for chunk in chunks {
            for message in parser.feed(&chunk) {
                for event in mapper.on_message(&message, now) {
                    prop_assert!(event.validate().is_ok(), "{:?}", event);
                }
            }
        }
    }

    #[test]
    fn the_event_socket_parser_takes_any_bytes(
        chunks in prop::collection::vec(
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..64),
                prop::sample::select(vec![
                    "Content-Type: auth/request\n\n",
                    "Content-Type: command/reply\nReply-Text: +OK accepted\n\n",
                    "Content-Length: 62\nContent-Type: text/event-plain\n\nEvent-Name: CUSTOM\nCC-Action: member-queue-start\nCC-Queue: q%40d\n\n",
                    "Content-Length: 113\nContent-Type: text/event-plain\n\nEvent-Subclass: callcenter::info\nCC-Action: bridge-agent-start\nCC-Agent: %00\nCC-Member-UUID: m\nEvent-Date-Timestamp: -9\n\n",
                    "Content-Length: 96\nContent-Type: text/event-plain\n\nEvent-Subclass: callcenter::info\nCC-Action: member-queue-start\nCC-Queue: all\nCC-Member-UUID: m\n\n",
                    "Content-Type: api/response\nContent-Length: 4\n\n+OK\n",
                    "Content-Length: 99999999999999999999\n",
                    "Content-Length: 3\n\n",
                    "Content-Length: 12\nContent-Type: text/event-plain\n\nContent-Len",
                    "\n",
                ])
                .prop_map(|s| s.as_bytes().to_vec()),
            ],
            0..20,
        )
    ) {
        let mut parser = EslParser::new();
        let mut mapper = EslMapper::new("fs");
        let now = jiff::Timestamp::now();
        for chunk in chunks {
            for message in parser.feed(&chunk) {
                // A body is exactly what its headers announced.
                let announced = message
                    .get("Content-Length")
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                prop_assert_eq!(message.body.len(), announced);
                if let Some(event) = message.event() {
                    for e in mapper.on_event(&event, now) {
                        // What the server would refuse is only logged,
                        // but a panic or an unbounded id is a bug.
                        prop_assert!(e.id.len() <= wallboard_protocol::event::MAX_ID_BYTES, "{:?}", e);
                    }
                }
                ESL_MESSAGES.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Messages the event socket parser's property saw whole.
static ESL_MESSAGES: AtomicUsize = AtomicUsize::new(0);

#[test]
fn zz_the_event_socket_property_reached_its_assertion() {
    the_event_socket_parser_takes_any_bytes();
    let messages = ESL_MESSAGES.load(Ordering::Relaxed);
    println!("event socket messages read whole and checked: {messages}");
    assert!(messages >= 256, "{messages}");
}
