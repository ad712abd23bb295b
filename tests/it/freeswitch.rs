//! FreeSWITCH `mod_callcenter` against a recorded transcript: a fake event
//! socket (a TCP listener that asks for `auth`, answers `event plain` and
//! the `callcenter_config` lists, then replays recorded `callcenter::info`
//! events, each framed as the socket frames them).
//!
//! The transcript (`tests/freeswitch/`) is a morning on `support@default`,
//! 09:01 to 09:07 Shanghai time: an answered caller (20 s wait, 300 s
//! call), one who hangs up after 30 s, an agent back from a break, and a
//! caller still waiting.

use jiff::Timestamp;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wallboard_tests::{TestServer, fixture, metrics_text};

/// 09:00:00 on 2026-11-23 in Shanghai: the transcript's `T`.
const T: i64 = 1_795_395_600;

fn transcript(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("freeswitch/{name}"))).unwrap()
}

/// Events as the socket sends them: each body (comment lines dropped)
/// framed with its `Content-Length`.
fn framed(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let body: String = block
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| format!("{l}\n"))
            .collect();
        if body.is_empty() {
            continue;
        }
        let body = format!("{body}\n");
        out.extend(
            format!(
                "Content-Length: {}\nContent-Type: text/event-plain\n\n{body}",
                body.len()
            )
            .into_bytes(),
        );
    }
    out
}

/// Reads one command (up to its empty line).
async fn read_command(stream: &mut TcpStream, pending: &mut Vec<u8>) -> String {
    loop {
        if let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let text = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..end + 2);
            return text;
        }
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).await.expect("read");
        assert!(n > 0, "the client closed the socket");
        pending.extend_from_slice(&buf[..n]);
    }
}

fn api_response(body: &str) -> Vec<u8> {
    format!(
        "Content-Type: api/response\nContent-Length: {}\n\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One session of the fake socket: the handshake, the lists, then `live`.
async fn serve_session(listener: &TcpListener, live: &str) -> TcpStream {
    let (mut stream, _) = listener.accept().await.expect("accept");
    stream
        .write_all(b"Content-Type: auth/request\n\n")
        .await
        .unwrap();
    let mut pending = Vec::new();
    assert_eq!(read_command(&mut stream, &mut pending).await, "auth s3cret");
    stream
        .write_all(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
        .await
        .unwrap();
    assert_eq!(
        read_command(&mut stream, &mut pending).await,
        "event plain CUSTOM callcenter::info"
    );
    stream
        .write_all(b"Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n")
        .await
        .unwrap();
    for (command, reply) in [
        ("api callcenter_config agent list", "agent-list.txt"),
        ("api callcenter_config tier list", "tier-list.txt"),
    ] {
        assert_eq!(read_command(&mut stream, &mut pending).await, command);
        stream
            .write_all(&api_response(&transcript(reply)))
            .await
            .unwrap();
    }
    for chunk in framed(live).chunks(700) {
        stream.write_all(chunk).await.unwrap();
        stream.flush().await.unwrap();
    }
    stream
}

fn config(port: u16) -> String {
    format!(
        "timezone = \"Asia/Shanghai\"\nmax_future_skew_seconds = 600\n\n[[sources]]\nkind = \"freeswitch\"\nname = \"fs\"\nhost = \"127.0.0.1\"\nport = {port}\npassword = \"s3cret\"\n"
    )
}

/// The last events are on the board: 1001 back, m3 waiting.
fn morning_done(board: &Value) -> bool {
    board["agents"]["1001@default"]["state"] == "available"
        && board["queues"]["support@default"]["waiting"] == 1
}

fn comparable(mut board: Value) -> Value {
    board["seq"] = Value::Null;
    board["generated_at"] = Value::Null;
    board["sources"]["fs"]["since"] = Value::Null;
    board
}

async fn socket_and_server() -> (TcpListener, TestServer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = TestServer::builder(&config(port))
        .at(Timestamp::from_second(T).unwrap())
        .start()
        .await;
    (listener, server)
}

async fn morning_in_one_session() -> Value {
    let (listener, server) = socket_and_server().await;
    let live = transcript("morning-live.esl");
    let _stream = serve_session(&listener, &live).await;
    let board = server.board_when("the morning", morning_done).await;
    server.server.stop().await;
    board
}

#[tokio::test]
async fn a_freeswitch_morning_gives_the_hand_computed_board() {
    let board = morning_in_one_session().await;
    let today = &board["queues"]["support@default"]["windows"]["today"];
    assert_eq!(today["offered"], 3, "{board:#}");
    assert_eq!(today["answered"], 1);
    assert_eq!(today["answered_in_sl"], 1, "m1 waited 20 s, the threshold");
    assert_eq!(today["abandoned"], 1, "m2 hung up after 30 s");
    assert_eq!(today["handled"], 1);
    assert_eq!(today["aht_seconds"]["value"], 300.0);
    assert_eq!(today["asa_seconds"]["value"], 20.0);
    assert_eq!(today["service_level"]["value"], 0.5);
    let agent = &board["agents"]["1000@default"];
    assert_eq!(agent["state"], "available");
    assert_eq!(agent["queues"], serde_json::json!(["support@default"]));
    assert_eq!(
        agent["since"],
        Timestamp::from_second(T + 380).unwrap().to_string(),
        "available since m1's call ended"
    );
    assert_eq!(
        board["agents"]["1001@default"]["since"],
        Timestamp::from_second(T + 400).unwrap().to_string()
    );
    assert_eq!(board["sources"]["fs"]["up"], true);
}

#[tokio::test]
async fn a_dropped_socket_shows_the_source_down_and_resyncs_without_double_counting() {
    let whole = morning_in_one_session().await;

    let (listener, server) = socket_and_server().await;
    let live = transcript("morning-live.esl");
    let (before, after) = live.split_once("# disconnect").unwrap();
    let stream = serve_session(&listener, before).await;
    server
        .board_when("the first part", |b| {
            b["agents"]["1000@default"]["since"]
                == Timestamp::from_second(T + 380).unwrap().to_string()
                && b["sources"]["fs"]["up"] == true
        })
        .await;
    drop(stream);
    let down = server
        .board_when("the source down", |b| b["sources"]["fs"]["up"] == false)
        .await;
    assert!(down["sources"]["fs"]["error"].is_string(), "{down:#}");
    let metrics = metrics_text(&server.url).await;
    assert!(
        metrics.contains("wallboard_source_up{source=\"fs\"} 0"),
        "{metrics}"
    );
    // It reconnects, reads the lists again, and the morning goes on.
    let _stream = serve_session(&listener, after).await;
    let board = server
        .board_when("the morning after a reconnect", morning_done)
        .await;
    assert_eq!(board["sources"]["fs"]["up"], true);
    assert_eq!(
        comparable(board),
        comparable(whole),
        "the same morning, nothing counted twice"
    );
    server.server.stop().await;
}

#[tokio::test]
async fn a_refused_password_is_shown_with_its_reason() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = TestServer::builder(&config(port)).start().await;
    let (mut stream, _) = listener.accept().await.unwrap();
    stream
        .write_all(b"Content-Type: auth/request\n\n")
        .await
        .unwrap();
    let mut pending = Vec::new();
    read_command(&mut stream, &mut pending).await;
    stream
        .write_all(b"Content-Type: command/reply\nReply-Text: -ERR invalid\n\n")
        .await
        .unwrap();
    let board = server
        .board_when("the auth error", |b| {
            b["sources"]["fs"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("auth refused: -ERR invalid"))
        })
        .await;
    assert_eq!(board["sources"]["fs"]["up"], false);
    server.server.stop().await;
}
