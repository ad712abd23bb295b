//! Scripted scenarios with hand-computed boards (`tests/scenarios/`): the
//! events are POSTed to the application (in process, request by request)
//! whose clock reads the scenario's
//! `now`, and `GET /api/v1/board` must match what DESIGN.md's definitions
//! give.

use serde_json::Value;
use wallboard_tests::{TestApp, TestServer, assert_subset, comparable, fixture};

struct Scenario {
    name: String,
    events: String,
    expected: Value,
}

fn scenarios() -> Vec<Scenario> {
    let dir = fixture("scenarios");
    let mut found: Vec<Scenario> = std::fs::read_dir(&dir)
        .expect("tests/scenarios")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".ndjson")?
                .to_string();
            let expected = std::fs::read_to_string(dir.join(format!("{name}.expected.json")))
                .unwrap_or_else(|_| panic!("{name}.expected.json is missing"));
            Some(Scenario {
                events: std::fs::read_to_string(&path).ok()?,
                expected: serde_json::from_str(&expected).expect("expected JSON"),
                name,
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(found.len() >= 2, "scenarios missing from {}", dir.display());
    found
}

fn server_for(expected: &Value) -> TestApp {
    let config = expected["config"].as_str().unwrap_or("");
    let now = expected["now"]
        .as_str()
        .expect("now")
        .parse()
        .expect("RFC 3339");
    TestServer::builder(config).at(now).app()
}

#[tokio::test]
async fn every_scenario_yields_its_hand_computed_board() {
    for scenario in scenarios() {
        let server = server_for(&scenario.expected);
        let reply = server
            .post_events(scenario.events.clone(), "application/x-ndjson")
            .await;
        assert_eq!(reply.status, 200, "{}: {}", scenario.name, reply.body);

        let mut want_response = scenario.expected["response"].clone();
        // `error_contains` is checked here; the rest by subset.
        if let Some(rejected) = want_response["rejected"].as_array_mut() {
            for (i, want) in rejected.iter_mut().enumerate() {
                if let Some(fragment) = want
                    .as_object_mut()
                    .and_then(|o| o.remove("error_contains"))
                {
                    let got = reply.body["rejected"][i]["error"].as_str().unwrap_or("");
                    assert!(
                        got.contains(fragment.as_str().unwrap()),
                        "{}: rejected[{i}] says {got:?}, want {fragment}",
                        scenario.name
                    );
                }
            }
        }
        assert_subset(
            &reply.body,
            &want_response,
            &format!("{}: response", scenario.name),
        );

        let board = server.board().await;
        assert_subset(
            &board,
            &scenario.expected["board"],
            &format!("{}: board", scenario.name),
        );
    }
}

#[tokio::test]
async fn order_of_arrival_and_batching_do_not_change_the_board() {
    let scenario = scenarios()
        .into_iter()
        .find(|s| s.name == "morning_two_queues")
        .unwrap();
    let lines: Vec<&str> = scenario.events.lines().collect();
    let in_order = {
        let server = server_for(&scenario.expected);
        server
            .post_events(scenario.events.clone(), "application/x-ndjson")
            .await;
        comparable(server.board().await)
    };

    // Each agent's and each contact's own events stay in order (a source
    // cannot answer a call before offering it), but the streams interleave
    // differently: all agent events first, or all contact events first, in
    // batches of 5 sent as JSON arrays.
    let is_agent = |line: &&str| line.contains("\"agent_state\"");
    let agents_first: Vec<&str> = lines
        .iter()
        .copied()
        .filter(is_agent)
        .chain(lines.iter().copied().filter(|l| !is_agent(l)))
        .collect();
    let contacts_first: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !is_agent(l))
        .chain(lines.iter().copied().filter(is_agent))
        .collect();
    for order in [agents_first, contacts_first] {
        let server = server_for(&scenario.expected);
        for batch in order.chunks(5) {
            let body = format!("[{}]", batch.join(","));
            let reply = server.post_events(body, "application/json").await;
            assert_eq!(reply.status, 200);
            assert_eq!(reply.body["rejected"], serde_json::json!([]), "{batch:?}");
        }
        assert_eq!(comparable(server.board().await), in_order);
    }
}

#[tokio::test]
async fn resending_everything_gives_only_duplicates() {
    let scenario = scenarios().into_iter().next().unwrap();
    let server = server_for(&scenario.expected);
    let first = server
        .post_events(scenario.events.clone(), "application/x-ndjson")
        .await;
    let board = comparable(server.board().await);
    let again = server
        .post_events(scenario.events.clone(), "application/x-ndjson")
        .await;
    let lines = scenario
        .events
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64;
    let rejected = first.body["rejected"].as_array().unwrap().len() as u64;
    assert_eq!(again.body["accepted"], 0);
    assert_eq!(
        again.body["duplicates"].as_u64().unwrap() + rejected,
        lines,
        "every accepted event is now a duplicate; rejected ones are rejected again"
    );
    assert_eq!(comparable(server.board().await), board);
}

/// The foresight scenario's figures reach `/metrics` as the board has them,
/// and a queue without data has no sample (never a made-up 0).
#[tokio::test]
async fn foresight_reaches_the_metrics() {
    let scenario = scenarios()
        .into_iter()
        .find(|s| s.name == "foresight_erlang_c")
        .unwrap();
    let server = server_for(&scenario.expected);
    let reply = server
        .post_events(scenario.events.clone(), "application/x-ndjson")
        .await;
    assert_eq!(reply.status, 200);
    // A queue with one caller still waiting and no history.
    let late = r#"{"id":"z1","ts":"2026-11-23T10:19:59+08:00","type":"contact_offered","contact":"z","queue":"quiet"}"#;
    server.post_events(late, "application/x-ndjson").await;
    let response = server
        .send(
            axum::http::Request::get("/metrics")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    let text = String::from_utf8(response.body().to_vec()).unwrap();
    let sample = |line: &str| {
        text.lines()
            .find(|l| l.starts_with(line))
            .map(|l| l[line.len()..].trim().parse::<f64>().unwrap())
    };
    assert_eq!(
        sample(r#"wallboard_queue_agents_needed{queue="sales"}"#),
        Some(4.0)
    );
    assert_eq!(
        sample(r#"wallboard_queue_agents_staffed{queue="sales"}"#),
        Some(3.0)
    );
    let wait = sample(r#"wallboard_queue_estimated_wait_seconds{queue="sales"}"#).unwrap();
    assert!((wait - 200.0 / 3.0).abs() < 1e-9, "{wait}");
    let projected = sample(r#"wallboard_queue_service_level_projected{queue="sales"}"#).unwrap();
    assert!(
        (projected - 0.767_976_179_487_747_9).abs() < 1e-9,
        "{projected}"
    );
    assert_eq!(
        sample(r#"wallboard_queue_agents_needed{queue="quiet"}"#),
        None
    );
    assert_eq!(
        sample(r#"wallboard_queue_estimated_wait_seconds{queue="quiet"}"#),
        None
    );
    assert_eq!(
        sample(r#"wallboard_queue_agents_staffed{queue="quiet"}"#),
        Some(0.0)
    );
}
