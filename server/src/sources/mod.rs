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
