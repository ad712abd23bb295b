//! The live connection: a WebSocket to `/ws`, fed through the shared
//! `BoardClient` (the same code the tests use), reconnecting with backoff
//! and a fresh snapshot after any drop or sequence gap. Given several
//! servers (`servers=`), a page whose server fails moves to the next.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;
use wallboard_protocol::{Board, BoardClient};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{MessageEvent, WebSocket};

/// The state of the connection, as the freshness indicator shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Live,
    Reconnecting,
}

/// Everything the page reads from the server, as signals.
#[derive(Clone, Copy)]
pub struct Live {
    pub board: RwSignal<Option<Arc<Board>>>,
    pub conn: RwSignal<Conn>,
    /// `Date.now()` of the last message (0: none yet).
    pub last_message_ms: RwSignal<f64>,
    /// `Date.now()`, refreshed just after each whole second: drives every
    /// clock on screen (time in state, longest wait, freshness), so they
    /// all move once a second, together.
    pub now_ms: RwSignal<f64>,
    /// The server's clock minus this browser's, from each message's
    /// `generated_at`: a TV whose clock drifts still counts waits right.
    pub skew_ms: RwSignal<f64>,
    /// The server the page reads from now (`host:port`).
    pub server: RwSignal<String>,
}

/// Sets `now_ms`, then again just after the next whole second.
fn tick(live: Live) {
    let now = js_sys::Date::now();
    live.now_ms.set(now);
    let to_next = 1000.0 - now.rem_euclid(1000.0) + 5.0;
    set_timeout(move || tick(live), Duration::from_millis(to_next as u64));
}

/// With no message for this long the board greys out.
pub const STALE_MS: f64 = 3000.0;

impl Live {
    /// The signals, and the timer that keeps `now_ms` current.
    pub fn start() -> Live {
        let live = Live {
            board: RwSignal::new(None),
            conn: RwSignal::new(Conn::Connecting),
            last_message_ms: RwSignal::new(0.0),
            now_ms: RwSignal::new(js_sys::Date::now()),
            skew_ms: RwSignal::new(0.0),
            server: RwSignal::new(String::new()),
        };
        tick(live);
        live
    }

    /// The server's time now (ms since the epoch), ticking on the client:
    /// the header's clock.
    pub fn server_now_ms(&self) -> f64 {
        self.now_ms.get() + self.skew_ms.get()
    }

    /// The time the figures on screen are true at: now while live; while
    /// stale, the last message's (time in state and waits stop counting on
    /// data that no longer moves).
    pub fn data_now_ms(&self) -> f64 {
        if self.is_stale() && self.last_message_ms.get() > 0.0 {
            self.last_message_ms.get() + self.skew_ms.get()
        } else {
            self.server_now_ms()
        }
    }

    /// Seconds since the last message.
    pub fn age_seconds(&self) -> f64 {
        ((self.now_ms.get() - self.last_message_ms.get()) / 1000.0).max(0.0)
    }

    pub fn is_stale(&self) -> bool {
        self.conn.get() != Conn::Live || self.age_seconds() * 1000.0 > STALE_MS
    }
}

/// With no message for this long (the server sends one a second) the
/// connection is taken for dead and replaced, even if the browser has not
/// noticed: a server host that vanished, or a NAT that dropped the flow,
/// may never deliver a close.
const WATCHDOG_MS: f64 = 5000.0;

/// A connection that lived this long was good: the next failure starts the
/// backoff from the beginning.
const GOOD_FOR_MS: f64 = 10_000.0;

/// The socket in use and its handlers (dropped with it, after detaching).
struct Current {
    socket: WebSocket,
    opened_ms: f64,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut()>,
}

impl Drop for Current {
    fn drop(&mut self) {
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }
}

/// A server the page may read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`, as shown.
    pub host: String,
    /// Its `/ws?…` URL.
    pub ws: String,
    /// Its `/healthz`: answered means "connect now".
    pub health: String,
}

impl Endpoint {
    /// A server as a `servers=` item names it (`host:port`, or with a
    /// scheme `http(s)://` or `ws(s)://`; the page's own scheme when
    /// none), with the socket's path and query (`/ws?view=…`).
    pub fn parse(item: &str, page_secure: bool, ws_path: &str) -> Option<Endpoint> {
        let item = item.trim();
        let (secure, rest) = match item.split_once("://") {
            Some(("https" | "wss", rest)) => (true, rest),
            Some(("http" | "ws", rest)) => (false, rest),
            Some(_) => return None,
            None => (page_secure, item),
        };
        let host = rest.split('/').next().unwrap_or_default();
        let valid = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
        if !valid {
            return None;
        }
        let (ws, http) = if secure {
            ("wss", "https")
        } else {
            ("ws", "http")
        };
        Some(Endpoint {
            host: host.to_string(),
            ws: format!("{ws}://{host}{ws_path}"),
            health: format!("{http}://{host}/healthz"),
        })
    }
}

