//! `POST /api/v1/events`, request by request through the router: the
//! formats it takes, and every kind of bad input getting its documented
//! status and reason while the board keeps exactly what was accepted
//! before.

use serde_json::{Value, json};
use wallboard_tests::{TestApp, TestServer, event};

const NOW: &str = "2026-11-23T10:00:30+08:00";

fn server() -> TestApp {
    TestServer::builder("timezone = \"Asia/Shanghai\"")
        .at(NOW.parse().unwrap())
        .app()
}

fn offered(id: &str, contact: &str) -> Value {
    event(
        id,
        "2026-11-23T10:00:00+08:00",
        json!({"type":"contact_offered","contact":contact,"queue":"q"}),
    )
}

/// The board without `generated_at` (which moves with the clock).
async fn board(server: &TestApp) -> Value {
    let mut b = server.board().await;
    b.as_object_mut().unwrap().remove("generated_at");
    b
}

#[tokio::test]
async fn accepts_an_array_one_object_or_ndjson() {
    let s = server();
    let r = s
        .post_events(
            json!([offered("1", "c1"), offered("2", "c2")]).to_string(),
            "application/json",
        )
        .await;
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"accepted":2,"duplicates":0,"rejected":[]}))
    );
    let r = s
        .post_events(offered("3", "c3").to_string(), "application/json")
        .await;
    assert_eq!(r.body["accepted"], 1);
    let ndjson = format!("{}\n{}\n", offered("4", "c4"), offered("5", "c5"));
    let r = s.post_events(ndjson, "application/x-ndjson").await;
    assert_eq!(r.body["accepted"], 2);
    assert_eq!(s.board().await["queues"]["q"]["waiting"], 5);
}

#[tokio::test]
async fn unparseable_bodies_are_refused_whole_with_line_and_column() {
    let s = server();
    s.post_events(offered("0", "c0").to_string(), "application/json")
        .await;
    let before = board(&s).await;

    // Line 2 is broken: line 1, although valid, must not be applied.
    let body = format!("{}\n{{\"id\":\"2\", oops}}\n", offered("1", "c1"));
    let r = s.post_events(body, "application/x-ndjson").await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .starts_with("body is not valid JSON"),
        "{}",
        r.body
    );
    assert_eq!(
        (r.body["line"].as_u64(), r.body["column"].as_u64()),
        (Some(2), Some(12))
    );

    for (body, want) in [
        (&b"not json"[..], "not valid JSON"),
        (b"[{\"id\":\"1\"", "not valid JSON"),
        (b"", "empty"),
        (b"42", "must be a JSON array"),
        (b"{\"id\":\"\xff\xfe\"}", "not valid UTF-8"),
    ] {
        let r = s.post_events(body.to_vec(), "application/json").await;
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert!(
            r.body["error"].as_str().unwrap().contains(want),
            "{}",
            r.body
        );
    }
    assert_eq!(
        board(&s).await,
        before,
        "nothing of a refused body is applied"
    );
}

