//! Property tests (proptest) on what takes input from outside: the ingest
//! body and event parser, the AMI wire parser and mapper, the merge-patch
//! client. `cargo xtask test` runs 256 cases each; a longer run:
//! `PROPTEST_CASES=100000 cargo test --release -p wallboard-tests --test fuzz`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use wallboard::ingest::body;
use wallboard::sources::ami::mapper::Mapper;
use wallboard::sources::ami::parser::Parser;
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

proptest! {
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
    fn an_accepted_event_survives_a_round_trip(object in event_like()) {
        if let Ok(event) = Event::from_json(&object.to_string()) {
            prop_assert!(event.validate().is_ok());
            let again = Event::from_json(&serde_json::to_string(&event).unwrap());
            prop_assert_eq!(again, Ok(event));
        }
        // The same objects as a batch: one result per object.
        let batch = Value::Array(vec![object.clone(), object]).to_string();
        let items = body::parse(batch.as_bytes()).expect("a JSON array");
        prop_assert_eq!(items.len(), 2);
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
}