struct Link {
    /// The servers, in the order given; `index` is the one in use.
    endpoints: Vec<Endpoint>,
    index: Cell<usize>,
    live: Live,
    attempt: Cell<u32>,
    current: RefCell<Option<Current>>,
    /// The attempt the backoff scheduled, cancelled when a probe finds
    /// the server back.
    pending: RefCell<Option<TimeoutHandle>>,
    /// Per server: a probe is under way.
    probing: Vec<Cell<bool>>,
    probe: RefCell<Vec<ProbeHandlers>>,
    /// The probe's shortcut is for a server coming back: armed when a live
    /// socket drops, used once (a server that answers `/healthz` but
    /// refuses the socket waits out the backoff like any other failure).
    armed: Cell<bool>,
}

/// Connects to the first of `endpoints` and keeps connecting for as long
/// as the page lives: to the next one when it fails, round the list.
pub fn connect(endpoints: Vec<Endpoint>, live: Live) {
    assert!(!endpoints.is_empty(), "a server to connect to");
    let link = Rc::new(Link {
        probing: endpoints.iter().map(|_| Cell::new(false)).collect(),
        endpoints,
        index: Cell::new(0),
        live,
        attempt: Cell::new(0),
        current: RefCell::new(None),
        pending: RefCell::new(None),
        probe: RefCell::new(Vec::new()),
        armed: Cell::new(false),
    });
    let handlers = (0..link.endpoints.len())
        .map(|i| probe_handlers(&link, i))
        .collect();
    *link.probe.borrow_mut() = handlers;
    open(&link);
    let watched = link.clone();
    set_interval(
        move || {
            let link = &watched;
            let silent = js_sys::Date::now() - link.live.last_message_ms.get_untracked();
            let dead = link.live.conn.get_untracked() == Conn::Live && silent > WATCHDOG_MS;
            if dead && link.current.borrow().is_some() {
                drop_and_retry(link);
            }
        },
        Duration::from_millis(1000),
    );
    // While waiting out a backoff, ask the servers every half second
    // whether they are back (a cheap GET, not a WebSocket handshake); when
    // one answers, connect to it at once instead of sleeping up to 10 s.
    let probed = link.clone();
    set_interval(move || probe(&probed), PROBE_EVERY);
}

/// How often a reconnecting page asks `/healthz`.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// The probe's answer handlers, made once per page (a closure per probe
/// would be one more thing a week on a TV accumulates).
struct ProbeHandlers {
    answered: Closure<dyn FnMut(wasm_bindgen::JsValue)>,
    failed: Closure<dyn FnMut(wasm_bindgen::JsValue)>,
}

fn probe_handlers(link: &Rc<Link>, endpoint: usize) -> ProbeHandlers {
    let weak = Rc::downgrade(link);
    let answered =
        Closure::<dyn FnMut(wasm_bindgen::JsValue)>::new(move |response: wasm_bindgen::JsValue| {
            let Some(link) = weak.upgrade() else { return };
            link.probing[endpoint].set(false);
            // Another origin's answer is opaque (no CORS): that it came
            // is the answer.
            let ok = response
                .dyn_into::<web_sys::Response>()
                .is_ok_and(|r| r.ok() || r.type_() == web_sys::ResponseType::Opaque);
            if !ok || !link.armed.get() {
                return;
            }
            let Some(pending) = link.pending.borrow_mut().take() else {
                return;
            };
            pending.clear();
            link.armed.set(false);
            link.index.set(endpoint);
            // Screens that all saw the server come back in the same half
            // second spread their reconnects over the next one.
            let jitter = Duration::from_millis((js_sys::Math::random() * 1000.0) as u64);
            let next = link.clone();
            *link.pending.borrow_mut() = set_timeout_with_handle(
                move || {
                    next.pending.borrow_mut().take();
                    open(&next);
                },
                jitter,
            )
            .ok();
        });
    let weak = Rc::downgrade(link);
    let failed = Closure::<dyn FnMut(wasm_bindgen::JsValue)>::new(move |_| {
        if let Some(link) = weak.upgrade() {
            link.probing[endpoint].set(false);
        }
    });
    ProbeHandlers { answered, failed }
}

