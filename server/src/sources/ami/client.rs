//! The manager connection: connect, log in, ask for the queues' state
//! (`QueueStatus`), then map every event as it comes; on any failure, show
//! the source as down and reconnect with backoff (0.5 s doubling to 30 s,
//! jittered), resynchronising from `QueueStatus` each time.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::mapper::Mapper;
use super::parser::{Message, Parser, action};
use crate::config::AmiConfig;
use crate::ingest::Ingest;
use tokio_util::sync::CancellationToken;

const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(20);
/// No byte for this long (pings included) and the connection is dead.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);

const LOGIN_ID: u64 = 1;
const STATUS_ID: u64 = 2;

/// Runs until shutdown.
pub async fn run(name: String, config: AmiConfig, ingest: Ingest, shutdown: CancellationToken) {
    let mut mapper = Mapper::new(&name, config.wrapup_seconds.clone());
    let mut reconnect = crate::sources::Reconnect::default();
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            r = session(&name, &config, &ingest, &mut mapper) => r,
            _ = shutdown.clone().cancelled_owned() => return,
        };
        if !reconnect
            .after(
                &name,
                "asterisk manager",
                &ingest,
                &shutdown,
                started,
                result,
            )
            .await
        {
            return;
        }
    }
}

/// Logs in with events on; returns the messages that came before and with
/// the reply (mapped once the resync starts: usually just `FullyBooted`).
async fn login(
    addr: &str,
    config: &AmiConfig,
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    parser: &mut Parser,
    buf: &mut [u8],
) -> Result<Vec<Message>, String> {
    let io = |e: std::io::Error| format!("{addr}: {e}");
    wr.write_all(&action(
        "Login",
        LOGIN_ID,
        &[
            ("Username", &config.username),
            ("Secret", &config.secret),
            ("Events", "on"),
        ],
    ))
    .await
    .map_err(io)?;
    let mut early: Vec<Message> = Vec::new();
    let deadline = Instant::now() + LOGIN_TIMEOUT;
    loop {
        let n = tokio::time::timeout_at(deadline, rd.read(buf))
            .await
            .map_err(|_| "no reply to Login".to_string())?
            .map_err(io)?;
        if n == 0 {
            return Err("closed during login".into());
        }
        let mut messages = parser.feed(&buf[..n]).into_iter();
        while let Some(m) = messages.next() {
            if m.response().is_some() && m.get("ActionID") == Some(&LOGIN_ID.to_string()) {
                if m.response() != Some("Success") {
                    return Err(format!(
                        "login refused: {}",
                        m.get("Message").unwrap_or("no reason given")
                    ));
                }
                early.extend(messages);
                return Ok(early);
            }
            early.push(m);
        }
    }
}

/// One connection, until it fails.
async fn session(
    name: &str,
    config: &AmiConfig,
    ingest: &Ingest,
    mapper: &mut Mapper,
) -> Result<(), String> {
    let (stream, addr) = crate::sources::connect(&config.host, config.port).await?;
    let (mut rd, mut wr) = stream.into_split();
    let mut parser = Parser::new();
    let mut buf = vec![0u8; 16 * 1024];
    let io = |e: std::io::Error| format!("{addr}: {e}");

    let early = login(&addr, config, &mut rd, &mut wr, &mut parser, &mut buf).await?;
    tracing::info!(source = %name, banner = parser.banner().unwrap_or(""), "asterisk manager: logged in");

    wr.write_all(&action("QueueStatus", STATUS_ID, &[]))
        .await
        .map_err(io)?;
    mapper.resync_begin();
    let clock = ingest.clock();
    let mut events = Vec::new();
    for m in &early {
        events.extend(mapper.on_message(m, clock.now()));
    }
    submit(name, ingest, events).await;

    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut last_heard = Instant::now();
    let mut last_ping = Instant::now();
    let mut ping_id = STATUS_ID;
    loop {
        tokio::select! {
            read = rd.read(&mut buf) => {
                let n = read.map_err(io)?;
                if n == 0 {
                    return Err("closed by the server".into());
                }
                last_heard = Instant::now();
                let mut events = Vec::new();
                for m in parser.feed(&buf[..n]) {
                    if m.get("ActionID") == Some(&STATUS_ID.to_string())
                        && m.response() == Some("Error")
                    {
                        return Err(format!(
                            "QueueStatus refused: {} (the manager user needs the `agent` read class)",
                            m.get("Message").unwrap_or("no reason given")
                        ));
                    }
                    events.extend(mapper.on_message(&m, clock.now()));
                    if m.event() == Some("QueueStatusComplete") {
                        ingest.set_source_health(name, true, None);
                        tracing::info!(source = %name, queues = ?mapper.queues(), "asterisk manager: synchronised");
                    }
                }
                submit(name, ingest, events).await;
            }
            _ = ticker.tick() => {
                let events = mapper.tick(clock.now());
                submit(name, ingest, events).await;
                if last_heard.elapsed() > SILENCE_LIMIT {
                    return Err(format!("nothing heard for {} s", SILENCE_LIMIT.as_secs()));
                }
                if last_ping.elapsed() > PING_EVERY {
                    ping_id += 1;
                    wr.write_all(&action("Ping", ping_id, &[])).await.map_err(io)?;
                    last_ping = Instant::now();
                }
            }
        }
    }
}

async fn submit(name: &str, ingest: &Ingest, events: Vec<wallboard_protocol::Event>) {
    crate::sources::submit_retrying(name, "asterisk manager", ingest, events).await
}
