//! The event socket connection (inbound ESL): connect, `auth`, subscribe to
//! `CUSTOM callcenter::info`, read the agents and tiers
//! (`api callcenter_config agent list` / `tier list`), then map every event
//! as it comes; on any failure, show the source as down and reconnect with
//! backoff (0.5 s doubling to 30 s, jittered), reading the lists again each
//! time.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::mapper::{Mapper, table};
use super::parser::{Message, Parser, command};
use crate::config::FreeswitchConfig;
use crate::ingest::Ingest;
use tokio_util::sync::CancellationToken;

const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(20);
/// No byte for this long (replies to pings included) and the connection is dead.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);

/// What an `api` reply answers (replies come in the order asked).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Asked {
    Agents,
    Tiers,
    Ping,
}

/// Runs until shutdown.
pub async fn run(
    name: String,
    config: FreeswitchConfig,
    ingest: Ingest,
    shutdown: CancellationToken,
) {
    let mut mapper = Mapper::new(&name);
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
                "freeswitch event socket",
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

/// Reads until the next message that is not an event (events before it
/// are returned for mapping).
async fn reply(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    parser: &mut Parser,
    buf: &mut [u8],
    pending: &mut VecDeque<Message>,
    what: &str,
) -> Result<Message, String> {
    let deadline = Instant::now() + LOGIN_TIMEOUT;
    loop {
        while let Some(m) = pending.pop_front() {
            if m.content_type() != Some("text/event-plain") {
                return Ok(m);
            }
        }
        let n = tokio::time::timeout_at(deadline, rd.read(buf))
            .await
            .map_err(|_| format!("no reply to {what}"))?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("closed during {what}"));
        }
        pending.extend(parser.feed(&buf[..n]));
    }
}

/// One connection, until it fails.
async fn session(
    name: &str,
    config: &FreeswitchConfig,
    ingest: &Ingest,
    mapper: &mut Mapper,
) -> Result<(), String> {
    let (stream, addr) = crate::sources::connect(&config.host, config.port).await?;
    let (mut rd, mut wr) = stream.into_split();
    let mut parser = Parser::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = VecDeque::new();
    let io = |e: std::io::Error| format!("{addr}: {e}");

    let hello = reply(&mut rd, &mut parser, &mut buf, &mut pending, "connect").await?;
    if hello.content_type() != Some("auth/request") {
        return Err(format!(
            "not an event socket: {}",
            hello.content_type().unwrap_or("no Content-Type")
        ));
    }
    wr.write_all(&command(&format!("auth {}", config.password)))
        .await
        .map_err(io)?;
    let auth = reply(&mut rd, &mut parser, &mut buf, &mut pending, "auth").await?;
    let text = auth.get("Reply-Text").unwrap_or("");
    if !text.starts_with("+OK") {
        return Err(format!("auth refused: {text}"));
    }
    wr.write_all(&command("event plain CUSTOM callcenter::info"))
        .await
        .map_err(io)?;
    let subscribed = reply(&mut rd, &mut parser, &mut buf, &mut pending, "event").await?;
    let text = subscribed.get("Reply-Text").unwrap_or("");
    if !text.starts_with("+OK") {
        return Err(format!("event subscription refused: {text}"));
    }
    tracing::info!(source = %name, "freeswitch event socket: logged in");

    let mut asked = VecDeque::new();
    for (line, what) in [
        ("api callcenter_config agent list", Asked::Agents),
        ("api callcenter_config tier list", Asked::Tiers),
    ] {
        wr.write_all(&command(line)).await.map_err(io)?;
        asked.push_back(what);
    }
    let clock = ingest.clock();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut last_heard = Instant::now();
    let mut last_ping = Instant::now();
    loop {
        let mut events = Vec::new();
        for m in pending.drain(..) {
            match m.content_type() {
                Some("text/event-plain") => {
                    if let Some(e) = m.event() {
                        events.extend(mapper.on_event(&e, clock.now()));
                    }
                }
                Some("api/response") => match asked.pop_front() {
                    Some(Asked::Agents) => {
                        let text = m.text();
                        if text.starts_with("-ERR") {
                            return Err(format!(
                                "callcenter_config refused: {} (is mod_callcenter loaded?)",
                                text.trim()
                            ));
                        }
                        events.extend(mapper.resync_agents(&table(&text), clock.now()));
                    }
                    Some(Asked::Tiers) => {
                        events.extend(mapper.resync_tiers(&table(&m.text()), clock.now()));
                        ingest.set_source_health(name, true, None);
                        tracing::info!(source = %name, "freeswitch event socket: synchronised");
                    }
                    Some(Asked::Ping) | None => {}
                },
                Some("text/disconnect-notice") => {
                    return Err(format!("disconnected: {}", m.text().trim()));
                }
                _ => {}
            }
        }
        submit(name, ingest, events).await;
        tokio::select! {
            read = rd.read(&mut buf) => {
                let n = read.map_err(io)?;
                if n == 0 {
                    return Err("closed by the server".into());
                }
                last_heard = Instant::now();
                pending.extend(parser.feed(&buf[..n]));
            }
            _ = ticker.tick() => {
                let events = mapper.tick(clock.now());
                submit(name, ingest, events).await;
                if last_heard.elapsed() > SILENCE_LIMIT {
                    return Err(format!("nothing heard for {} s", SILENCE_LIMIT.as_secs()));
                }
                if last_ping.elapsed() > PING_EVERY {
                    wr.write_all(&command("api status")).await.map_err(io)?;
                    asked.push_back(Asked::Ping);
                    last_ping = Instant::now();
                }
            }
        }
    }
}

async fn submit(name: &str, ingest: &Ingest, events: Vec<wallboard_protocol::Event>) {
    crate::sources::submit_retrying(name, "freeswitch", ingest, events).await
}
