//! The wallboard UI (Leptos, client-side rendered). One signal tree fed by
//! the snapshot and patches of `/ws`; it formats and lays out what the
//! server computed and never computes a KPI itself.
//!
//! URL parameters (so a TV can be set up with a link):
//! `view=floor|agent|queue|intervals`, `queue=ID`, `lang=zh|en`, `window=today|60m|15m`,
//! `kiosk=1` (full screen, no controls), `sound=1` (a tone on a new breach),
//! `reload=03:00` (reload nightly at that local time),
//! `rotate=N` (seconds between pages),
//! `pages=overview,queues,agents` (the pages to rotate through),
//! `theme=dark|light`,
//! `layout=NAME` (follow the layout of that name saved on the server, live:
//! what it sets wins over the link's own parameters)
//! and `servers=host:port,host:port` (the servers to read from, in order:
//! a page whose server fails moves to the next).
//!
//! At `/admin` the page is the supervisors' instead ([`admin`]), and at
//! `/?view=intervals` the interval report ([`intervals`]; a view of the UI
//! only: its socket reads the floor view).

mod admin;
pub mod connection;
pub mod format;
pub mod i18n;
mod intervals;
mod layout;
mod messages;
mod views;

use std::time::Duration;

use leptos::prelude::*;
use wallboard_protocol::{View, Window};
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::UrlSearchParams;

use crate::connection::Live;
use crate::i18n::Lang;
use crate::layout::{Follow, Theme};
use crate::views::{AgentStrip, Floor, Page, Settings};

/// What the URL asks for.
#[derive(Debug, Clone)]
pub struct Params {
    /// The view the link asks for; a link the UI cannot read keeps its own
    /// query (`Err`), passed on for the server to refuse with its reason.
    pub view: Result<View, String>,
    pub queue: Option<String>,
    pub lang: Option<Lang>,
    pub window: Window,
    pub kiosk: bool,
    pub rotate: Option<Duration>,
    /// `sound=1`: a tone when a tile goes into breach, from the start (a
    /// kiosk has nobody to press the button; its browser must allow audio
    /// without a gesture, e.g. Chromium's
    /// `--autoplay-policy=no-user-gesture-required`).
    pub sound: bool,
    /// `reload=03:00`: reload the page at that local time each day (a TV
    /// left on for weeks starts afresh nightly).
    pub reload: Option<(u32, u32)>,
    pub pages: Vec<Page>,
    /// A viewer token from the page's link (a TV is set up with one); it
    /// goes along to the WebSocket, which cannot carry a header.
    pub token: Option<String>,
    /// `servers=`: the servers to read from, in order (empty: this page's).
    pub servers: Vec<String>,
    /// `layout=NAME`: the saved layout the screen follows.
    pub layout: Option<String>,
    /// `theme=dark|light` (a layout's theme wins).
    pub theme: Option<Theme>,
}

