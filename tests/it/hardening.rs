//! Bad input and greedy clients: each gets its documented status and a
//! JSON error, the server stays up, and what was accepted is unchanged.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use wallboard_tests::TestServer;

const NOW: &str = "2026-11-23T10:00:00+08:00";

fn config(limits: &str) -> String {
    format!("timezone = \"Asia/Shanghai\"\n[limits]\n{limits}\n")
}

async fn server(limits: &str) -> TestServer {
    let s = TestServer::builder(&config(limits))
        .at(NOW.parse().unwrap())
        .start()
        .await;
    let baseline = json!([
        {"id":"b1","ts":NOW,"type":"agent_state","agent":"a1","state":"available","name":"王芳","queues":["q"]},
        {"id":"b2","ts":NOW,"type":"contact_offered","contact":"c1","queue":"q"},
    ]);
    let reply = s
        .post_events(baseline.to_string(), "application/json")
        .await;
    assert_eq!(reply.body["accepted"], 2, "{}", reply.body);
    s
}

/// The board without what moves with the clock.
async fn board(s: &TestServer) -> Value {
    let mut b = s.board().await;
    b["generated_at"] = Value::Null;
    b["seq"] = Value::Null;
    b
}

/// Reads until the server closes the connection, which it must do within
/// 3 s; returns how many bytes came before.
async fn closed_by_server(stream: &mut tokio::net::TcpStream, what: &str) -> usize {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    let mut received = 0;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{what} is closed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{what}: closed after {:?}",
        started.elapsed()
    );
    received
}

