//! The raw broadcast floor (`wallboard-bench --raw-broadcast RECORDING`):
//! the least a WebSocket server on this stack (tokio + tokio-tungstenite)
//! can do to push the wallboard's bytes to N viewers — no aggregation, no
//! views, no diffs, no tick. It replays a recording of the real server's
//! stream (each message at its recorded offset, over and over) to every
//! connected socket, and a POSTed body goes out to all at once, wrapped as
//! a patch. The fan-out benchmark drives it exactly as it drives the
//! wallboard, so the two are compared in the same run, on the same
//! messages.
//!
//! It speaks just enough HTTP for that: `GET /ws…` upgrades (any path),
//! `POST …` sends the body, `GET /metrics` reports
//! `wallboard_ws_messages_sent_total`. Socket buffers are the wallboard's
//! (512 B read, 4 KiB write, 64 KiB kernel send buffer); unlike the
//! wallboard it sends no snapshot on connect and no pings, and a viewer
//! that lags behind its channel skips what it missed (the benchmark
//! counts those as missed).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::protocol::{Message, WebSocketConfig};

struct Floor {
    messages: broadcast::Sender<Utf8Bytes>,
    posted: AtomicU64,
    sent: AtomicU64,
}

/// Serves until killed.
pub fn serve(recording: &std::path::Path) {
    let text = std::fs::read_to_string(recording).expect("read the recording");
    // `OFFSET_MS<TAB>MESSAGE` lines (JSON escapes its tabs).
    let recorded: Vec<(Duration, Utf8Bytes)> = text
        .lines()
        .filter_map(|l| {
            let (offset, message) = l.split_once('\t')?;
            let offset = Duration::from_millis(offset.parse().ok()?);
            Some((offset, Utf8Bytes::from(message.to_string())))
        })
        .collect();
    assert!(!recorded.is_empty(), "the recording holds no message");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        eprintln!(
            "listening on http://{}",
            listener.local_addr().expect("address")
        );
        let floor = Arc::new(Floor {
            messages: broadcast::channel(64).0,
            posted: AtomicU64::new(0),
            sent: AtomicU64::new(0),
        });
        tokio::spawn(replay(floor.clone(), recorded));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(connection(stream, floor.clone()));
        }
    });
}

/// The recorded messages at their offsets; the recording's length (its
/// last offset, rounded up to a whole second) is the period.
async fn replay(floor: Arc<Floor>, recorded: Vec<(Duration, Utf8Bytes)>) {
    let last = recorded.iter().map(|(at, _)| *at).max().unwrap_or_default();
    let period = Duration::from_secs(last.as_secs() + 1);
    let start = tokio::time::Instant::now();
    for round in 0u32.. {
        for (offset, message) in &recorded {
            tokio::time::sleep_until(start + period * round + *offset).await;
            let _ = floor.messages.send(message.clone());
        }
    }
}

async fn connection(stream: TcpStream, floor: Arc<Floor>) {
    // The wallboard's socket options.
    let _ = stream.set_nodelay(true);
    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(64 * 1024);
    // The request's first bytes may come in more than one segment.
    let mut start = [0u8; 7];
    loop {
        match stream.peek(&mut start).await {
            Ok(n) if n == start.len() => break,
            Ok(0) | Err(_) => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    if &start == b"GET /ws" {
        viewer(stream, floor).await;
    } else {
        http(stream, floor).await;
    }
}

async fn viewer(stream: TcpStream, floor: Arc<Floor>) {
    let config = WebSocketConfig::default()
        .read_buffer_size(512)
        .write_buffer_size(4 * 1024);
    let Ok(mut socket) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
    else {
        return;
    };
    let mut messages = floor.messages.subscribe();
    loop {
        tokio::select! {
            message = messages.recv() => match message {
                Ok(text) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                    floor.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Keep-alive HTTP/1.1, just enough for the benchmark's client.
async fn http(stream: TcpStream, floor: Arc<Floor>) {
    let mut stream = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if stream.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let reply = if request_line.starts_with("POST ") {
            let seq = floor.posted.fetch_add(1, Ordering::Relaxed);
            let _ = floor.messages.send(Utf8Bytes::from(format!(
                "{{\"type\":\"patch\",\"seq\":{seq},\"patch\":{{\"events\":[{}]}}}}",
                String::from_utf8_lossy(&body)
            )));
            "{}".to_string()
        } else {
            format!(
                "wallboard_ws_messages_sent_total {}\n",
                floor.sent.load(Ordering::Relaxed)
            )
        };
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", reply.len());
        let stream = stream.get_mut();
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(reply.as_bytes()).await.is_err()
        {
            return;
        }
    }
}
