//! The auth matrix: every endpoint × {no token, a wrong one, each role, an
//! ingest token}, by header and by URL; what an agent's token receives over
//! `/ws`; cross-site WebSockets.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use wallboard::auth::hash_token;
use wallboard_tests::TestServer;

/// The tokens of the test config, by what they are.
const TOKENS: [(&str, Option<&str>); 6] = [
    ("none", None),
    ("wrong", Some("not-a-token")),
    ("supervisor", Some("sup-1")),
    ("agent", Some("agent-1")),
    ("kiosk", Some("tv-1")),
    ("ingest", Some("in-1")),
];

fn config() -> String {
    format!(
        r#"timezone = "Asia/Shanghai"

[auth]
ingest_tokens = [{{ name = "pbx", sha256 = "{}" }}]
viewer_tokens = [
  {{ name = "boss", role = "supervisor", sha256 = "{}" }},
  {{ name = "desk-7", role = "agent", sha256 = "{}" }},
  {{ name = "floor-tv", role = "kiosk", sha256 = "{}" }},
]

[[sources]]
kind = "webhook"
name = "hook"
[[sources.mappings]]
type = "contact_offered"
fields.id = "/id"
fields.contact = "/contact"
fields.queue = "/queue"
"#,
        hash_token("in-1"),
        hash_token("sup-1"),
        hash_token("agent-1"),
        hash_token("tv-1"),
    )
}