impl Params {
    fn from_location() -> Params {
        let search = window().location().search().unwrap_or_default();
        let q = UrlSearchParams::new_with_str(&search).ok();
        let get = |name: &str| {
            q.as_ref()
                .and_then(|q| q.get(name))
                .filter(|v| !v.is_empty())
        };
        let window = get("window")
            .and_then(|w| Window::parse(&w))
            .unwrap_or(Window::Today);
        let pages: Vec<Page> = get("pages")
            .map(|p| p.split(',').filter_map(Page::parse).collect())
            .filter(|p: &Vec<Page>| !p.is_empty())
            .unwrap_or_else(|| Page::DEFAULT.to_vec());
        Params {
            view: view_of(get("view"), get("queue")),
            queue: get("queue"),
            lang: get("lang").and_then(|l| Lang::parse(&l)),
            window,
            kiosk: get("kiosk").is_some_and(|k| k != "0"),
            sound: get("sound").is_some_and(|k| k != "0"),
            reload: get("reload").and_then(|r| parse_hh_mm(&r)),
            rotate: get("rotate")
                .and_then(|r| r.parse::<u64>().ok())
                .filter(|r| *r >= 3)
                .map(Duration::from_secs),
            pages,
            token: get("token"),
            servers: get("servers")
                .map(|s| s.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            layout: get("layout"),
            theme: get("theme").and_then(|t| Theme::parse(&t)),
        }
    }

    /// The servers to read from: `servers=` (those that parse), else the
    /// one that served this page.
    fn endpoints(&self) -> Vec<connection::Endpoint> {
        let location = window().location();
        let secure = location.protocol().unwrap_or_default() == "https:";
        let path = self.ws_path();
        let listed: Vec<_> = self
            .servers
            .iter()
            .filter_map(|s| connection::Endpoint::parse(s, secure, &path))
            .collect();
        if !listed.is_empty() {
            return listed;
        }
        let own = location.host().unwrap_or_default();
        let mut own = connection::Endpoint::parse(&own, secure, &path).unwrap_or_else(|| {
            connection::Endpoint {
                host: own.clone(),
                ws: format!("{}://{own}{path}", if secure { "wss" } else { "ws" }),
                health: String::new(),
            }
        });
        own.health = "/healthz".to_string();
        vec![own]
    }

    /// The socket's path and query: the same on every server.
    fn ws_path(&self) -> String {
        let mut url = match &self.view {
            Ok(view) => {
                let (kind, queue) = view.params();
                format!("/ws?{}", view_query(kind, queue.as_deref()))
            }
            Err(query) => format!("/ws?{query}"),
        };
        if let Some(token) = &self.token {
            url.push_str(&format!("&token={}", encode(token)));
        }
        url
    }
}

/// The link's view, or (unreadable) its own `view=`/`queue=` query.
fn view_of(view: Option<String>, queue: Option<String>) -> Result<View, String> {
    View::parse(view.as_deref(), queue.as_deref())
        .map_err(|_| view_query(view.as_deref().unwrap_or("floor"), queue.as_deref()))
}

/// `view=…` (and `&queue=…`), encoded for a URL.
fn view_query(view: &str, queue: Option<&str>) -> String {
    let mut query = format!("view={}", encode(view));
    if let Some(queue) = queue {
        query.push_str(&format!("&queue={}", encode(queue)));
    }
    query
}

/// `HH:MM` (24 h).
fn parse_hh_mm(text: &str) -> Option<(u32, u32)> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// Milliseconds from `now` (ms since local midnight) to the next `at`
/// (hours, minutes): later today, or tomorrow.
fn ms_until(now_ms_of_day: f64, at: (u32, u32)) -> f64 {
    const DAY: f64 = 86_400_000.0;
    let target = f64::from(at.0 * 3600 + at.1 * 60) * 1000.0;
    let wait = (target - now_ms_of_day).rem_euclid(DAY);
    if wait < 1000.0 { wait + DAY } else { wait }
}

/// Reloads the page at `at` local time (the browser's clock), once the
/// server that serves the page answers (a TV whose server is down at
/// that minute keeps its page and asks again a minute later).
fn schedule_reload(at: (u32, u32)) {
    let now = js_sys::Date::new_0();
    let of_day = f64::from(now.get_hours() * 3600 + now.get_minutes() * 60 + now.get_seconds())
        * 1000.0
        + f64::from(now.get_milliseconds());
    let wait = ms_until(of_day, at);
    set_timeout(reload_when_served, Duration::from_millis(wait as u64));
}

fn reload_when_served() {
    use wasm_bindgen::JsCast;
    type Handler = wasm_bindgen::closure::Closure<dyn FnMut(wasm_bindgen::JsValue)>;
    let answered = Handler::once(|response: wasm_bindgen::JsValue| {
        if response
            .dyn_into::<web_sys::Response>()
            .is_ok_and(|r| r.ok())
        {
            let _ = window().location().reload();
        } else {
            set_timeout(reload_when_served, Duration::from_secs(60));
        }
    });
    let failed = Handler::once(|_: wasm_bindgen::JsValue| {
        set_timeout(reload_when_served, Duration::from_secs(60));
    });
    let _ = window()
        .fetch_with_str("/healthz")
        .then2(&answered, &failed);
    // Once a night: the pair is left to the browser.
    answered.forget();
    failed.forget();
}

fn encode(value: &str) -> String {
    js_sys::encode_uri_component(value).into()
}

/// The language: the URL, else the viewer's last choice, else the browser.
fn initial_lang(params: &Params) -> Lang {
    if let Some(lang) = params.lang {
        return lang;
    }
    let stored = window()
        .local_storage()
        .ok()
        .flatten()
        .and_then(|s| s.get_item("wallboard.lang").ok().flatten())
        .and_then(|l| Lang::parse(&l));
    stored.unwrap_or_else(|| {
        let languages: Vec<String> = window()
            .navigator()
            .languages()
            .iter()
            .filter_map(|l| l.as_string())
            .collect();
        Lang::from_preferences(languages.iter().map(String::as_str))
    })
}

#[component]
fn App() -> impl IntoView {
    let params = Params::from_location();
    let live = Live::start();
    if let Some(at) = params.reload {
        schedule_reload(at);
    }
    connection::connect(params.endpoints(), live);
    let settings = Settings::new(&params, initial_lang(&params));
    let follow = Follow::new(live, &params);
    follow.apply(settings);
    // A layout's language is the screen's, not the viewer's choice.
    keep_lang(settings.lang, "title", params.layout.is_none());
    if params.view == Ok(View::Agent) {
        view! { <AgentStrip live settings team=params.queue.clone() /> }.into_any()
    } else {
        view! { <Floor live settings follow /> }.into_any()
    }
}

/// Keeps `<html lang>` and the title (the label `title`) in step with the
/// language, and (`remember`) the viewer's choice stored for next time.
fn keep_lang(lang: RwSignal<Lang>, title: &'static str, remember: bool) {
    Effect::new(move |_| {
        let lang = lang.get();
        if let Some(html) = document().document_element() {
            let _ = html.set_attribute("lang", lang.code());
        }
        if remember && let Some(storage) = window().local_storage().ok().flatten() {
            let _ = storage.set_item("wallboard.lang", if lang == Lang::Zh { "zh" } else { "en" });
        }
        document().set_title(lang.t(title));
    });
}

/// Whether the page is the admin page (`/admin`).
fn is_admin_page() -> bool {
    let path = window().location().pathname().unwrap_or_default();
    path.trim_end_matches('/') == "/admin"
}

/// Entry point, called by the page's loader once the wasm is in.
#[wasm_bindgen(start)]
pub fn main() {
    console_error_panic_hook::set_once();
    if is_admin_page() {
        leptos::mount::mount_to_body(admin::Admin);
    } else if intervals::is_intervals_page() {
        leptos::mount::mount_to_body(intervals::Intervals);
    } else {
        leptos::mount::mount_to_body(App);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nightly_reload_waits_for_the_next_occurrence() {
        assert_eq!(parse_hh_mm("03:00"), Some((3, 0)));
        assert_eq!(parse_hh_mm("24:00"), None);
        assert_eq!(parse_hh_mm("3"), None);
        let h = 3_600_000.0;
        // At 01:00, 03:00 is in two hours; at 04:00, tomorrow's is in 23.
        assert_eq!(ms_until(h, (3, 0)), 2.0 * h);
        assert_eq!(ms_until(4.0 * h, (3, 0)), 23.0 * h);
        // Just reloaded at 03:00:00.2: not again at once, but tomorrow.
        assert_eq!(ms_until(3.0 * h + 200.0, (3, 0)), 24.0 * h - 200.0);
    }

    #[test]
    fn servers_are_named_as_a_site_would_write_them() {
        use connection::Endpoint;
        let path = "/ws?view=floor";
        let e = Endpoint::parse(" 10.0.0.2:8080 ", false, path).unwrap();
        assert_eq!(e.host, "10.0.0.2:8080");
        assert_eq!(e.ws, "ws://10.0.0.2:8080/ws?view=floor");
        assert_eq!(e.health, "http://10.0.0.2:8080/healthz");
        // The page's scheme unless the item says otherwise.
        let e = Endpoint::parse("board-b.example:443", true, path).unwrap();
        assert_eq!(e.ws, "wss://board-b.example:443/ws?view=floor");
        let e = Endpoint::parse("https://board-b.example/", false, path).unwrap();
        assert_eq!(e.ws, "wss://board-b.example/ws?view=floor");
        assert_eq!(e.health, "https://board-b.example/healthz");
        let e = Endpoint::parse("ws://[::1]:8080", true, path).unwrap();
        assert_eq!(e.ws, "ws://[::1]:8080/ws?view=floor");
        for bad in ["", "ftp://a:1", "a b:80", "http://", "a\"/><script>"] {
            assert_eq!(Endpoint::parse(bad, false, path), None, "{bad}");
        }
    }
}
