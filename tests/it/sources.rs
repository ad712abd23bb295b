//! Real sources against recorded protocol transcripts: a fake Asterisk
//! manager (a TCP listener that performs the login handshake, answers
//! `QueueStatus` with a recorded list and replays recorded `app_queue`
//! events) and the webhook route with the worked example's mapping.
//!
//! The transcripts (`tests/ami/`) are a morning on three queues: 09:00 to
//! 09:05:40 Shanghai time, `timestampevents = yes`, with a caller already
//! waiting at connect, answers in and out of wrap-up, a ring-no-answer, an
//! abandon, a queue timeout, pauses with reasons and an agent whose phone
//! comes online.

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wallboard_tests::{TestServer, fixture, metrics_text};

/// 09:00:00 on 2026-11-23 in Shanghai: the transcripts' `T`.
const T: i64 = 1_795_395_600;

fn at(offset: i64) -> String {
    Timestamp::from_second(T + offset).unwrap().to_string()
}

fn transcript(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("ami/{name}"))).unwrap()
}

/// AMI messages as they go on the wire: CRLF line ends, comment lines
/// dropped, each message ended by an empty line.
fn wire(text: &str, action_id: Option<&str>) -> Vec<u8> {
    let mut out = String::new();
    for message in text.split("\n\n") {
        let lines: Vec<&str> = message
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        for line in lines {
            out.push_str(line);
            out.push_str("\r\n");
        }
        if let Some(id) = action_id {
            out.push_str(&format!("ActionID: {id}\r\n"));
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// Reads one action (up to its empty line); returns its headers.
async fn read_action(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Vec<(String, String)> {
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..end + 4);
            return text
                .lines()
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).await.expect("read action");
        assert!(n > 0, "the adapter closed the connection");
        pending.extend_from_slice(&buf[..n]);
    }
}

fn header<'a>(action: &'a [(String, String)], key: &str) -> Option<&'a str> {
    action
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// One manager session: banner, login (checked), the `QueueStatus` list,
/// then `live`, sent in small pieces to exercise partial reads. Returns the
/// stream, for the caller to hold open or drop.
/// Accepts the adapter's connection, sends the banner and reads its login.
async fn accept_login(listener: &TcpListener) -> (TcpStream, Vec<u8>, Vec<(String, String)>) {
    let (mut stream, _) = listener.accept().await.expect("accept");
    stream
        .write_all(b"Asterisk Call Manager/9.0.0\r\n")
        .await
        .unwrap();
    let mut pending = Vec::new();
    let login = read_action(&mut stream, &mut pending).await;
    (stream, pending, login)
}

async fn serve_session(listener: &TcpListener, status: &str, live: &str) -> TcpStream {
    let (mut stream, mut pending, login) = accept_login(listener).await;
    assert_eq!(header(&login, "Action"), Some("Login"));
    assert_eq!(header(&login, "Username"), Some("wallboard"));
    assert_eq!(header(&login, "Secret"), Some("s3cret"));
    let id = header(&login, "ActionID").unwrap().to_string();
    let reply = format!(
        "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\nEvent: FullyBooted\r\nPrivilege: system,all\r\nUptime: 3600\r\nLastReload: 3600\r\nStatus: Fully Booted\r\n\r\n"
    );
    stream.write_all(reply.as_bytes()).await.unwrap();
    let action = read_action(&mut stream, &mut pending).await;
    assert_eq!(header(&action, "Action"), Some("QueueStatus"));
    let id = header(&action, "ActionID").unwrap().to_string();
    let mut bytes = format!(
        "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Queue status will follow\r\n\r\n"
    )
    .into_bytes();
    bytes.extend(wire(status, Some(&id)));
    bytes.extend(wire(live, None));
    for chunk in bytes.chunks(1000) {
        stream.write_all(chunk).await.unwrap();
        stream.flush().await.unwrap();
    }
    stream
}

fn config(port: u16) -> String {
    format!(
        "timezone = \"Asia/Shanghai\"\nmax_future_skew_seconds = 600\n\n[[sources]]\nkind = \"asterisk_ami\"\nname = \"pbx\"\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"wallboard\"\nsecret = \"s3cret\"\n"
    )
}

/// The morning is over: the last events (Liu Yang online, a VIP caller
/// waiting) are on the board.
fn morning_done(board: &Value) -> bool {
    board["agents"]["PJSIP/1004"]["state"] == "available" && board["queues"]["vip"]["waiting"] == 1
}