fn probe(link: &Rc<Link>) {
    if !link.armed.get() || link.pending.borrow().is_none() {
        return;
    }
    let init = web_sys::RequestInit::new();
    init.set_mode(web_sys::RequestMode::NoCors);
    init.set_cache(web_sys::RequestCache::NoStore);
    for (i, handlers) in link.probe.borrow().iter().enumerate() {
        if link.probing[i].get() {
            continue;
        }
        link.probing[i].set(true);
        let _ = window()
            .fetch_with_str_and_init(&link.endpoints[i].health, &init)
            .then2(&handlers.answered, &handlers.failed);
    }
}

/// Gives up the current socket and schedules the next attempt (once: a
/// close after the watchdog already acted finds nothing to drop).
fn drop_and_retry(link: &Rc<Link>) {
    let Some(current) = link.current.borrow_mut().take() else {
        return;
    };
    if js_sys::Date::now() - current.opened_ms > GOOD_FOR_MS {
        link.attempt.set(0);
    }
    if link.live.conn.get_untracked() == Conn::Live {
        link.armed.set(true);
    }
    drop(current);
    schedule(link);
}

/// The next attempt goes to the next server; the backoff grows with each
/// round of the list (a page that loses one of two servers tries the other
/// within a second).
fn schedule(link: &Rc<Link>) {
    link.live.conn.set(Conn::Reconnecting);
    let n = link.endpoints.len();
    link.index.set((link.index.get() + 1) % n);
    let delay = backoff(link.attempt.get() / n as u32);
    link.attempt.set(link.attempt.get() + 1);
    let next = link.clone();
    let handle = set_timeout_with_handle(
        move || {
            next.pending.borrow_mut().take();
            open(&next);
        },
        delay,
    )
    .ok();
    *link.pending.borrow_mut() = handle;
}

fn open(link: &Rc<Link>) {
    let endpoint = &link.endpoints[link.index.get()];
    // A node of a cluster sends nothing older than the board on screen.
    let url = match link
        .live
        .board
        .with_untracked(|b| b.as_ref().and_then(|b| b.cluster.clone()))
    {
        Some(at) => format!("{}&after={}:{}", endpoint.ws, at.epoch, at.applied),
        None => endpoint.ws.clone(),
    };
    let Ok(socket) = WebSocket::new(&url) else {
        schedule(link);
        return;
    };
    let host = endpoint.host.clone();
    let client = RefCell::new(BoardClient::new());
    let live = link.live;
    let on_message = {
        let weak = Rc::downgrade(link);
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            let mut client = client.borrow_mut();
            // A gap or a bad message: the copy is no longer the server's;
            // a new connection brings a fresh snapshot.
            let applied = client.apply_text(&text).is_ok();
            match client.typed() {
                Some(Ok(board)) if applied => {
                    let now = js_sys::Date::now();
                    live.skew_ms
                        .set(board.generated_at.as_millisecond() as f64 - now);
                    live.board.set(Some(Arc::new(board)));
                    live.last_message_ms.set(now);
                    live.conn.set(Conn::Live);
                    if live.server.get_untracked() != host {
                        live.server.set(host.clone());
                    }
                }
                _ => {
                    if let Some(link) = weak.upgrade() {
                        // Not from inside this closure's own drop: later.
                        set_timeout(move || drop_and_retry(&link), Duration::ZERO);
                    }
                }
            }
        })
    };
    let on_close = {
        let weak = Rc::downgrade(link);
        Closure::<dyn FnMut()>::new(move || {
            if let Some(link) = weak.upgrade() {
                set_timeout(move || drop_and_retry(&link), Duration::ZERO);
            }
        })
    };
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    *link.current.borrow_mut() = Some(Current {
        socket,
        opened_ms: js_sys::Date::now(),
        _on_message: on_message,
        _on_close: on_close,
    });
}

/// Backoff: 0.5 s doubling to 10 s, with ±25% jitter so a restarted server
/// is not hit by every screen at the same instant.
fn backoff(attempt: u32) -> Duration {
    let base = (500.0 * 2f64.powi(attempt.min(5) as i32)).min(10_000.0);
    let jitter = 0.75 + js_sys::Math::random() * 0.5;
    Duration::from_millis((base * jitter) as u64)
}
