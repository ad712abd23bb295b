//! Telephony platforms feeding ingest besides `POST /api/v1/events`: an
//! Asterisk manager connection (`ami`) and config-mapped webhooks
//! (`webhook`). Each source turns what its platform says into our events and
//! submits them through the same pipeline as every other sender.

pub mod ami;
pub mod freeswitch;
mod lines;
pub mod webhook;

use tokio::task::JoinHandle;

use crate::config::{Config, SourceKind};
use crate::ingest::{Ingest, Outcome, StoreError};
use tokio_util::sync::CancellationToken;
use wallboard_protocol::Event;
use wallboard_protocol::event::MAX_ID_BYTES;

/// Starts a task per connection source (webhooks need none: they are
/// routes).
pub fn start(
    config: &Config,
    ingest: &Ingest,
    shutdown: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    config
        .sources
        .iter()
        .filter_map(|source| match &source.kind {
            SourceKind::AsteriskAmi(ami) => {
                ingest.set_source_health(&source.name, false, Some("connecting".into()));
                Some(tokio::spawn(ami::client::run(
                    source.name.clone(),
                    ami.clone(),
                    ingest.clone(),
                    shutdown.clone(),
                )))
            }
            SourceKind::Freeswitch(fs) => {
                ingest.set_source_health(&source.name, false, Some("connecting".into()));
                Some(tokio::spawn(freeswitch::client::run(
                    source.name.clone(),
                    fs.clone(),
                    ingest.clone(),
                    shutdown.clone(),
                )))
            }
            SourceKind::Webhook(_) => None,
        })
        .collect()
}

/// Submits a source's events off the async workers (ingest syncs the
/// journal), validating them as the HTTP path does.
pub async fn submit(ingest: &Ingest, events: Vec<Event>) -> Result<Outcome, StoreError> {
    if events.is_empty() {
        return Ok(Outcome::default());
    }
    let ingest = ingest.clone();
    let items = events
        .into_iter()
        .map(|e| e.validate().map(|()| e))
        .collect();
    ingest.submit_batch(items).await
}

/// An event id from a source's own keys: the source's name and `parts`
/// joined with `/`, the tail replaced by a hash if it would be too long.
/// The same platform keys give the same id, so a resync or a restart that
/// repeats an event is dropped as a duplicate.
pub fn event_id(source: &str, parts: &[&str]) -> String {
    let id = std::iter::once(source)
        .chain(parts.iter().copied())
        .collect::<Vec<_>>()
        .join("/");
    if id.len() <= MAX_ID_BYTES {
        return id;
    }
    let hash = crc32c::crc32c(id.as_bytes());
    let mut cut = MAX_ID_BYTES - 9;
    while !id.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}#{hash:08x}", &id[..cut])
}

/// Submits a connection's events, retrying each second while the journal
/// refuses (the connection waits meanwhile, so nothing is lost: the
/// platform buffers); rejected events are logged.
pub async fn submit_retrying(name: &str, platform: &str, ingest: &Ingest, events: Vec<Event>) {
    loop {
        match submit(ingest, events.clone()).await {
            Ok(outcome) => {
                if !outcome.rejected.is_empty() {
                    tracing::warn!(
                        source = %name,
                        rejected = outcome.rejected.len(),
                        first = ?outcome.rejected.first(),
                        "{platform}: events rejected"
                    );
                }
                return;
            }
            Err(e) => {
                tracing::warn!(source = %name, error = %e, "{platform}: events not stored, retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

/// The wait between a platform connection's sessions: 0.5 s doubling to
/// 30 s, jittered, back to 0.5 s after a session that lasted a minute.
#[derive(Debug)]
pub struct Reconnect {
    backoff: std::time::Duration,
}

impl Default for Reconnect {
    fn default() -> Reconnect {
        Reconnect {
            backoff: Reconnect::MIN,
        }
    }
}

impl Reconnect {
    const MIN: std::time::Duration = std::time::Duration::from_millis(500);
    const MAX: std::time::Duration = std::time::Duration::from_secs(30);

    /// A session that began at `started` ended with `result`: the source is
    /// shown down with the reason, and this waits before the next one.
    /// `false`: shutdown came first.
    pub async fn after(
        &mut self,
        name: &str,
        platform: &str,
        ingest: &Ingest,
        shutdown: &CancellationToken,
        started: tokio::time::Instant,
        result: Result<(), String>,
    ) -> bool {
        let error = result
            .err()
            .unwrap_or_else(|| "closed by the server".to_string());
        ingest.set_source_health(name, false, Some(error.clone()));
        if started.elapsed() > std::time::Duration::from_secs(60) {
            self.backoff = Reconnect::MIN;
        }
        let jitter = 0.75 + rand::random::<f64>() * 0.5;
        let wait = self.backoff.mul_f64(jitter);
        tracing::warn!(source = %name, %error, retry_in = ?wait, "{platform} connection down");
        self.backoff = (self.backoff * 2).min(Reconnect::MAX);
        tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = shutdown.clone().cancelled_owned() => false,
        }
    }
}

/// Opens a platform's TCP connection (10 s at most, no Nagle delay);
/// returns it with the address, for messages.
pub async fn connect(host: &str, port: u16) -> Result<(tokio::net::TcpStream, String), String> {
    const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
    let addr = format!("{host}:{port}");
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok((stream, addr))
}