/// The board without what differs between two runs of the same morning.
fn comparable(mut board: Value) -> Value {
    board["seq"] = Value::Null;
    board["generated_at"] = Value::Null;
    board["sources"]["pbx"]["since"] = Value::Null;
    board
}

/// A fake manager's listener and a server (clock at 09:00) pointed at it.
async fn pbx_and_server() -> (TcpListener, TestServer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = TestServer::builder(&config(port))
        .at(Timestamp::from_second(T).unwrap())
        .start()
        .await;
    (listener, server)
}

async fn morning_in_one_session() -> (Value, String) {
    let (listener, server) = pbx_and_server().await;
    let live = transcript("morning-live.ami");
    let _stream = serve_session(&listener, &transcript("morning-status-0900.ami"), &live).await;
    let board = server.board_when("the morning", morning_done).await;
    let metrics = metrics_text(&server.url).await;
    server.server.stop().await;
    (board, metrics)
}

#[tokio::test]
async fn an_asterisk_morning_gives_the_hand_computed_board() {
    let (board, metrics) = morning_in_one_session().await;
    assert_eq!(board["sources"]["pbx"]["up"], true, "{board:#}");
    assert!(
        metrics.contains("wallboard_source_up{source=\"pbx\"} 1"),
        "{metrics}"
    );

    // Six callers offered: the one waiting at connect (billing, since
    // 08:59:50), then billing ×1, tech ×2, vip ×2. Answered: billing after
    // 18 s and 5 s, tech after 5 s — all within the 20 s service level.
    // Abandoned: the VIP caller who hung up after 30 s, and the tech caller
    // who left at the queue's timeout.
    let today = &board["totals"]["today"];
    let counts = [
        ("offered", 6),
        ("answered", 3),
        ("answered_in_sl", 3),
        ("abandoned", 2),
        ("handled", 2),
    ];
    for (key, want) in counts {
        assert_eq!(today[key], want, "today.{key}: {today:#}");
    }
    // ASA (18 + 5 + 5) / 3; AHT: Li Na 09:00:08 to the end of her 10 s
    // wrap-up at 09:02:10 = 122 s, Zhang Min 09:00:25 to 09:05:00 with no
    // wrap-up = 275 s.
    let asa = today["asa_seconds"]["value"].as_f64().unwrap();
    assert!((asa - 28.0 / 3.0).abs() < 1e-9, "asa {asa}");
    assert_eq!(today["aht_seconds"]["value"], 198.5);

    let queue = |q: &str, key: &str| board["queues"][q]["windows"]["today"][key].clone();
    for (q, offered, answered, abandoned, waiting) in [
        ("billing", 2, 2, 0, 0),
        ("tech", 2, 1, 1, 0),
        ("vip", 2, 0, 1, 1),
    ] {
        assert_eq!(queue(q, "offered"), offered, "{q} offered");
        assert_eq!(queue(q, "answered"), answered, "{q} answered");
        assert_eq!(queue(q, "abandoned"), abandoned, "{q} abandoned");
        assert_eq!(board["queues"][q]["waiting"], waiting, "{q} waiting");
    }
    assert_eq!(board["queues"]["vip"]["longest_wait_since"], at(330));

    // Agents: member interfaces, with their names and queues.
    let agent = |id: &str| board["agents"][id].clone();
    assert_eq!(
        agent("PJSIP/1001"),
        json!({"name":"Li Na","state":"aux","reason":"Break","since":at(210),"contact":null,"queue":null,"queues":["billing","tech"],"limit_seconds":600})
    );
    assert_eq!(agent("PJSIP/1002")["state"], "on_contact");
    assert_eq!(agent("PJSIP/1002")["since"], at(140));
    assert_eq!(agent("PJSIP/1002")["queue"], "billing");
    assert_eq!(agent("PJSIP/1003")["state"], "available");
    assert_eq!(agent("PJSIP/1003")["since"], at(300));
    assert_eq!(agent("PJSIP/1004")["state"], "available");
    assert_eq!(agent("PJSIP/1004")["since"], at(320));
    assert_eq!(board["agent_states"]["on_contact"], 1);
}

