//! The live connection: a WebSocket to `/ws`, fed through the shared
//! `BoardClient` (the same code the tests use), reconnecting with backoff
//! and a fresh snapshot after any drop or sequence gap.

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
    /// `Date.now()`, refreshed four times a second: drives every clock on
    /// screen (time in state, longest wait, freshness).
    pub now_ms: RwSignal<f64>,
    /// The server's clock minus this browser's, from each message's
    /// `generated_at`: a TV whose clock drifts still counts waits right.
    pub skew_ms: RwSignal<f64>,
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
        };
        set_interval(
            move || live.now_ms.set(js_sys::Date::now()),
            Duration::from_millis(250),
        );
        live
    }

    /// The server's time now (ms since the epoch), ticking on the client.
    pub fn server_now_ms(&self) -> f64 {
        self.now_ms.get() + self.skew_ms.get()
    }

    /// Seconds since the last message.
    pub fn age_seconds(&self) -> f64 {
        ((self.now_ms.get() - self.last_message_ms.get()) / 1000.0).max(0.0)
    }

    pub fn is_stale(&self) -> bool {
        self.conn.get() != Conn::Live || self.age_seconds() * 1000.0 > STALE_MS
    }
}

/// Connects to `url` and keeps connecting for as long as the page lives.
pub fn connect(url: String, live: Live) {
    open(Rc::new(url), live, Rc::new(Cell::new(0)));
}

fn open(url: Rc<String>, live: Live, attempt: Rc<Cell<u32>>) {
    let Ok(socket) = WebSocket::new(&url) else {
        retry(url, live, attempt);
        return;
    };
    let client = Rc::new(RefCell::new(BoardClient::new()));

    let on_message = {
        let (socket, attempt) = (socket.clone(), attempt.clone());
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            let mut client = client.borrow_mut();
            // A gap or a bad message: the copy is no longer the server's;
            // closing brings a reconnect and a fresh snapshot.
            if client.apply_text(&text).is_err() {
                let _ = socket.close();
                return;
            }
            match client.typed() {
                Some(Ok(board)) => {
                    let now = js_sys::Date::now();
                    live.skew_ms
                        .set(board.generated_at.as_millisecond() as f64 - now);
                    live.board.set(Some(Arc::new(board)));
                    live.last_message_ms.set(now);
                    live.conn.set(Conn::Live);
                    attempt.set(0);
                }
                _ => {
                    let _ = socket.close();
                }
            }
        })
    };
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();

    let on_close = Closure::<dyn FnMut()>::new(move || {
        live.conn.set(Conn::Reconnecting);
        retry(url.clone(), live, attempt.clone());
    });
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    on_close.forget();
}

/// Backoff: 0.5 s doubling to 10 s, with ±25% jitter so a restarted server
/// is not hit by every screen at the same instant.
fn backoff(attempt: u32) -> Duration {
    let base = (500.0 * 2f64.powi(attempt.min(5) as i32)).min(10_000.0);
    let jitter = 0.75 + js_sys::Math::random() * 0.5;
    Duration::from_millis((base * jitter) as u64)
}

fn retry(url: Rc<String>, live: Live, attempt: Rc<Cell<u32>>) {
    let delay = backoff(attempt.get());
    attempt.set(attempt.get() + 1);
    set_timeout(move || open(url, live, attempt), delay);
}
