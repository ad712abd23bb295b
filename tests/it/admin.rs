//! Supervisor controls: who may change what, live settings (validated,
//! applied at the next step, durable, audited), the config file's reload,
//! broadcast messages and saved layouts, as a viewer sees them.

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use wallboard::auth::hash_token;
use wallboard::clock::Clock;
use wallboard_tests::{BinaryServer, Reply, TestApp, TestServer, Viewer, event, temp_dir};

const ZONE: &str = "timezone = \"Asia/Shanghai\"\n";

/// A config with a token per role (the token's text is its role's name).
fn tokens_config() -> String {
    let token = |name: &str| {
        format!(
            "{{ name = \"{name}-token\", role = \"{name}\", sha256 = \"{}\" }}",
            hash_token(name)
        )
    };
    format!(
        "{ZONE}[auth]\nviewer_tokens = [{}, {}, {}, {}]\n",
        token("admin"),
        token("supervisor"),
        token("agent"),
        token("kiosk")
    )
}

fn request(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

/// The same request to a server over HTTP.
async fn call(
    url: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), format!("{url}{path}"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply { status, body }
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("wallboard.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every admin endpoint against every role: allowed (2xx), 401 without a
/// known token, 403 for a role below the endpoint's need.
#[tokio::test]
async fn each_role_against_each_endpoint() {
    let dir = temp_dir("wallboard-admin-");
    let path = write_config(dir.path(), &tokens_config());
    let app: TestApp = TestServer::from_file(&path).app();
    let admin = Some("admin");
    // A message and a layout to read and delete, made afresh before each
    // delete that should succeed.
    let make_message = || async {
        let r = app
            .reply(request(
                "POST",
                "/api/v1/messages",
                admin,
                Some(json!({"text":"x","severity":"info","ttl_seconds":600})),
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    };
    let make_layout = || async {
        let r = app
            .reply(request(
                "PUT",
                "/api/v1/layouts/lobby",
                admin,
                Some(json!({"pages":["overview"]})),
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    };
    make_layout().await;

    // (method, path, body, who may: supervisor?)
    let message_body = json!({"text":"hello","severity":"info","ttl_seconds":60});
    let endpoints: Vec<(&str, &str, Option<Value>, bool)> = vec![
        ("GET", "/api/v1/settings", None, true),
        (
            "PATCH",
            "/api/v1/settings",
            Some(json!({"warn_band":0.06})),
            false,
        ),
        ("POST", "/api/v1/settings/reload", None, false),
        ("GET", "/api/v1/messages", None, true),
        ("POST", "/api/v1/messages", Some(message_body.clone()), true),
        ("DELETE", "/api/v1/messages/{id}", None, true),
        ("GET", "/api/v1/layouts", None, true),
        ("GET", "/api/v1/layouts/lobby", None, true),
        (
            "PUT",
            "/api/v1/layouts/lobby",
            Some(json!({"pages":["queues"]})),
            false,
        ),
        ("DELETE", "/api/v1/layouts/lobby", None, false),
    ];
    let mut checked = 0;
    for (method, path, body, supervisor_may) in &endpoints {
        for (token, want) in [
            (None, 401),
            (Some("not-a-token"), 401),
            (Some("agent"), 403),
            (Some("kiosk"), 403),
            (Some("supervisor"), if *supervisor_may { 200 } else { 403 }),
            (Some("admin"), 200),
        ] {
            let mut path = path.to_string();
            if path.contains("{id}") {
                path = path.replace("{id}", &make_message().await);
            }
            if *method == "DELETE" && path.contains("layouts") {
                make_layout().await;
            }
            let reply = app.reply(request(method, &path, token, body.clone())).await;
            assert_eq!(
                reply.status, want,
                "{method} {path} with {token:?}: {}",
                reply.body
            );
            if want != 200 {
                let error = reply.body["error"].as_str().unwrap_or_default();
                assert!(!error.is_empty(), "{method} {path}: {}", reply.body);
                if want == 403 {
                    assert!(error.contains(token.unwrap()), "names the role: {error}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, endpoints.len() * 6);
    // What the supervisor did is theirs; what the admin did, the admin's.
    let settings = app
        .reply(request("GET", "/api/v1/settings", admin, None))
        .await;
    let audit = settings.body["audit"].as_array().unwrap();
    assert!(!audit.is_empty());
    assert!(audit.iter().all(|a| a["by"] == "admin-token"), "{audit:?}");
    let messages = app
        .reply(request("GET", "/api/v1/messages", admin, None))
        .await;
    let by: Vec<&str> = messages.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["by"].as_str().unwrap())
        .collect();
    assert!(
        by.contains(&"supervisor-token") && by.contains(&"admin-token"),
        "{by:?}"
    );
}

/// Without viewer tokens anyone on the LAN reads, and changes come from
/// this machine only, as ingest does.
#[tokio::test]
async fn open_lan_mode_changes_from_this_machine_only() {
    let app = TestServer::builder(ZONE).app();
    let lan: std::net::SocketAddr = "10.1.2.3:5000".parse().unwrap();
    let read = app
        .send_from(lan, request("GET", "/api/v1/settings", None, None))
        .await;
    assert_eq!(read.status(), 200);
    for (method, path, body) in [
        ("PATCH", "/api/v1/settings", json!({"warn_band":0.1})),
        (
            "POST",
            "/api/v1/messages",
            json!({"text":"x","severity":"info","ttl_seconds":60}),
        ),
        ("PUT", "/api/v1/layouts/tv", json!({})),
    ] {
        let answer = app
            .send_from(lan, request(method, path, None, Some(body.clone())))
            .await;
        assert_eq!(answer.status(), 403, "{method} {path}");
        let error: Value = serde_json::from_slice(answer.body()).unwrap();
        assert!(
            error["error"]
                .as_str()
                .unwrap()
                .contains("this machine only"),
            "{error}"
        );
        let local = app.reply(request(method, path, None, Some(body))).await;
        assert_eq!(
            local.status, 200,
            "{method} {path} from this machine: {}",
            local.body
        );
    }
    let settings = app.get("/api/v1/settings").await.body;
    assert_eq!(settings["effective"]["warn_band"], json!(0.1));
    assert_eq!(settings["audit"][0]["by"], "local");
    // A page on another site in this machine's browser cannot post one:
    // not as a form or no-CORS text, not from its origin.
    let text = app
        .reply(
            Request::post("/api/v1/messages")
                .header("content-type", "text/plain")
                .body(Body::from(
                    r#"{"text":"x","severity":"info","ttl_seconds":60}"#,
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(text.status, 415, "{}", text.body);
    let cross_site = app
        .reply(
            Request::post("/api/v1/settings/reload")
                .header("origin", "https://evil.example")
                .header("host", "127.0.0.1:8080")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(cross_site.status, 403, "{}", cross_site.body);
    assert!(
        cross_site.body["error"]
            .as_str()
            .unwrap()
            .contains("evil.example")
    );
}

/// A patch that breaks a rule is 400 naming the field, and nothing of it
/// applies: not the settings, not the board, not the audit.
#[tokio::test]
async fn a_bad_patch_names_its_field_and_changes_nothing() {
    let app = TestServer::builder(ZONE).app();
    let before = app.get("/api/v1/settings").await.body;
    let board_before = app.board().await;
    let cases = [
        (
            json!({"targets": {"service_level": "high"}}),
            "targets.service_level",
            "invalid type",
        ),
        (
            json!({"targets": {"service_level": 0.9}, "colour": "red"}),
            "colour",
            "unknown field",
        ),
        (
            json!({"targets": {"service_level": 1.2}}),
            "targets.service_level",
            "0..=1",
        ),
        (
            json!({"targets": {"satisfaction": 120}}),
            "targets.satisfaction",
            "0..=100",
        ),
        (
            json!({"queues": {"q1": {"service_level_seconds": -5}}}),
            "queues.q1.service_level_seconds",
            "outside",
        ),
        (
            json!({"queues": {"q1": {"targets": {"warp": 1}}}}),
            "queues.q1.targets.warp",
            "not a KPI",
        ),
        (json!({"warn_band": 1}), "warn_band", "outside 0..1"),
        (json!([1, 2]), "settings", "JSON object"),
        (json!({"colour": null}), "colour", "unknown field"),
        (
            json!({"queues": {"q1": {"colour": null}}}),
            "queues.q1.colour",
            "unknown field",
        ),
    ];
    let mut checked = 0;
    for (patch, field, words) in &cases {
        let reply = app
            .reply(request(
                "PATCH",
                "/api/v1/settings",
                None,
                Some(patch.clone()),
            ))
            .await;
        assert_eq!(reply.status, 400, "{patch}: {}", reply.body);
        assert_eq!(reply.body["field"], json!(field), "{patch}: {}", reply.body);
        let error = reply.body["error"].as_str().unwrap();
        assert!(error.contains(words), "{patch}: {error}");
        checked += 1;
    }
    let not_json = app
        .reply(
            Request::patch("/api/v1/settings")
                .header("content-type", "application/json")
                .body(Body::from("{\"targets\": {"))
                .unwrap(),
        )
        .await;
    assert_eq!(not_json.status, 400, "{}", not_json.body);
    assert!(not_json.body["line"].is_number(), "{}", not_json.body);
    assert_eq!(checked, cases.len());
    let after = app.get("/api/v1/settings").await.body;
    assert_eq!(after, before, "nothing of a refused patch applies");
    assert_eq!(after["audit"], json!([]));
    let board_after = app.board().await;
    assert_eq!(
        board_after["totals"]["today"]["service_level"],
        board_before["totals"]["today"]["service_level"]
    );
}

/// Three of four answered within 20 s: service level 0.75, in breach of
/// 0.80 and fine against 0.70.
fn three_of_four_in_time(now: Timestamp) -> Value {
    let at = |s: i64| (now - SignedDuration::from_secs(s)).to_string();
    let mut events = Vec::new();
    for i in 0..4 {
        let (agent, contact) = (format!("a{i}"), format!("c{i}"));
        events.push(event(
            &format!("s{i}"),
            &at(300),
            json!({"type":"agent_state","agent":agent,"state":"available","queues":["q1"]}),
        ));
        events.push(event(
            &format!("o{i}"),
            &at(120),
            json!({"type":"contact_offered","contact":contact,"queue":"q1"}),
        ));
        let wait = if i == 3 { 40 } else { 5 };
        events.push(event(
            &format!("n{i}"),
            &at(120 - wait),
            json!({"type":"contact_answered","contact":contact,"agent":agent}),
        ));
    }
    Value::Array(events)
}

fn service_level(board: &Value) -> (Value, Value, Value) {
    let kpi = &board["queues"]["q1"]["windows"]["today"]["service_level"];
    (
        kpi["value"].clone(),
        kpi["target"].clone(),
        kpi["status"].clone(),
    )
}

/// A target changed live moves a connected viewer's status at the next
/// step, and after `kill -9` and a restart the change, its audit, a
/// message and a layout are all still there.
#[tokio::test]
async fn a_live_target_moves_a_viewer_and_survives_kill_9() {
    let dir = temp_dir("wallboard-admin-crash-");
    let config = write_config(dir.path(), ZONE);
    let data = dir.path().join("data");
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let server = BinaryServer::start(&args, &[]);
    let posted = wallboard_tests::post_events(
        &reqwest::Client::new(),
        &server.url,
        three_of_four_in_time(Timestamp::now()).to_string(),
        "application/json",
    )
    .await;
    assert_eq!(posted.body["rejected"], json!([]), "{}", posted.body);
    let mut viewer = Viewer::connect(&server.url, "view=floor").await;
    viewer
        .until(Duration::from_secs(5), |b| service_level(b).2 == "breach")
        .await
        .unwrap();
    assert_eq!(service_level(viewer.client.board().unwrap()).0, json!(0.75));

    let patch = json!({"queues": {"q1": {"targets": {"service_level": 0.7}}}});
    let changed = call(&server.url, "PATCH", "/api/v1/settings", None, Some(patch)).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(
        changed.body["changed"][0]["path"],
        "queues.q1.targets.service_level"
    );
    assert_eq!(changed.body["changed"][0]["old"], json!(0.8));
    assert_eq!(changed.body["changed"][0]["new"], json!(0.7));
    let sent = std::time::Instant::now();
    viewer
        .until(Duration::from_secs(2), |b| {
            service_level(b) == (json!(0.75), json!(0.7), json!("ok"))
        })
        .await
        .expect("the viewer's status moves at the next step");
    eprintln!(
        "status moved on the viewer {:?} after the 200",
        sent.elapsed()
    );
    let message = call(&server.url, "POST", "/api/v1/messages", None, Some(json!({"text":"Storm: expect volume","text_zh":"暴雨：话务量上升","severity":"urgent","ttl_seconds":3600}))).await;
    assert_eq!(message.status, 200, "{}", message.body);
    let layout = call(
        &server.url,
        "PUT",
        "/api/v1/layouts/lobby",
        None,
        Some(json!({"tiles":["service_level"],"theme":"light"})),
    )
    .await;
    assert_eq!(layout.status, 200, "{}", layout.body);

    let pid = server.pid();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    drop(viewer);
    drop(server);
    let server = BinaryServer::start(&args, &[]);
    wallboard_tests::wait_ready(&server.url, Duration::from_secs(30)).await;
    let board = call(&server.url, "GET", "/api/v1/board", None, None)
        .await
        .body;
    assert_eq!(
        service_level(&board),
        (json!(0.75), json!(0.7), json!("ok")),
        "{}",
        board["queues"]
    );
    assert_eq!(board["messages"][0]["text_zh"], "暴雨：话务量上升");
    assert_eq!(board["layouts"]["lobby"]["theme"], "light");
    let settings = call(&server.url, "GET", "/api/v1/settings", None, None)
        .await
        .body;
    assert_eq!(
        settings["overrides"],
        json!({"queues": {"q1": {"targets": {"service_level": 0.7}}}})
    );
    assert_eq!(
        settings["audit"][0]["path"],
        "queues.q1.targets.service_level"
    );
    assert_eq!(settings["audit"][0]["by"], "local");
    assert_eq!(settings["file"]["targets"]["service_level"], json!(0.8));
    // Reset to the file's value: the breach is back.
    let reset = call(
        &server.url,
        "PATCH",
        "/api/v1/settings",
        None,
        Some(json!({"queues": {"q1": {"targets": {"service_level": null}}}})),
    )
    .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(reset.body["overrides"], json!({}));
    assert_eq!(reset.body["changed"][0]["new"], json!(0.8));
    let mut viewer = Viewer::connect(&server.url, "view=floor").await;
    viewer
        .until(Duration::from_secs(2), |b| service_level(b).2 == "breach")
        .await
        .unwrap();
}

/// `POST /api/v1/settings/reload` re-reads the file: live values move, the
/// overrides stay on top, what needs a restart is named; a broken file
/// changes nothing. `SIGHUP` does the same.
#[tokio::test]
async fn reload_reads_the_file_again() {
    let dir = temp_dir("wallboard-reload-");
    let path = write_config(
        dir.path(),
        &format!("{ZONE}[targets]\nservice_level = 0.8\n"),
    );
    let server = TestServer::from_file(&path).start().await;
    let posted = server
        .post_events(
            three_of_four_in_time(Timestamp::now()).to_string(),
            "application/json",
        )
        .await;
    assert_eq!(posted.body["rejected"], json!([]));
    let ov = call(
        &server.url,
        "PATCH",
        "/api/v1/settings",
        None,
        Some(json!({"warn_band": 0.2})),
    )
    .await;
    assert_eq!(ov.status, 200, "{}", ov.body);

    std::fs::write(
        &path,
        format!("{ZONE}tick = \"200ms\"\n[targets]\nservice_level = 0.7\n"),
    )
    .unwrap();
    let reloaded = call(&server.url, "POST", "/api/v1/settings/reload", None, None).await;
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    let needs: Vec<&str> = reloaded.body["needs_restart"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        needs.contains(&"tick") && needs.contains(&"listen") && needs.contains(&"data_dir"),
        "{needs:?}"
    );
    assert!(!needs.contains(&"targets"), "{needs:?}");
    assert!(reloaded.body["message"].as_str().unwrap().contains("tick"));
    assert_eq!(
        reloaded.body["effective"]["targets"]["service_level"],
        json!(0.7)
    );
    assert_eq!(
        reloaded.body["effective"]["warn_band"],
        json!(0.2),
        "the override stays on top"
    );
    let mut viewer = Viewer::connect(&server.url, "view=floor").await;
    viewer
        .until(Duration::from_secs(2), |b| service_level(b).1 == json!(0.7))
        .await
        .unwrap();

    std::fs::write(&path, format!("{ZONE}[targets]\nservice_level = 3\n")).unwrap();
    let refused = call(&server.url, "POST", "/api/v1/settings/reload", None, None).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(
        refused.body["field"], "targets.service_level",
        "{}",
        refused.body
    );
    let settings = call(&server.url, "GET", "/api/v1/settings", None, None)
        .await
        .body;
    assert_eq!(
        settings["effective"]["targets"]["service_level"],
        json!(0.7),
        "nothing changed"
    );

    // The binary, on SIGHUP.
    let bin_dir = temp_dir("wallboard-hup-");
    let bin_config = write_config(bin_dir.path(), ZONE);
    let bin = BinaryServer::start(&["--config", bin_config.to_str().unwrap()], &[]);
    std::fs::write(
        &bin_config,
        format!("{ZONE}[targets]\nservice_level = 0.65\n"),
    )
    .unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &bin.pid().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let s = call(&bin.url, "GET", "/api/v1/settings", None, None)
            .await
            .body;
        if s["effective"]["targets"]["service_level"] == json!(0.65) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn message_ids(board: &Value) -> Vec<String> {
    board["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A message is on every view within a tick of its 200, as plain text,
/// and goes from all of them at its expiry; refused messages name their
/// field.
#[tokio::test]
async fn a_message_reaches_every_view_and_goes_at_expiry() {
    let start: Timestamp = "2026-12-02T02:00:00Z".parse().unwrap();
    let clock = Clock::manual(start);
    let server = TestServer::builder(ZONE).clock(clock).start().await;
    let offer = json!([event(
        "o1",
        &start.to_string(),
        json!({"type":"contact_offered","contact":"c1","queue":"q1"})
    )]);
    assert_eq!(
        server
            .post_events(offer.to_string(), "application/json")
            .await
            .body["accepted"],
        1
    );
    let mut viewers = Vec::new();
    for query in [
        "view=floor",
        "view=agent",
        "view=queue&queue=q1",
        "view=queue&queue=other",
    ] {
        viewers.push(Viewer::connect(&server.url, query).await);
    }
    let text = "<b>Lunch</b> cover 12:00 & 13:00";
    let posted = call(
        &server.url,
        "POST",
        "/api/v1/messages",
        None,
        Some(json!({"text": text, "severity": "warning", "ttl_seconds": 60})),
    )
    .await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    let id = posted.body["id"].as_str().unwrap().to_string();
    for viewer in &mut viewers {
        viewer
            .until(Duration::from_secs(2), |b| message_ids(b) == [id.clone()])
            .await
            .expect("every view carries the message");
        let m = &viewer.client.board().unwrap()["messages"][0];
        assert_eq!(m["text"], text, "verbatim: never HTML");
        assert!(
            m.get("by").is_none(),
            "who posted is not on the screens: {m}"
        );
        assert_eq!(m["severity"], "warning");
        assert_eq!(
            m["until"],
            (start + SignedDuration::from_secs(60)).to_string()
        );
    }
    assert!(
        wallboard_tests::metrics_text(&server.url)
            .await
            .contains("wallboard_messages_active 1")
    );

    clock.advance(SignedDuration::from_secs(59));
    let listed = call(&server.url, "GET", "/api/v1/messages", None, None)
        .await
        .body;
    assert_eq!(message_ids(&listed), [id.as_str()], "up until its expiry");
    assert_eq!(
        listed["messages"][0]["by"], "local",
        "the admin API says who"
    );
    clock.advance(SignedDuration::from_secs(1));
    for viewer in &mut viewers {
        viewer
            .until(Duration::from_secs(2), |b| message_ids(b).is_empty())
            .await
            .expect("gone from every view at its expiry");
    }
    assert_eq!(
        call(&server.url, "GET", "/api/v1/messages", None, None)
            .await
            .body["messages"],
        json!([])
    );
    assert!(
        wallboard_tests::metrics_text(&server.url)
            .await
            .contains("wallboard_messages_active 0")
    );
    let gone = call(
        &server.url,
        "DELETE",
        &format!("/api/v1/messages/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(gone.status, 404, "{}", gone.body);

    // Deleted early: gone everywhere at the next step.
    let second = call(&server.url, "POST", "/api/v1/messages", None, Some(json!({"text_zh": "系统维护", "severity": "urgent", "until": (clock.now() + SignedDuration::from_mins(5)).to_string()}))).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let id2 = second.body["id"].as_str().unwrap().to_string();
    for viewer in &mut viewers {
        viewer
            .until(Duration::from_secs(2), |b| message_ids(b) == [id2.clone()])
            .await
            .unwrap();
    }
    let deleted = call(
        &server.url,
        "DELETE",
        &format!("/api/v1/messages/{id2}"),
        None,
        None,
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    for viewer in &mut viewers {
        viewer
            .until(Duration::from_secs(2), |b| message_ids(b).is_empty())
            .await
            .unwrap();
    }

    // A retry with the same Idempotency-Key posts nothing twice.
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let reply = client
            .post(format!("{}/api/v1/messages", server.url))
            .header("idempotency-key", "storm-2026-12-02")
            .json(&json!({"text": "Storm", "severity": "warning", "ttl_seconds": 300}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let body: Value = reply.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids[0], ids[1], "the same message");
    for viewer in &mut viewers {
        viewer
            .until(Duration::from_secs(2), |b| message_ids(b) == ids[..1])
            .await
            .expect("once on every view");
    }
    let listed = call(&server.url, "GET", "/api/v1/messages", None, None)
        .await
        .body;
    assert_eq!(message_ids(&listed), ids[..1]);

    let refusals = [
        (
            json!({"text": "x".repeat(281), "severity": "info", "ttl_seconds": 60}),
            "text",
        ),
        (json!({"text": "x", "ttl_seconds": 60}), "severity"),
        (
            json!({"text": "x", "severity": "loud", "ttl_seconds": 60}),
            "severity",
        ),
        (json!({"text": "x", "severity": "info"}), "ttl_seconds"),
        (
            json!({"text": "x", "severity": "info", "ttl_seconds": 60, "colour": "red"}),
            "colour",
        ),
        (
            json!({"text": "", "severity": "info", "ttl_seconds": 60}),
            "text",
        ),
        (
            json!({"text": "x", "severity": "info", "until": "2020-01-01T00:00:00Z"}),
            "until",
        ),
    ];
    for (body, field) in &refusals {
        let reply = call(
            &server.url,
            "POST",
            "/api/v1/messages",
            None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_eq!(reply.body["field"], json!(field), "{body}: {}", reply.body);
    }
}

fn lobby(board: &Value) -> Value {
    board["layouts"]["lobby"].clone()
}

/// A TV showing `?layout=lobby` reads its layout from the board it
/// streams: every edit arrives as a patch, a deletion too.
#[tokio::test]
async fn a_layout_edited_while_a_tv_shows_it() {
    let server = TestServer::builder(ZONE).start().await;
    let mut tv = Viewer::connect(&server.url, "view=floor").await;
    let first = json!({"pages": ["overview", "queues"], "tiles": ["service_level", "abandon_rate"], "rotate_seconds": 15});
    let put = call(
        &server.url,
        "PUT",
        "/api/v1/layouts/lobby",
        None,
        Some(first.clone()),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    tv.until(Duration::from_secs(2), |b| lobby(b) == first)
        .await
        .unwrap();

    let edited = json!({"pages": ["agents"], "tiles": ["abandon_rate", "service_level", "satisfaction"], "queues": ["q1"], "window": "15m", "lang": "zh", "theme": "light"});
    let put = call(
        &server.url,
        "PUT",
        "/api/v1/layouts/lobby",
        None,
        Some(edited.clone()),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    tv.until(Duration::from_secs(2), |b| lobby(b) == edited)
        .await
        .unwrap();
    assert_eq!(
        call(&server.url, "GET", "/api/v1/layouts/lobby", None, None)
            .await
            .body,
        edited
    );

    for (body, field) in [
        (json!({"tiles": ["service_level", "warp"]}), "tiles[1]"),
        (json!({"pages": ["lobby"]}), "pages[0]"),
        (json!({"rotate_seconds": 1}), "rotate_seconds"),
        (json!({"theme": "neon"}), "theme"),
        (json!({"colour": "red"}), "colour"),
        (json!({"rotate_seconds": "fast"}), "rotate_seconds"),
    ] {
        let reply = call(
            &server.url,
            "PUT",
            "/api/v1/layouts/lobby",
            None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_eq!(reply.body["field"], json!(field), "{body}: {}", reply.body);
    }
    let bad_name = call(
        &server.url,
        "PUT",
        "/api/v1/layouts/a%20b",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(bad_name.status, 400, "{}", bad_name.body);
    assert_eq!(
        lobby(tv.client.board().unwrap()),
        edited,
        "refused edits change nothing"
    );

    let deleted = call(&server.url, "DELETE", "/api/v1/layouts/lobby", None, None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    tv.until(Duration::from_secs(2), |b| {
        b.get("layouts").is_none_or(|l| l.get("lobby").is_none())
    })
    .await
    .unwrap();
    assert_eq!(
        call(&server.url, "GET", "/api/v1/layouts/lobby", None, None)
            .await
            .status,
        404
    );
    assert_eq!(
        call(&server.url, "DELETE", "/api/v1/layouts/lobby", None, None)
            .await
            .status,
        404
    );
}

/// Senders cannot forge an admin change: the server's own event types are
/// refused on the ingest path, naming the field.
#[tokio::test]
async fn senders_cannot_send_settings_changes() {
    let app = TestServer::builder(ZONE).app();
    let forged = json!([event(
        "x1",
        &Timestamp::now().to_string(),
        json!({"type":"settings_changed","by":"me","patch":{"warn_band":0.5}})
    )]);
    let reply = app
        .post_events(forged.to_string(), "application/json")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["accepted"], 0);
    let error = reply.body["rejected"][0]["error"].as_str().unwrap();
    assert!(error.contains("admin API"), "{error}");
    assert_eq!(
        app.get("/api/v1/settings").await.body["overrides"],
        json!({})
    );
}