#[tokio::test]
async fn a_dropped_connection_shows_the_source_down_and_resyncs_without_double_counting() {
    let (whole, _) = morning_in_one_session().await;

    let (listener, server) = pbx_and_server().await;
    let live = transcript("morning-live.ami");
    let (before, after) = live.split_once("# disconnect").unwrap();
    // The first session ends after the VIP caller joins (09:00:30).
    let stream = serve_session(&listener, &transcript("morning-status-0900.ami"), before).await;
    server
        .board_when("the first half", |b| {
            b["queues"]["vip"]["waiting"] == 1 && b["sources"]["pbx"]["up"] == true
        })
        .await;
    drop(stream);
    let down = server
        .board_when("the source down", |b| b["sources"]["pbx"]["up"] == false)
        .await;
    assert!(down["sources"]["pbx"]["error"].is_string(), "{down:#}");
    let metrics = metrics_text(&server.url).await;
    assert!(
        metrics.contains("wallboard_source_up{source=\"pbx\"} 0"),
        "{metrics}"
    );

    // The adapter reconnects; the resync lists the VIP caller still
    // waiting and two agents still on their calls, then the morning goes on.
    let _stream = serve_session(&listener, &transcript("morning-status-0045.ami"), after).await;
    let board = server
        .board_when("the morning after a reconnect", morning_done)
        .await;
    assert_eq!(board["sources"]["pbx"]["up"], true);
    assert_eq!(
        comparable(board),
        comparable(whole),
        "the same morning, nothing counted twice"
    );
    server.server.stop().await;
}

#[tokio::test]
async fn a_refused_login_is_shown_with_its_reason() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = TestServer::builder(&config(port)).start().await;
    let (mut stream, _, login) = accept_login(&listener).await;
    let id = header(&login, "ActionID").unwrap();
    stream
        .write_all(
            format!("Response: Error\r\nActionID: {id}\r\nMessage: Authentication failed\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let board = server
        .board_when("the login error", |b| {
            b["sources"]["pbx"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("Authentication failed"))
        })
        .await;
    assert_eq!(board["sources"]["pbx"]["up"], false);
    server.server.stop().await;
}

#[tokio::test]
async fn webhook_callbacks_are_mapped_and_bad_ones_explained() {
    let example = std::fs::read_to_string(fixture("../docs/webhook-example.toml")).unwrap();
    let config = format!("timezone = \"Asia/Shanghai\"\n{example}");
    let server = TestServer::builder(&config)
        .at(Timestamp::from_second(T).unwrap())
        .start()
        .await;
    let url = format!("{}/api/v1/sources/taskrouter/webhook", server.url);
    let client = reqwest::Client::new();
    let post_json = |body: Value| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let r = client.post(&url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let ts = |offset: i64| (T + offset).to_string();

    let (status, body) = post_json(json!([
        {"EventType":"worker.activity.update","Sid":"EV0","Timestamp":ts(0),"WorkerSid":"WK7","WorkerName":"王芳","WorkerActivityName":"Available"},
        {"EventType":"task.created","Sid":"EV1","Timestamp":ts(10),"TaskSid":"WT1","TaskQueueName":"billing"},
        {"EventType":"workflow.timeout","Sid":"EV2"},
        {"EventType":"reservation.accepted","Sid":"EV3","Timestamp":ts(25),"TaskSid":"WT1","WorkerSid":"WK7"},
        {"EventType":"worker.activity.update","Sid":"EV4","Timestamp":ts(26),"WorkerSid":"WK7","WorkerActivityName":"Gaming"},
    ]))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 3, "{body}");
    assert_eq!(body["ignored"], 1, "{body}");
    assert_eq!(
        body["rejected"][0]["index"], 4,
        "by position in the payload: {body}"
    );
    assert!(
        body["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .contains("\"Gaming\" is not in its map"),
        "{body}"
    );

    // A form-encoded callback, then its retry.
    for duplicates in [0, 1] {
        let r = client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "EventType=task.created&Sid=EV5&Timestamp={}&TaskSid=WT2&TaskQueueName=billing",
                ts(30)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["duplicates"], duplicates, "{body}");
    }

    let board = server.board().await;
    let billing = &board["queues"]["billing"];
    assert_eq!(billing["windows"]["today"]["offered"], 2, "{board:#}");
    assert_eq!(billing["windows"]["today"]["answered"], 1);
    assert_eq!(billing["waiting"], 1);
    assert_eq!(board["agents"]["WK7"]["name"], "王芳");
    assert_eq!(board["agents"]["WK7"]["contact"], "WT1");

    // Bad requests: not JSON, an unknown source.
    let r = client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"EventType\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("not JSON"),
        "{body}"
    );
    let r = client
        .post(format!("{}/api/v1/sources/nope/webhook", server.url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("nope"), "{body}");
    server.server.stop().await;
}