#[tokio::test]
async fn each_bad_event_is_reported_by_index_and_the_rest_applied() {
    let s = server();
    let ts = "2026-11-23T10:00:00+08:00";
    let batch = json!([
        offered("ok-1", "c1"),
        {"ts": ts, "type": "contact_offered", "contact": "x", "queue": "q"},
        {"id": "no-ts", "type": "contact_offered", "contact": "x", "queue": "q"},
        event("bad-type", ts, json!({"type":"contact_teleported","contact":"x"})),
        event("wrong-type", ts, json!({"type":"contact_offered","contact":42,"queue":"q"})),
        event("neg", ts, json!({"type":"survey_submitted","queue":"q","score":-1})),
        event("over", ts, json!({"type":"survey_submitted","queue":"q","score":6,"max":5})),
        event("ghost", ts, json!({"type":"contact_answered","contact":"ghost","agent":"a"})),
        event("future", "2026-11-23T11:00:00+08:00", json!({"type":"contact_arrived","contact":"f"})),
        event("no-offset", "2026-11-23T10:00:00", json!({"type":"contact_arrived","contact":"n"})),
        event(&"x".repeat(129), ts, json!({"type":"contact_arrived","contact":"long"})),
        "a string",
        event("ancient", "-009999-01-02T12:00:00Z", json!({"type":"agent_state","agent":"x","state":"available"})),
        offered("ok-2", "c2"),
    ]);
    let r = s.post_events(batch.to_string(), "application/json").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["accepted"], 2);
    let rejected = r.body["rejected"].as_array().unwrap();
    let expect = [
        (1, "missing field `id`"),
        (2, "missing field `ts`"),
        (3, "unknown variant `contact_teleported`"),
        (4, "invalid type: integer `42`, expected a string"),
        (5, "`score` must be 0 or more"),
        (6, "above `max`"),
        (7, "contact_answered: unknown contact \"ghost\""),
        (8, "in the future"),
        (9, "offset"),
        (10, "more than 128"),
        (11, "expected an event object"),
        (12, "too old"),
    ];
    assert_eq!(rejected.len(), expect.len(), "{rejected:#?}");
    for ((index, fragment), got) in expect.iter().zip(rejected) {
        assert_eq!(got["index"], *index);
        let error = got["error"].as_str().unwrap();
        assert!(
            error.contains(fragment),
            "index {index}: {error:?} lacks {fragment:?}"
        );
    }
    let b = s.board().await;
    assert_eq!(b["queues"]["q"]["waiting"], 2, "the two valid offers");
    assert_eq!(b["totals"]["today"]["surveys"], 0);
    assert_eq!(b["totals"]["today"]["arrived"], 0);
}

#[tokio::test]
async fn repeated_ids_are_dropped_and_counted() {
    let s = server();
    let body = json!([offered("1", "c1"), offered("1", "c1")]).to_string();
    let r = s.post_events(body.clone(), "application/json").await;
    assert_eq!(r.body, json!({"accepted":1,"duplicates":1,"rejected":[]}));
    let before = board(&s).await;
    let r = s.post_events(body, "application/json").await;
    assert_eq!(r.body, json!({"accepted":0,"duplicates":2,"rejected":[]}));
    let after = board(&s).await;
    assert_eq!(after["totals"], before["totals"]);
    assert_eq!(after["totals"]["today"]["offered"], 1);
    // The version only moves when something was applied.
    assert_eq!(after["seq"], before["seq"]);
}

#[tokio::test]
async fn a_rejected_event_id_can_be_sent_again_once_fixed() {
    let s = server();
    let answer = event(
        "ans",
        "2026-11-23T10:00:10+08:00",
        json!({"type":"contact_answered","contact":"c1","agent":"a"}),
    );
    let r = s.post_events(answer.to_string(), "application/json").await;
    assert_eq!(r.body["rejected"][0]["index"], 0);
    s.post_events(offered("off", "c1").to_string(), "application/json")
        .await;
    let r = s.post_events(answer.to_string(), "application/json").await;
    assert_eq!(r.body["accepted"], 1, "{}", r.body);
    assert_eq!(s.board().await["totals"]["today"]["answered"], 1);
}

#[tokio::test]
async fn oversized_bodies_get_413_and_the_server_stays_up() {
    let s = server();
    let huge = vec![b' '; wallboard::ingest::http::MAX_BODY_BYTES + 1];
    let r = s.post_events(huge, "application/json").await;
    assert_eq!(r.status, 413);
    assert!(r.body["error"].as_str().unwrap().contains("larger than"));
    assert_eq!(s.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn health_readiness_and_unknown_paths() {
    let s = server();
    let r = s.get("/healthz").await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ok")));
    let r = s.get("/readyz").await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ready")));
    let r = s.get("/api/v1/nothing").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "no such endpoint");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let s = server();
    for (method, path) in [
        ("GET", "/api/v1/nothing"),
        ("GET", "/healthz"),
        ("GET", "/api/v1/board"),
        ("POST", "/api/v1/events"),
        ("GET", "/"),
    ] {
        let response = s
            .send(
                axum::http::Request::builder()
                    .method(method)
                    .uri(path)
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from("{"))
                    .unwrap(),
            )
            .await;
        let headers = response.headers();
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "DENY"),
        ] {
            assert_eq!(
                headers.get(name).map(|v| v.to_str().unwrap()),
                Some(value),
                "{method} {path} ({}): {name}",
                response.status()
            );
        }
    }
}