fn event(fields: Value) -> Value {
    let mut e = json!({"id":"x","ts":NOW,"type":"contact_offered","contact":"c9","queue":"q"});
    for (k, v) in fields.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

#[tokio::test]
async fn bad_ingest_bodies_get_their_status_and_change_nothing() {
    let s = server("max_batch_events = 1000").await;
    let before = board(&s).await;
    let big = |n: usize| "x".repeat(n);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // (case, content type, body, status, what the error says)
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("truncated JSON", "application/json", br#"{"id":"a","ts":"#.to_vec(), 400, "not valid JSON"),
        ("deep nesting", "application/json", deep.into_bytes(), 200, "expected an event object"),
        ("deep nesting in an event", "application/json", format!("{{\"id\":{}}}", "[".repeat(50_000)).into_bytes(), 400, "not valid JSON"),
        ("NaN", "application/json", br#"{"id":"a","ts":"2026-11-23T10:00:00+08:00","type":"survey_submitted","score":NaN}"#.to_vec(), 400, "not valid JSON"),
        ("Infinity", "application/json", br#"[{"score": Infinity}]"#.to_vec(), 400, "not valid JSON"),
        ("invalid UTF-8", "application/json", b"{\"id\":\"\xff\xfe\"}".to_vec(), 400, "UTF-8"),
        ("empty", "application/json", Vec::new(), 400, "empty"),
        ("a number", "application/json", b"42".to_vec(), 400, "JSON array of events"),
        ("17 MB", "application/x-ndjson", vec![b' '; 17 * 1024 * 1024], 413, "larger than"),
        ("a million events", "application/x-ndjson", b"{}\n".repeat(1_000_000), 413, "max_batch_events"),
        ("huge string", "application/json", event(json!({"type":"agent_state","agent":"a2","state":"aux","reason":big(10 * 1024 * 1024)})).to_string().into_bytes(), 200, "more than 256"),
        ("wrong type", "application/json", event(json!({"ts": 5})).to_string().into_bytes(), 200, "ts"),
        ("unknown type", "application/json", event(json!({"type":"call_started"})).to_string().into_bytes(), 200, "unknown variant"),
        ("far future", "application/json", event(json!({"ts":"2026-11-24T10:00:00+08:00"})).to_string().into_bytes(), 200, "in the future"),
        ("far past", "application/json", event(json!({"ts":"2000-01-01T00:00:00Z"})).to_string().into_bytes(), 200, "too old"),
        ("id too long", "application/json", event(json!({"id": big(200)})).to_string().into_bytes(), 200, "more than 128"),
        ("control characters", "application/json", event(json!({"queue":"q\u{7}"})).to_string().into_bytes(), 200, "control characters"),
        ("queue all", "application/json", event(json!({"queue":"all"})).to_string().into_bytes(), 200, "reserved"),
        ("answer for an unknown contact", "application/json", event(json!({"type":"contact_answered","contact":"nobody","agent":"a1"})).to_string().into_bytes(), 200, "unknown contact"),
    ];
    for (case, content_type, body, status, says) in cases {
        let r = s.post_events(body, content_type).await;
        let (got, reply) = (r.status, r.body);
        assert_eq!(got, status, "{case}: {reply}");
        let error = if status == 200 {
            assert_eq!(reply["accepted"], 0, "{case}: {reply}");
            reply["rejected"][0]["error"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        } else {
            reply["error"].as_str().unwrap_or_default().to_string()
        };
        assert!(
            error.contains(says),
            "{case}: {error:?} should say {says:?}"
        );
        assert_eq!(board(&s).await, before, "{case} changed the board");
    }
    assert_eq!(s.get("/healthz").await.status, 200);
    s.server.stop().await;
}

/// A batch bigger than a second's worth goes when the bucket is full and
/// is charged whole: bigger batches do not pass the rate.
#[tokio::test]
async fn a_batch_over_a_seconds_worth_is_charged_whole() {
    let s = server("ingest_events_per_second = 100").await;
    // The baseline's two events are back in the bucket after 20 ms.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let batch: Vec<Value> = (0..300)
        .map(|i| event(json!({"id": format!("w{i}"), "contact": format!("w{i}")})))
        .collect();
    let first = s
        .post_events(json!(batch).to_string(), "application/json")
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let one = event(json!({"id": "after", "contact": "after"}));
    let r = s.post_events(one.to_string(), "application/json").await;
    assert_eq!(r.status, 429, "{}", r.body);
    let retry = r.body["retry_after"].as_u64().unwrap();
    // 300 events at 100/s: two seconds beyond the first, not one.
    assert!(retry >= 2, "retry in {retry} s after 300 events at 100/s");
    s.server.stop().await;
}

#[tokio::test]
async fn a_sender_over_its_rate_is_told_when_to_retry() {
    let s = server("ingest_events_per_second = 100").await;
    let batch: Vec<Value> = (0..60)
        .map(|i| event(json!({"id": format!("r{i}"), "contact": format!("r{i}")})))
        .collect();
    let first = s
        .post_events(json!(batch).to_string(), "application/json")
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let more: Vec<Value> = (0..60)
        .map(|i| event(json!({"id": format!("s{i}"), "contact": format!("s{i}")})))
        .collect();
    let r = s
        .client
        .post(format!("{}/api/v1/events", s.url))
        .json(&more)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("ingest_events_per_second"),
        "{body}"
    );
    assert_eq!(body["retry_after"], retry);
    // Nothing of the refused batch was applied; after the wait it goes.
    assert_eq!(s.board().await["totals"]["today"]["offered"], 61);
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let again = s
        .post_events(json!(more).to_string(), "application/json")
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    s.server.stop().await;
}

#[tokio::test]
async fn the_board_holds_a_bounded_number_of_queues() {
    let s = server("max_queues = 2").await;
    let reply = s
        .post_events(
            json!([
                event(json!({"id":"q2","contact":"c2","queue":"q2"})),
                event(json!({"id":"q3","contact":"c3","queue":"q3"}))
            ])
            .to_string(),
            "application/json",
        )
        .await;
    assert_eq!(reply.body["accepted"], 1, "{}", reply.body);
    let error = reply.body["rejected"][0]["error"].as_str().unwrap();
    assert!(error.contains("max_queues"), "{error}");
    s.server.stop().await;
}

#[tokio::test]
async fn viewers_are_limited_per_address_and_bad_frames_close_only_their_socket() {
    let s = server("max_viewers_per_ip = 2").await;
    let ws = format!("{}/ws", s.url.replace("http://", "ws://"));
    let (mut first, _) = tokio_tungstenite::connect_async(&ws).await.unwrap();
    let (second, _) = tokio_tungstenite::connect_async(&ws).await.unwrap();
    match tokio_tungstenite::connect_async(&ws).await {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), 429);
            let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
            assert!(body.contains("max_viewers_per_ip"), "{body}");
        }
        other => panic!("a third viewer from one address: {other:?}"),
    }
    // A viewer that sends a 100 KB frame (viewers send only pongs) is
    // closed; the others go on.
    first.send(Message::text("x".repeat(100 * 1024))).await.ok();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = first.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the oversized frame closes its socket");
    drop(first);
    drop(second);
    // Their places are given back.
    let mut reopened = None;
    for _ in 0..50 {
        if let Ok((socket, _)) = tokio_tungstenite::connect_async(&ws).await {
            reopened = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened.is_some(), "a place is free again");
    assert_eq!(s.get("/healthz").await.status, 200);
    s.server.stop().await;
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let s = server("header_timeout = \"500ms\"\nrequest_timeout = \"1s\"").await;
    let addr = s.url.trim_start_matches("http://").to_string();
    // Slow-loris: headers that never end.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    closed_by_server(&mut slow, "a connection whose headers never end").await;
    // A client that connects and says nothing is cut too, with nothing said.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert_eq!(
        closed_by_server(&mut silent, "a silent connection").await,
        0
    );
    // A body that stops coming: 408 with a JSON error.
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{\"id\"")
        .await
        .unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stalled.read(&mut buf).await {
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert_eq!(s.get("/healthz").await.status, 200);
    s.server.stop().await;
}