async fn server() -> TestServer {
    let s = TestServer::builder(&config()).start().await;
    // A named agent on the floor: only supervisors and the TV may see them.
    let reply = s
        .client
        .post(format!("{}/api/v1/events", s.url))
        .bearer_auth("in-1")
        .json(&json!({"id":"a1","ts":jiff::Timestamp::now().to_string(),"type":"agent_state","agent":"a1","state":"available","name":"王芳","queues":["q"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    s
}

/// The status of a WebSocket handshake (101 when it opened).
async fn ws_status(url: &str, bearer: Option<&str>, origin: Option<&str>) -> u16 {
    let mut request = url.into_client_request().unwrap();
    if let Some(token) = bearer {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("{url}: {e}"),
    }
}

#[tokio::test]
async fn every_endpoint_by_token() {
    let s = server().await;
    let ws = s.url.replace("http://", "ws://");
    // (what, expected status for none, wrong, supervisor, agent, kiosk, ingest)
    let reads: [(&str, [u16; 6]); 6] = [
        ("/api/v1/board", [401, 401, 200, 200, 200, 401]),
        ("/api/v1/board?view=floor", [401, 401, 200, 403, 200, 401]),
        ("/api/v1/board?view=agent", [401, 401, 200, 200, 403, 401]),
        (
            "/api/v1/board?view=queue&queue=q",
            [401, 401, 200, 403, 403, 401],
        ),
        ("/metrics", [401, 401, 200, 403, 403, 401]),
        ("/healthz", [200; 6]),
    ];
    for (path, want) in reads {
        for ((who, token), want) in TOKENS.iter().zip(want) {
            // By header, and by URL (a TV's link).
            let mut request = s.client.get(format!("{}{path}", s.url));
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_eq!(status, want, "GET {path} with {who}: {body}");
            if status >= 400 {
                let error: Value = serde_json::from_str(&body).unwrap();
                assert!(error["error"].is_string(), "{body}");
            }
            if let (Some(t), false) = (token, path == "/healthz") {
                let sep = if path.contains('?') { '&' } else { '?' };
                let by_url = s
                    .client
                    .get(format!("{}{path}{sep}token={t}", s.url))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    by_url.status().as_u16(),
                    want,
                    "GET {path} with {who} in the URL"
                );
            }
        }
    }
    // What each role's board holds: the agent view has no agents.
    for (token, names_seen) in [("sup-1", true), ("agent-1", false), ("tv-1", true)] {
        let body = s
            .client
            .get(format!("{}/api/v1/board", s.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body.contains("王芳"), names_seen, "{token}: {body}");
    }

    let sockets: [(&str, [u16; 6]); 3] = [
        ("/ws", [401, 401, 101, 101, 101, 401]),
        ("/ws?view=floor", [401, 401, 101, 403, 101, 401]),
        ("/ws?view=agent", [401, 401, 101, 101, 403, 401]),
    ];
    for (path, want) in sockets {
        for ((who, token), want) in TOKENS.iter().zip(want) {
            let status = ws_status(&format!("{ws}{path}"), *token, None).await;
            assert_eq!(status, want, "{path} with {who}");
        }
    }

    let writes = [
        (
            "/api/v1/events",
            json!({"id":"e9","ts":jiff::Timestamp::now().to_string(),"type":"contact_offered","contact":"c9","queue":"q"}),
        ),
        (
            "/api/v1/sources/hook/webhook",
            json!({"id":"w1","contact":"c10","queue":"q"}),
        ),
    ];
    for (path, body) in writes {
        for (who, token) in TOKENS {
            let mut request = s.client.post(format!("{}{path}", s.url)).json(&body);
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            let response = request.send().await.unwrap();
            let want = if who == "ingest" { 200 } else { 401 };
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert_eq!(status, want, "POST {path} with {who}: {text}");
        }
    }
    // A webhook platform that cannot set headers puts the token in the URL.
    let r = s
        .client
        .post(format!("{}/api/v1/sources/hook/webhook?token=in-1", s.url))
        .json(&json!({"id":"w2","contact":"c11","queue":"q"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Events proper take the header only, even with the right token.
    let r = s
        .client
        .post(format!("{}/api/v1/events?token=in-1", s.url))
        .json(&json!({"id":"q1","ts":"2026-11-23T10:00:00+08:00","type":"contact_offered","contact":"c12","queue":"q"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{body}"
    );
    s.server.stop().await;
}

#[tokio::test]
async fn an_agent_token_never_receives_another_agents_name_over_the_socket() {
    let s = server().await;
    let ws = s.url.replace("http://", "ws://");
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{ws}/ws?token=agent-1"))
        .await
        .unwrap();
    // The floor changes while the agent watches: a state, a new named agent.
    for (i, body) in [
        json!({"type":"agent_state","agent":"a1","state":"aux","reason":"lunch"}),
        json!({"type":"agent_state","agent":"a2","state":"available","name":"李娜","queues":["q"]}),
        json!({"type":"contact_offered","contact":"c1","queue":"q"}),
    ]
    .into_iter()
    .enumerate()
    {
        let mut event = body;
        event["id"] = json!(format!("x{i}"));
        event["ts"] = json!(jiff::Timestamp::now().to_string());
        let r = s
            .client
            .post(format!("{}/api/v1/events", s.url))
            .bearer_auth("in-1")
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let mut texts = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    let mut saw_waiting = false;
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
        if let Message::Text(text) = message {
            saw_waiting |= text.contains("\"waiting\":1");
            texts.push(text.to_string());
        }
    }
    assert!(saw_waiting, "the agent view does get the queue: {texts:?}");
    for text in &texts {
        for secret in ["王芳", "李娜", "\"a1\"", "\"a2\"", "lunch"] {
            assert!(
                !text.contains(secret),
                "{secret} reached an agent token: {text}"
            );
        }
    }
    s.server.stop().await;
}

#[tokio::test]
async fn a_page_on_another_site_cannot_open_a_viewers_socket() {
    let s = server().await;
    let ws = s.url.replace("http://", "ws://");
    let host = s.url.trim_start_matches("http://");
    let own = format!("http://{host}");
    assert_eq!(
        ws_status(&format!("{ws}/ws"), Some("sup-1"), Some(&own)).await,
        101
    );
    assert_eq!(
        ws_status(
            &format!("{ws}/ws"),
            Some("sup-1"),
            Some("http://evil.example")
        )
        .await,
        403
    );
    s.server.stop().await;
}
