//! The screens: the floor board (TV) and the agent strip (desktop).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;
use wallboard_protocol::{
    AgentState, Board, Channel, Forecast, Kpi, KpiKey, Kpis, QueueBoard, REGISTRY,
    ServiceLevelDefinition, Status, View, Window, held_status,
};
use wasm_bindgen::JsCast;

use crate::connection::{Conn, Live};
use crate::format::{duration, kpi_value, percent, wait};
use crate::i18n::Lang;
use crate::layout::{Follow, LayoutMissing, Theme};
use crate::messages::Messages;

/// A page of the floor board (kiosk mode rotates through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Everything on one screen (the default without rotation).
    All,
    Overview,
    Queues,
    Agents,
}

impl Page {
    /// The pages a kiosk turns through unless told otherwise.
    pub const DEFAULT: [Page; 3] = [Page::Overview, Page::Queues, Page::Agents];

    pub fn name(self) -> &'static str {
        match self {
            Page::All => "all",
            Page::Overview => "overview",
            Page::Queues => "queues",
            Page::Agents => "agents",
        }
    }

    pub fn parse(name: &str) -> Option<Page> {
        match name.trim() {
            "overview" => Some(Page::Overview),
            "queues" => Some(Page::Queues),
            "agents" => Some(Page::Agents),
            _ => None,
        }
    }
}

/// What the viewer chose.
#[derive(Clone, Copy)]
pub struct Settings {
    pub lang: RwSignal<Lang>,
    pub window: RwSignal<Window>,
    pub sound: RwSignal<bool>,
    pub page: RwSignal<Page>,
    pub kiosk: bool,
    /// The queue whose figures the tiles show (a `view=queue` of one
    /// queue); `None`: the centre's.
    pub scope: StoredValue<Option<String>>,
    /// A `view=queue` (of one queue or several): the centre's own figures
    /// (same time yesterday) are not this screen's.
    pub queue_view: bool,
    /// Which page of each list is shown (lists longer than their box are
    /// split into pages; each shows `step % its pages`).
    pub step: RwSignal<usize>,
    /// How many pages the lists on screen have (the most of them).
    pub pages_on_screen: RwSignal<usize>,
}

/// In kiosk mode without `rotate`: a whole cycle of pages takes about
/// this long (every queue and agent on screen within a minute)…
const KIOSK_CYCLE: Duration = Duration::from_secs(45);
/// …with each page shown at least this long, and at most this long.
const KIOSK_PAGE_MIN: Duration = Duration::from_secs(3);
const KIOSK_PAGE_MAX: Duration = Duration::from_secs(10);

/// A kiosk's page turns. Each turn shows the lists' next page; once every
/// page of this screen was shown, the next screen. With a rotation
/// (`rotate=N`, or a layout's `rotate_seconds`) the screens are the pages
/// (`pages=`, or the layout's) and each page shows N seconds. Without one,
/// the kiosk shows everything on one screen while it fits, and once it
/// does not, turns through the pages (overview, queues, agents) at a pace
/// that shows every page within [`KIOSK_CYCLE`]; on the first pass, before
/// every screen's lists were measured, at the quickest pace. A page list
/// that leaves a page out is kept to: that page is never on screen.
#[derive(Clone, Copy)]
struct Turns {
    settings: Settings,
    /// Whether pages turn at all: in kiosk mode, or with a rotation.
    active: StoredValue<bool>,
    fixed: StoredValue<Option<Duration>>,
    screens: StoredValue<Vec<Page>>,
    rotation: StoredValue<Vec<Page>>,
    /// The floor did not fit on one screen (as last measured).
    overflowed: StoredValue<bool>,
    index: StoredValue<usize>,
    first_pass: StoredValue<bool>,
    /// `Date.now()` when the page on screen was turned to.
    shown_at: StoredValue<f64>,
    queues: Pager,
    agents: Pager,
}

/// How pages turn: seconds per page (`None`: the kiosk's own pace), and
/// the pages, in order.
type Rotation = (Option<Duration>, Vec<Page>);

/// Whether `pages` holds every page (so "all on one screen" shows only
/// what they ask for).
fn covers_all(pages: &[Page]) -> bool {
    Page::DEFAULT.iter().all(|p| pages.contains(p))
}

impl Turns {
    /// Turns pages as `rotation` says, and again each time it changes (a
    /// layout edited live).
    fn start(settings: Settings, rotation: Memo<Rotation>, queues: Pager, agents: Pager) {
        let turns = Turns {
            settings,
            active: StoredValue::new(false),
            fixed: StoredValue::new(None),
            screens: StoredValue::new(vec![Page::All]),
            rotation: StoredValue::new(Page::DEFAULT.to_vec()),
            overflowed: StoredValue::new(false),
            index: StoredValue::new(0),
            first_pass: StoredValue::new(true),
            shown_at: StoredValue::new(js_sys::Date::now()),
            queues,
            agents,
        };
        // The first screen at once (no flash of another page first).
        let configured = StoredValue::new(rotation.get_untracked());
        turns.configure(configured.get_value());
        Effect::new(move |_| {
            let now = rotation.get();
            if configured.with_value(|c| c != &now) {
                configured.set_value(now.clone());
                turns.configure(now);
            }
        });
        // The pace follows the lists as they are measured: checked often,
        // against the time the page has been on screen.
        set_interval(move || turns.poll(), Duration::from_millis(250));
        // As soon as the floor no longer fits on one screen (measured on
        // it), turn through the pages instead.
        Effect::new(move |_| {
            let pages = settings.pages_on_screen.get();
            let on_all = turns.screens.with_value(|s| s == &[Page::All]);
            let own_pace = turns.active.get_value() && turns.fixed.get_value().is_none();
            if own_pace && on_all && pages > 1 {
                turns.overflowed.set_value(true);
                turns.to_rotation();
            }
        });
    }

    /// Starts the rotation afresh from its first page.
    fn configure(self, (every, pages): Rotation) {
        let pages = if pages.is_empty() {
            Page::DEFAULT.to_vec()
        } else {
            pages
        };
        let active = every.is_some() || self.settings.kiosk;
        self.active.set_value(active);
        self.fixed.set_value(every);
        self.rotation.set_value(pages.clone());
        let screens = if !active {
            vec![Page::All]
        } else if every.is_some() || !covers_all(&pages) || self.overflowed.get_value() {
            pages
        } else {
            vec![Page::All]
        };
        let first = screens[0];
        self.screens.set_value(screens);
        self.index.set_value(0);
        self.first_pass.set_value(true);
        self.shown_at.set_value(js_sys::Date::now());
        if self.settings.step.get_untracked() != 0 {
            self.settings.step.set(0);
        }
        if self.settings.page.get_untracked() != first {
            self.settings.page.set(first);
        }
    }

    fn poll(self) {
        if !self.active.get_value() {
            return;
        }
        let now = js_sys::Date::now();
        if now - self.shown_at.get_value() >= self.delay().as_millis() as f64 {
            self.shown_at.set_value(now);
            self.turn();
        }
    }

    fn to_rotation(self) {
        let rotation = self.rotation.get_value();
        self.settings.step.set(0);
        self.settings.page.set(rotation[0]);
        self.screens.set_value(rotation);
        self.index.set_value(0);
        self.first_pass.set_value(true);
        self.shown_at.set_value(js_sys::Date::now());
    }

    fn turn(self) {
        let settings = self.settings;
        let step = settings.step.get_untracked();
        if step + 1 < settings.pages_on_screen.get_untracked() {
            settings.step.set(step + 1);
            return;
        }
        settings.step.set(0);
        let n = self.screens.with_value(Vec::len);
        if n > 1 {
            self.index.update_value(|i| *i = (*i + 1) % n);
            if self.index.get_value() == 0 {
                self.first_pass.set_value(false);
            }
            let next = self.screens.with_value(|s| s[self.index.get_value()]);
            settings.page.set(next);
        }
    }

    /// How long the page now on screen stays.
    fn delay(self) -> Duration {
        if let Some(every) = self.fixed.get_value() {
            return every;
        }
        let screens = self.screens.get_value();
        if screens.len() > 1 && self.first_pass.get_value() {
            return KIOSK_PAGE_MIN;
        }
        let total: usize = screens
            .iter()
            .map(|&screen| screen_pages(screen, self.queues, self.agents))
            .sum();
        (KIOSK_CYCLE / total.max(1) as u32).clamp(KIOSK_PAGE_MIN, KIOSK_PAGE_MAX)
    }
}

/// How many pages a screen has: its longest list's (as last measured).
fn screen_pages(screen: Page, queues: Pager, agents: Pager) -> usize {
    let (with_queues, with_agents) = shows(screen);
    let q = if with_queues {
        queues.pages.get_untracked()
    } else {
        1
    };
    let a = if with_agents {
        agents.pages.get_untracked()
    } else {
        1
    };
    q.max(a).max(1)
}

/// Whether a screen shows the queue table and the agent grid (the
/// overview is the tiles, counts and alerts: on a TV they fill it).
fn shows(screen: Page) -> (bool, bool) {
    (
        matches!(screen, Page::All | Page::Queues),
        matches!(screen, Page::All | Page::Agents),
    )
}

impl Settings {
    pub fn new(params: &crate::Params, lang: Lang) -> Settings {
        Settings {
            lang: RwSignal::new(lang),
            window: RwSignal::new(params.window),
            sound: RwSignal::new(params.sound),
            page: RwSignal::new(Page::All),
            kiosk: params.kiosk,
            scope: StoredValue::new(match &params.view {
                Ok(View::Queue(queues)) if queues.len() == 1 => queues.first().cloned(),
                _ => None,
            }),
            queue_view: matches!(params.view, Ok(View::Queue(_))),
            step: RwSignal::new(0),
            pages_on_screen: RwSignal::new(1),
        }
    }
}

/// The KPI columns of the queue table, after its live figures.
const QUEUE_COLUMNS: [KpiKey; 3] = [
    KpiKey::AgentConnectRate,
    KpiKey::ServiceLevel,
    KpiKey::AbandonRate,
];

/// The queue table's optional columns, hidden in this order (`.drop-1`
/// first) where the table has no width to spare ([`fit_columns`]): the
/// projected service level, the estimated wait, the agents needed, the
/// callbacks pending.
const DROPPABLE: usize = 4;

/// Which optional columns the queue table has: the callbacks' where any
/// queue has some, the forecast's where any queue has one.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Extra {
    callbacks: bool,
    forecast: bool,
}

/// The queues a table lists: those of `only` when it names some.
fn listed<'a, 'o>(
    board: &'a Board,
    only: &'o Option<Vec<String>>,
) -> impl Iterator<Item = (&'a String, &'a QueueBoard)> + use<'a, 'o> {
    board
        .queues
        .iter()
        .filter(move |(id, _)| only.as_ref().is_none_or(|only| only.contains(id)))
}

/// Shows the queue table's optional columns only where they fit in width
/// the table has to spare: with them the table must not be wider than its
/// box, nor taller (its cells wrapping into more lines: fewer rows a
/// page) than with none. `section.queues[data-drop=N]` hides `.drop-1` to
/// `.drop-N`; each count is tried at once, so the browser paints only the
/// outcome. Whether that changed what is hidden.
fn fit_columns() -> bool {
    let document = document();
    let (Some(section), Some(table)) = (
        document.query_selector("section.queues").ok().flatten(),
        document
            .query_selector("section.queues table")
            .ok()
            .flatten(),
    ) else {
        return false;
    };
    // Not laid out (its page is not on screen): nothing to measure.
    if section.client_width() == 0 {
        return false;
    }
    let before = section.get_attribute("data-drop");
    let hiding = |n: usize| {
        let _ = section.set_attribute("data-drop", &n.to_string());
        let fits = section.scroll_width() <= section.client_width();
        (fits, table.get_bounding_client_rect().height())
    };
    let (_, lowest) = hiding(DROPPABLE);
    let n = (0..DROPPABLE)
        .find(|&n| matches!(hiding(n), (true, height) if height <= lowest + 1.0))
        .unwrap_or(DROPPABLE);
    let _ = section.set_attribute("data-drop", &n.to_string());
    before != Some(n.to_string())
}

/// Staffing against need: short when fewer are staffed than needed;
/// `none` without a need (or a staffing) to compare.
fn staffing_status(needed: Option<u64>, staffed: Option<u64>) -> Status {
    match (needed, staffed) {
        (Some(needed), Some(staffed)) if staffed < needed => Status::Breach,
        (Some(_), Some(_)) => Status::Ok,
        _ => Status::None,
    }
}

/// A service level's definition as a tag beside it
/// (`span.sl-definition[data-definition]`, the definition in full as its
/// title), unless it is the default: a floor on the hotline standard
/// stays uncluttered.
fn definition_tag(kpi: Option<&Kpi>, lang: Lang) -> Option<impl IntoView + use<>> {
    sl_definition_tag(kpi?.definition, lang)
}

/// [`definition_tag`] of a definition named on its own (the interval
/// report's per scope).
pub(crate) fn sl_definition_tag(
    definition: Option<ServiceLevelDefinition>,
    lang: Lang,
) -> Option<impl IntoView + use<>> {
    let definition = definition.filter(|d| *d != ServiceLevelDefinition::Hotline)?;
    Some(view! {
        " "
        <span
            class="sl-definition"
            data-definition=definition.as_str()
            title=lang.definition_explained(definition)
        >
            {lang.definition(definition)}
        </span>
    })
}

/// Queues in the config's order, then the others by id: rows never move
/// because of their numbers.
pub(crate) fn stable_order(id: &str, q: &QueueBoard) -> (u32, String) {
    (q.position.unwrap_or(u32::MAX), id.to_string())
}

/// The statuses shown per (scope, KPI), held near their boundaries
/// (`held_status`), forgotten when the window changes.
#[derive(Clone, Copy)]
struct Held(StoredValue<(Option<Window>, Shown)>);

/// Statuses on screen by (scope, KPI).
type Shown = HashMap<(String, KpiKey), Status>;

impl Held {
    fn new() -> Held {
        Held(StoredValue::new((None, HashMap::new())))
    }

    /// A new window is not a change of state: start afresh.
    fn window(&self, window: Window) {
        self.0.update_value(|(shown_for, shown)| {
            if *shown_for != Some(window) {
                shown.clear();
                *shown_for = Some(window);
            }
        });
    }

    fn status(
        &self,
        scope: &str,
        key: KpiKey,
        kpi: Option<&wallboard_protocol::Kpi>,
        band: f64,
    ) -> Status {
        let mut out = Status::None;
        self.0.update_value(|(_, shown)| {
            let slot = (scope.to_string(), key);
            out = held_status(
                shown.get(&slot).copied(),
                key.direction(),
                kpi.and_then(|k| k.value),
                kpi.and_then(|k| k.target),
                band,
            );
            shown.insert(slot, out);
        });
        out
    }
}

/// Each state's shape, so state does not rest on colour alone.
fn state_mark(state: AgentState) -> &'static str {
    match state {
        AgentState::Available => "●",
        AgentState::OnContact => "◆",
        AgentState::WrapUp => "▲",
        AgentState::Aux => "■",
        AgentState::Offline => "○",
    }
}

pub(crate) fn status_name(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Warn => "warn",
        Status::Breach => "breach",
        Status::None => "none",
    }
}

/// Colour is never the only signal: each status has an icon too.
pub(crate) fn status_icon(status: Status) -> &'static str {
    match status {
        Status::Ok => "✓",
        Status::Warn => "▲",
        Status::Breach => "✕",
        Status::None => "–",
    }
}

pub(crate) fn queue_name(q: &QueueBoard, lang: Lang) -> String {
    let code = if lang == Lang::Zh { "zh" } else { "en" };
    q.names.get(code).cloned().unwrap_or_else(|| q.name.clone())
}

/// Seconds from an instant (ms since the epoch) to now, never negative.
fn seconds_since(now_ms: f64, since: jiff::Timestamp) -> f64 {
    ((now_ms - since.as_millisecond() as f64) / 1000.0).max(0.0)
}

/// The KPIs the tiles show: the centre's, or the one queue a queue view
/// is set to.
fn scope_kpis<'a>(board: &'a Board, scope: &Option<String>, window: Window) -> Option<&'a Kpis> {
    match scope {
        Some(queue) => board.queues.get(queue)?.windows.get(&window),
        None => board.totals.get(&window),
    }
}

/// A KPI's value at the same time yesterday: `None` when the board has no
/// such figures, `Some(None)` when it has them but not this KPI's value.
fn yesterday_value(board: &Board, key: KpiKey) -> Option<Option<f64>> {
    let kpis = board.same_time_yesterday.as_ref()?;
    Some(kpis.get(key).and_then(|k| k.value))
}

/// A scope's KPIs by channel: the centre's, or the one queue a queue view
/// is set to; `None` where no channel besides voice was counted.
fn scope_channels<'a>(
    board: &'a Board,
    scope: &Option<String>,
) -> Option<&'a BTreeMap<Channel, BTreeMap<Window, Kpis>>> {
    let channels = match scope {
        Some(queue) => &board.queues.get(queue)?.channels,
        None => &board.channels,
    };
    (!channels.is_empty()).then_some(channels)
}

/// The freshness indicator: live / updated N s ago / reconnecting.
#[component]
fn Freshness(live: Live, settings: Settings) -> impl IntoView {
    let text = move || {
        let lang = settings.lang.get();
        match live.conn.get() {
            Conn::Connecting => lang.t("connecting").to_string(),
            // How old what is on screen is, said plainly.
            Conn::Reconnecting if live.last_message_ms.get() > 0.0 => {
                let age = live.age_seconds().floor();
                match lang {
                    Lang::Zh => format!("{} · 数据已 {age:.0} 秒未更新", lang.t("reconnecting")),
                    Lang::En => format!("{} · data {age:.0} s old", lang.t("reconnecting")),
                }
            }
            Conn::Reconnecting => lang.t("reconnecting").to_string(),
            Conn::Live if live.is_stale() => {
                let age = live.age_seconds().floor();
                match lang {
                    Lang::Zh => format!("{} {age:.0} {}", lang.t("stale"), lang.t("updated_ago")),
                    Lang::En => format!(
                        "{} · updated {age:.0}{}",
                        lang.t("stale"),
                        lang.t("updated_ago")
                    ),
                }
            }
            Conn::Live => lang.t("live").to_string(),
        }
    };
    let state = move || match live.conn.get() {
        Conn::Live if !live.is_stale() => "live",
        Conn::Live => "stale",
        Conn::Connecting => "connecting",
        Conn::Reconnecting => "reconnecting",
    };
    view! {
        <span class="freshness" data-state=state data-server=move || live.server.get() title=move || live.server.get()>
            <span class="dot"></span>
            <span class="freshness-text">{text}</span>
        </span>
    }
}

/// Telephony connections that are down: the board is missing their events.
#[component]
fn SourcesDown(live: Live, settings: Settings) -> impl IntoView {
    let down = move || {
        live.board.with(|b| {
            b.as_ref()
                .map(|b| {
                    b.sources
                        .iter()
                        .filter(|(_, s)| !s.up)
                        .map(|(name, _)| name.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    move || {
        let names = down();
        (!names.is_empty()).then(|| {
            let lang = settings.lang.get();
            view! {
                <span class="sources-down" role="alert">
                    {format!("⚠ {} {}", lang.t("source_down"), names.join(", "))}
                </span>
            }
        })
    }
}

/// The local time of the center (the board's time zone).
pub(crate) fn clock_text(now_ms: f64, timezone: Option<String>, lang: Lang) -> String {
    time_of_day(now_ms, timezone, lang, true)
}

/// A time (ms since the epoch) in the board's time zone: `HH:MM:SS`, or
/// `HH:MM` without `seconds`.
fn time_of_day(ms: f64, timezone: Option<String>, lang: Lang, seconds: bool) -> String {
    let options = js_sys::Object::new();
    let set = |k: &str, v: &str| {
        let _ = js_sys::Reflect::set(&options, &k.into(), &v.into());
    };
    set("hour", "2-digit");
    set("minute", "2-digit");
    if seconds {
        set("second", "2-digit");
    }
    set("hourCycle", "h23");
    if let Some(tz) = timezone.filter(|tz| tz.contains('/')) {
        set("timeZone", &tz);
    }
    let date = js_sys::Date::new(&ms.into());
    date.to_locale_time_string_with_options(lang.code(), &options)
        .into()
}

#[component]
fn Header(live: Live, settings: Settings) -> impl IntoView {
    let clock = move || {
        let tz = live.board.with(|b| b.as_ref().map(|b| b.timezone.clone()));
        clock_text(live.server_now_ms(), tz, settings.lang.get())
    };
    let controls = (!settings.kiosk).then(|| {
        let window_button = move |w: Window| {
            view! {
                <button
                    class="window"
                    data-window=w.as_str()
                    class:active=move || settings.window.get() == w
                    on:click=move |_| settings.window.set(w)
                >
                    {move || settings.lang.get().t(w.as_str())}
                </button>
            }
        };
        view! {
            <nav class="controls">
                {window_button(Window::Today)}
                {window_button(Window::Min60)}
                {window_button(Window::Min15)}
                <button class="lang" on:click=move |_| settings.lang.update(|l| *l = l.other())>
                    {move || if settings.lang.get() == Lang::Zh { "English" } else { "中文" }}
                </button>
                <button class="sound" on:click=move |_| settings.sound.update(|s| *s = !*s)>
                    {move || {
                        let lang = settings.lang.get();
                        if settings.sound.get() { lang.t("sound_on") } else { lang.t("sound_off") }
                    }}
                </button>
                <a
                    class="intervals-link"
                    id="intervals-link"
                    href=move || crate::intervals::page_href(settings.lang.get())
                >
                    {move || settings.lang.get().t("intervals_link")}
                </a>
            </nav>
        }
    });
    // A one-queue view says whose figures the tiles are.
    let scope = move || {
        let queue = settings.scope.get_value()?;
        let lang = settings.lang.get();
        let name = live.board.with(|b| {
            b.as_ref()
                .and_then(|b| b.queues.get(&queue).map(|q| queue_name(q, lang)))
        });
        Some(view! { <span class="scope">{name.unwrap_or(queue)}</span> })
    };
    view! {
        <header>
            <h1>{move || settings.lang.get().t("title")}</h1>
            {scope}
            <span class="window-label">{move || settings.lang.get().t(settings.window.get().as_str())}</span>
            <span class="clock">{clock}</span>
            <Freshness live settings />
            <SourcesDown live settings />
            {controls}
        </header>
    }
}

/// Plays a short tone (the viewer switched sound on: a gesture happened).
pub(crate) fn beep() {
    let Ok(ctx) = web_sys::AudioContext::new() else {
        return;
    };
    let (Ok(osc), Ok(gain)) = (ctx.create_oscillator(), ctx.create_gain()) else {
        return;
    };
    osc.frequency().set_value(880.0);
    gain.gain().set_value(0.2);
    let _ = osc.connect_with_audio_node(&gain);
    let _ = gain.connect_with_audio_node(&ctx.destination());
    let _ = osc.start();
    let _ = osc.stop_with_when(ctx.current_time() + 0.4);
}

/// A sparkline's geometry: the trend's points and the target's height, in
/// a 120×32 box (the value axis spans the data and the target).
fn sparkline(values: &[Option<f64>], target: Option<f64>) -> (String, Option<f64>) {
    let present: Vec<f64> = values.iter().flatten().copied().chain(target).collect();
    let (lo, hi) = present
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    if present.is_empty() {
        return (String::new(), None);
    }
    let span = if hi - lo < 1e-9 { 1.0 } else { hi - lo };
    let y = |v: f64| 30.0 - (v - lo) / span * 28.0;
    let step = 120.0 / (values.len().max(2) - 1) as f64;
    let points = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", i as f64 * step, y(v))))
        .collect::<Vec<_>>()
        .join(" ");
    (points, target.map(y))
}

/// What the queues of the tiles' scope need: Σ agents needed and Σ
/// staffed over those whose need is known (an agent serving two queues
/// counts in each, as in each queue's need).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Staffing {
    needed: u64,
    staffed: u64,
    /// A one-queue scope's chance that a caller waits (`None`: the scope
    /// is not one queue).
    wait_probability: Option<Option<f64>>,
}

impl Staffing {
    /// Over the one queue a queue view is set to, else every queue on the
    /// board; `None` where no queue's need is known.
    fn of(board: &Board, scope: &Option<String>) -> Option<Staffing> {
        let forecasts: Vec<&Forecast> = board
            .queues
            .iter()
            .filter(|(id, _)| scope.as_ref().is_none_or(|s| s == *id))
            .filter_map(|(_, q)| q.forecast.as_ref())
            .collect();
        let (needed, staffed) = forecasts
            .iter()
            .filter_map(|f| Some((f.agents_needed?, f.agents_staffed)))
            .reduce(|a, b| (a.0 + b.0, a.1 + b.1))?;
        Some(Staffing {
            needed,
            staffed,
            wait_probability: scope
                .is_some()
                .then(|| forecasts.first().and_then(|f| f.wait_probability)),
        })
    }
}

/// The tile of the agents the scope needs (`#tile-agents-needed`,
/// `data-kpi="agents_needed"`): Σ needed, "staffed N", short-staffed or
/// not in an icon and a word beside the colour; in a one-queue view, the
/// chance that a caller waits too.
#[component]
fn StaffingTile(live: Live, settings: Settings) -> impl IntoView {
    let staffing = Memo::new(move |_| {
        let scope = settings.scope.get_value();
        live.board
            .with(|b| b.as_ref().and_then(|b| Staffing::of(b, &scope)))
    });
    move || {
        let s = staffing.get()?;
        let lang = settings.lang.get();
        let status = staffing_status(Some(s.needed), Some(s.staffed));
        // It needs attention only when short: the overview's line is full
        // on a desktop screen, and the queue table has each queue's figure.
        if status != Status::Breach {
            return None;
        }
        let word = if status == Status::Breach {
            "short_staffed"
        } else {
            "enough_staff"
        };
        let chance = s.wait_probability.map(|p| {
            view! {
                <span class="tile-sub wait-probability" title=lang.t("tip_wait_probability")>
                    {lang.t("wait_probability")}
                    " "
                    <b>{percent(p)}</b>
                </span>
            }
        });
        // On the figures' line, not a row of its own: the overview keeps
        // its height, so the agents below keep their room.
        Some(view! {
            <span
                class="figure staffing"
                id="tile-agents-needed"
                data-kpi="agents_needed"
                data-status=status_name(status)
                title=lang.t("tip_agents_needed")
            >
                <span class="tile-label">{lang.t("agents_needed")}</span>
                " "
                <b class="tile-value">{s.needed}</b>
                " "
                // "2 / 3": needed, then staffed (the words for screen
                // readers; the status by its icon's shape, worded in the
                // title), short enough to share the line with the complaints.
                <span class="tile-target staffed">
                    <span class="sr-only">{lang.t("staffed")}</span>
                    {format!("/ {}", s.staffed)}
                </span>
                {chance}
                " "
                <span class="tile-status" title=lang.t(word)>
                    <span class="icon" aria-hidden="true">{status_icon(status)}</span>
                    <span class="sr-only">{lang.t(word)}</span>
                </span>
            </span>
        })
    }
}

/// How long a tile flashes after going into breach.
const FLASH_MS: f64 = 5000.0;

/// The KPI tiles, in `tiles`' order (the registry's, or a layout's).
#[component]
fn Tiles(
    live: Live,
    settings: Settings,
    alerts: RwSignal<VecDeque<Alert>>,
    tiles: Memo<Vec<KpiKey>>,
) -> impl IntoView {
    // Tiles that went into breach, and until when they flash.
    let flashing = RwSignal::new(HashMap::<KpiKey, f64>::new());
    // What each tile shows: the server's status, held near its boundary
    // (`held_status`), so a figure sitting on its target does not flap.
    let shown = RwSignal::new(HashMap::<KpiKey, Status>::new());
    let shown_window = StoredValue::new(None::<Window>);
    Effect::new(move |_| {
        let window = settings.window.get();
        live.board.with(|board| {
            let Some(board) = board.as_ref() else {
                return;
            };
            let Some(kpis) = scope_kpis(board, &settings.scope.get_value(), window) else {
                // No figures (yet) in this scope: no colours either.
                if !shown.with_untracked(HashMap::is_empty) {
                    shown.set(HashMap::new());
                }
                return;
            };
            // A new window is not a change of state.
            let same_window = shown_window.get_value() == Some(window);
            shown_window.set_value(Some(window));
            let before = if same_window {
                shown.get_untracked()
            } else {
                HashMap::new()
            };
            let now = js_sys::Date::now();
            let mut newly = false;
            let mut next = HashMap::new();
            for key in tiles.get() {
                let kpi = kpis.get(key);
                let was = before.get(&key).copied();
                let status = held_status(
                    was,
                    key.direction(),
                    kpi.and_then(|k| k.value),
                    kpi.and_then(|k| k.target),
                    board.warn_band,
                );
                let into_breach =
                    status == Status::Breach && was.is_some_and(|b| b != Status::Breach);
                let recovered =
                    was == Some(Status::Breach) && matches!(status, Status::Ok | Status::Warn);
                if into_breach {
                    flashing.update(|f| {
                        f.insert(key, now + FLASH_MS);
                    });
                    newly = true;
                }
                if into_breach || recovered {
                    let at = live.server_now_ms();
                    alerts.update(|list| {
                        list.push_front(Alert {
                            key,
                            at,
                            breach: into_breach,
                        });
                        list.truncate(ALERTS_KEPT);
                    });
                }
                next.insert(key, status);
            }
            if next != before {
                shown.set(next);
            }
            if newly && settings.sound.get_untracked() {
                beep();
            }
        });
    });
    let tile = move |key: KpiKey| {
        let kpi = move || {
            live.board.with(|b| {
                b.as_ref()
                    .and_then(|b| scope_kpis(b, &settings.scope.get_value(), settings.window.get()))
                    .and_then(|k| k.get(key).copied())
            })
        };
        let status = move || shown.with(|s| s.get(&key).copied().unwrap_or(Status::None));
        let spark = move || {
            let target = kpi().and_then(|k| k.target);
            live.board.with(|b| {
                let values = b.as_ref().and_then(|b| b.trend.get(key.as_str()));
                sparkline(values.map(Vec::as_slice).unwrap_or(&[]), target)
            })
        };
        let target = move || {
            let lang = settings.lang.get();
            match kpi().and_then(|k| k.target) {
                Some(t) => format!("{} {}", lang.t("target"), kpi_value(key, Some(t))),
                None => String::new(),
            }
        };
        // The centre's figure at the same time yesterday: beside today's
        // only (not a rolling window's), and not on a queue's screen.
        let yesterday = Memo::new(move |_| {
            if settings.queue_view || settings.window.get() != Window::Today {
                return None;
            }
            let value = live.board.with(|b| yesterday_value(b.as_ref()?, key))?;
            Some(kpi_value(key, value))
        });
        let yesterday = move || {
            let lang = settings.lang.get();
            yesterday.get().map(|value| {
                view! {
                    <div class="tile-yesterday" title=lang.t("tip_yesterday")>
                        {lang.yesterday(&value)}
                    </div>
                }
            })
        };
        view! {
            <div
                class="tile"
                data-kpi=key.as_str()
                data-status=move || status_name(status())
                class:flash=move || {
                    flashing.with(|f| f.get(&key).is_some_and(|until| live.now_ms.get() < *until))
                }
            >
                <div class="tile-label">
                    {move || settings.lang.get().t(key.as_str())}
                    {move || definition_tag(kpi().as_ref(), settings.lang.get())}
                </div>
                <div class="tile-value">{move || kpi_value(key, kpi().and_then(|k| k.value))}</div>
                {yesterday}
                <svg class="spark" viewBox="0 0 120 32" preserveAspectRatio="none">
                    <line
                        class="spark-target"
                        x1="0"
                        x2="120"
                        y1=move || spark().1.unwrap_or(-10.0).to_string()
                        y2=move || spark().1.unwrap_or(-10.0).to_string()
                    />
                    <polyline class="spark-line" points=move || spark().0 />
                </svg>
                <div class="tile-foot">
                    <span class="tile-target">{target}</span>
                    <span class="tile-status">
                        <span class="icon">{move || status_icon(status())}</span>
                        " "
                        {move || settings.lang.get().t(status_name(status()))}
                    </span>
                </div>
            </div>
        }
    };
    view! {
        <section class="tiles">
            <For each=move || tiles.get() key=|key| *key children=tile />
        </section>
    }
}

/// The queues (those of `only`, when it lists some), in the config's order,
/// with their callbacks pending and forecast where the board has them.
#[component]
fn QueueTable(
    live: Live,
    settings: Settings,
    pager: Pager,
    only: Memo<Option<Vec<String>>>,
) -> impl IntoView {
    let held = Held::new();
    pager.mounted();
    let extra = Memo::new(move |_| {
        let window = settings.window.get();
        live.board.with(|board| {
            let Some(board) = board else {
                return Extra::default();
            };
            only.with(|only| {
                listed(board, only).fold(Extra::default(), |e, (_, q)| Extra {
                    callbacks: e.callbacks
                        || q.callbacks_pending > 0
                        || q.windows.get(&window).is_some_and(|k| k.callbacks > 0),
                    forecast: e.forecast || q.forecast.is_some(),
                })
            })
        })
    });
    // The optional columns that fit, checked each second and as soon as
    // the columns, the language or the page change (each changes widths).
    let fit = move || {
        if fit_columns() {
            pager.measure();
        }
    };
    set_interval(fit, Duration::from_secs(1));
    Effect::new(move |_| {
        extra.track();
        settings.lang.track();
        settings.page.track();
        request_animation_frame(fit);
    });
    let rows = move || {
        let lang = settings.lang.get();
        let window = settings.window.get();
        let now = live.data_now_ms();
        let extra = extra.get();
        held.window(window);
        live.board.with(|board| {
            let Some(board) = board else {
                return Vec::new();
            };
            let mut queues: Vec<(&String, &QueueBoard)> =
                only.with(|only| listed(board, only).collect());
            queues.sort_by_key(|(id, q)| stable_order(id, q));
            let shown = pager.window(queues.len(), settings);
            queues[shown]
                .iter()
                .copied()
                .map(|(id, q)| {
                    let kpis = q.windows.get(&window);
                    let wait_text = q
                        .longest_wait_since
                        .map(|since| duration(seconds_since(now, since)))
                        .unwrap_or_else(|| "—".into());
                    let cell = |key: KpiKey| {
                        let k = kpis.and_then(|k| k.get(key).copied());
                        let status = held.status(id, key, k.as_ref(), board.warn_band);
                        view! {
                            <td class="kpi" data-status=status_name(status)>
                                <span class="icon">{status_icon(status)}</span>
                                " "
                                {kpi_value(key, k.and_then(|k| k.value))}
                                {definition_tag(k.as_ref(), lang)}
                                {k.and_then(|k| k.target).map(|t| view! {
                                    <span class="of-target">{format!("{} {}", lang.t("target"), kpi_value(key, Some(t)))}</span>
                                })}
                            </td>
                        }
                    };
                    let callbacks = extra.callbacks.then(|| {
                        view! { <td class="callbacks-pending drop-4">{q.callbacks_pending}</td> }
                    });
                    let forecast = extra.forecast.then(|| {
                        forecast_cells(id, q, kpis, held, board.warn_band)
                    });
                    view! {
                        <tr data-queue=id.clone() class:busy={q.waiting > 0}>
                            <td class="name">
                                {queue_name(q, lang)}
                                {needs_vip_badge(q, &queue_name(q, lang)).then(|| view! { <span class="vip">"VIP"</span> })}
                            </td>
                            <td class="waiting">{q.waiting}</td>
                            <td class="longest">{wait_text}</td>
                            {QUEUE_COLUMNS.map(cell).collect_view()}
                            {callbacks}
                            {forecast}
                        </tr>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    // The local time (HH:MM) the projection's interval ends at: the same
    // for every queue.
    let interval_end = Memo::new(move |_| {
        let lang = settings.lang.get();
        live.board.with(|b| {
            let b = b.as_ref()?;
            let end = b
                .queues
                .values()
                .find_map(|q| q.forecast.as_ref())?
                .interval_end;
            let ms = end.as_millisecond() as f64;
            Some(time_of_day(ms, Some(b.timezone.clone()), lang, false))
        })
    });
    // The optional columns' headers, each with what it means.
    let extra_heads = move || {
        let lang = settings.lang.get();
        let Extra {
            callbacks,
            forecast,
        } = extra.get();
        let callbacks = callbacks.then(|| {
            view! {
                <th class="callbacks-pending drop-4" title=lang.t("tip_callbacks")>
                    {lang.t("callbacks_pending")}
                </th>
            }
        });
        let forecast = forecast.then(|| {
            let ends = interval_end.get();
            view! {
                <th class="agents-needed drop-3" title=lang.t("tip_agents_needed")>
                    {lang.t("agents_needed")}
                </th>
                <th class="estimated-wait drop-2" title=lang.t("tip_estimated_wait")>
                    {lang.t("estimated_wait")}
                </th>
                <th class="sl-projected drop-1" title=lang.sl_projected_tip(ends.as_deref())>
                    {lang.t("sl_projected")}
                </th>
            }
        });
        view! { {callbacks} {forecast} }
    };
    view! {
        <section class="queues" class:measuring=move || !pager.measured.get()>
            {pager.label(settings)}
            <table>
                <thead>
                    <tr>
                        <th>{move || settings.lang.get().t("queue")}</th>
                        <th>{move || settings.lang.get().t("waiting")}</th>
                        <th>{move || settings.lang.get().t("longest_wait")}</th>
                        {QUEUE_COLUMNS
                            .map(|key| view! { <th>{move || settings.lang.get().column(key)}</th> })
                            .collect_view()}
                        {extra_heads}
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

/// A queue's forecast cells: agents needed / staffed (short: `breach`),
/// the estimated wait, and the projected service level against the
/// queue's target; "—" where a figure is undefined.
fn forecast_cells(
    id: &str,
    q: &QueueBoard,
    kpis: Option<&Kpis>,
    held: Held,
    band: f64,
) -> impl IntoView + use<> {
    let f = q.forecast.as_ref();
    let needed = f.and_then(|f| f.agents_needed);
    let staffed = f.map(|f| f.agents_staffed);
    let need = staffing_status(needed, staffed);
    let number = |n: Option<u64>| n.map_or_else(|| "—".to_string(), |n| n.to_string());
    let projected = Kpi {
        value: f.and_then(|f| f.service_level_projected),
        target: kpis
            .and_then(|k| k.get(KpiKey::ServiceLevel))
            .and_then(|k| k.target),
        status: Status::None,
        definition: None,
    };
    // Held apart from the queue's own service level.
    let scope = format!("projected\u{1f}{id}");
    let sl = held.status(&scope, KpiKey::ServiceLevel, Some(&projected), band);
    view! {
        <td class="agents-needed drop-3" data-status=status_name(need)>
            <span class="icon">{status_icon(need)}</span>
            " "
            {format!("{} / {}", number(needed), number(staffed))}
        </td>
        <td class="estimated-wait drop-2">{wait(f.and_then(|f| f.estimated_wait_seconds))}</td>
        <td class="sl-projected drop-1" data-status=status_name(sl)>
            <span class="icon">{status_icon(sl)}</span>
            " "
            {percent(projected.value)}
        </td>
    }
}

/// A list cut to what fits its box: `per_page` measured from the box and
/// one rendered item (rows of a table, cards of a grid), re-measured each
/// second (a TV's size rarely changes; a language's widths do).
#[derive(Clone, Copy)]
struct Pager {
    per_page: RwSignal<usize>,
    pages: RwSignal<usize>,
    /// Whether `per_page` was measured in the list's box as it is now
    /// (until then the list is laid out but not shown: never cut off).
    measured: RwSignal<bool>,
    container: &'static str,
    item: &'static str,
}

impl Pager {
    /// A pager of the `item`s in `container` (CSS selectors), measured
    /// every second from now on.
    fn new(container: &'static str, item: &'static str) -> Pager {
        let pager = Pager {
            // Everything until the first measurement cuts it to what fits.
            per_page: RwSignal::new(usize::MAX),
            pages: RwSignal::new(1),
            measured: RwSignal::new(false),
            container,
            item,
        };
        set_interval(
            move || pager.measure(),
            std::time::Duration::from_millis(1000),
        );
        pager
    }

    /// A list mounting (a new screen): measure as soon as it is laid out.
    fn mounted(self) {
        self.measured.set(false);
        request_animation_frame(move || self.measure());
    }

    /// How many items fit in the container: `(columns, rows)` from the
    /// boxes of the container and of its first item, and the gap.
    fn measure(self) {
        let document = document();
        let (Some(boxed), Some(one)) = (
            document.query_selector(self.container).ok().flatten(),
            document.query_selector(self.item).ok().flatten(),
        ) else {
            return;
        };
        let b = boxed.get_bounding_client_rect();
        let i = one.get_bounding_client_rect();
        if i.height() < 1.0 || i.width() < 1.0 {
            return;
        }
        // Rows are as tall as their tallest item.
        let tallest = document
            .query_selector_all(self.item)
            .ok()
            .map(|all| {
                (0..all.length())
                    .filter_map(|k| all.item(k))
                    .filter_map(|n| n.dyn_into::<web_sys::Element>().ok())
                    .map(|e| e.get_bounding_client_rect().height())
                    .fold(i.height(), f64::max)
            })
            .unwrap_or(i.height());
        // From the first item's top (after a table's header) to the box's
        // content bottom, in item heights (and gaps).
        let gap = gap_of(&one);
        let bottom = b.bottom() - px_style(&boxed, "padding-bottom");
        let rows = ((bottom - i.top() + gap + 0.5) / (tallest + gap)).floor();
        let columns = ((b.width() + gap + 0.5) / (i.width() + gap)).floor();
        let fit = (rows.max(1.0) * columns.max(1.0)) as usize;
        if fit != self.per_page.get_untracked() {
            self.per_page.set(fit);
        }
        if !self.measured.get_untracked() {
            self.measured.set(true);
        }
    }

    /// The slice of `n` items to show now, and records the page count.
    fn window(self, n: usize, settings: Settings) -> std::ops::Range<usize> {
        if n > 0 && !self.measured.get_untracked() {
            // The first items are being laid out: measure them next frame.
            request_animation_frame(move || self.measure());
        }
        let per_page = self.per_page.get().max(1);
        let pages = n.div_ceil(per_page).max(1);
        if pages != self.pages.get_untracked() {
            self.pages.set(pages);
        }
        let page = settings.step.get() % pages;
        let start = page * per_page;
        start..start.saturating_add(per_page).min(n)
    }

    /// "page 2/5"; always laid out (hidden with one page), so that its
    /// showing up does not move the list it measured.
    fn label(self, settings: Settings) -> impl IntoView {
        let text = move || {
            let pages = self.pages.get();
            let page = settings.step.get() % pages + 1;
            match settings.lang.get() {
                Lang::Zh => format!("第 {page}/{pages} 页"),
                Lang::En => format!("page {page}/{pages}"),
            }
        };
        view! { <span class="page-of" class:single=move || self.pages.get() <= 1>{text}</span> }
    }
}

/// The gap between items: the parent's CSS `row-gap` (0 for table rows).
fn gap_of(item: &web_sys::Element) -> f64 {
    item.parent_element()
        .map_or(0.0, |parent| px_style(&parent, "row-gap"))
}

/// A computed style property in px (0 when it is not a length).
fn px_style(element: &web_sys::Element, property: &str) -> f64 {
    window()
        .get_computed_style(element)
        .ok()
        .flatten()
        .and_then(|style| style.get_property_value(property).ok())
        .and_then(|v| v.trim_end_matches("px").parse().ok())
        .unwrap_or(0.0)
}

/// Where an agent's card goes: those over their state's limit first (the
/// furthest over first), then the longest in aux, wrap-up, on a contact,
/// then available. Cards move when a state changes or a limit is crossed,
/// not every second.
fn attention(a: &wallboard_protocol::AgentBoard, now_ms: f64) -> (u8, i64) {
    let since_ms = a.since.as_millisecond();
    if let Some(over_ms) = over_limit_ms(a, now_ms) {
        return (0, -over_ms);
    }
    let group = match a.state {
        AgentState::Aux => 1,
        AgentState::WrapUp => 2,
        AgentState::OnContact => 3,
        AgentState::Available => 4,
        AgentState::Offline => 5,
    };
    (group, since_ms)
}

/// How far past its state's limit an agent is (ms), if it is.
fn over_limit_ms(a: &wallboard_protocol::AgentBoard, now_ms: f64) -> Option<i64> {
    let limit = a.limit_seconds? as f64;
    let secs = seconds_since(now_ms, a.since);
    (secs >= limit).then_some(((secs - limit) * 1000.0) as i64)
}

/// A queue's name, with a VIP badge unless the name already says VIP.
fn needs_vip_badge(q: &QueueBoard, name: &str) -> bool {
    q.vip && !name.to_ascii_uppercase().contains("VIP")
}

/// The agents signed in (`.agent[data-agent=ID]` cards), those needing
/// attention first, a page at a time: name and time in state, state and
/// aux reason or queue; an agent with a capacity shows its slots in use per
/// channel (`.agent-slots[data-channel=CH]`) on that same line.
#[component]
fn AgentGrid(live: Live, settings: Settings, pager: Pager) -> impl IntoView {
    pager.mounted();
    let counts = move || {
        let lang = settings.lang.get();
        live.board.with(|board| {
            AgentState::ALL
                .iter()
                .map(|state| {
                    let n = board
                        .as_ref()
                        .and_then(|b| b.agent_states.get(state).copied())
                        .unwrap_or(0);
                    view! {
                        <span class="count" data-state=state.as_str()>
                            <span class="n">{n}</span>
                            " "
                            {lang.t(state.as_str())}
                        </span>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let cards = move || {
        let lang = settings.lang.get();
        let now = live.data_now_ms();
        live.board.with(|board| {
            let Some(board) = board else {
                return Vec::new();
            };
            let mut agents: Vec<_> = board
                .agents
                .iter()
                .filter(|(_, a)| a.state != AgentState::Offline)
                .collect();
            agents.sort_by_key(|(id, a)| (attention(a, now), (*id).clone()));
            let shown = pager.window(agents.len(), settings);
            agents[shown]
                .iter()
                .copied()
                .map(|(id, a)| {
                    let name = a.name.clone().unwrap_or_else(|| id.clone());
                    let queue = a.queue.as_ref().map(|q| {
                        board
                            .queues
                            .get(q)
                            .map(|qb| queue_name(qb, lang))
                            .unwrap_or(q.clone())
                    });
                    let with_slots = !a.slots.is_empty();
                    let detail = match (&a.reason, queue) {
                        (Some(reason), _) if a.state == AgentState::Aux => {
                            format!("{}{}", lang.t("reason"), lang.reason(reason))
                        }
                        // The queue names one of the contacts an agent with
                        // slots holds: their slots say more.
                        (_, Some(queue)) if !with_slots => queue,
                        _ => String::new(),
                    };
                    let detail = if with_slots && !detail.is_empty() {
                        format!(" {detail}")
                    } else {
                        detail
                    };
                    let over = over_limit_ms(a, now).is_some();
                    // Per channel of the agent's capacity, its slots in use
                    // ("Chat 1/3"), on the detail line: the card keeps its
                    // height. In words for screen readers and the title.
                    let slots = a
                        .slots
                        .iter()
                        .map(|(channel, s)| {
                            let words = lang.slots_words(*channel, *s);
                            view! {
                                <span class="agent-slots" data-channel=channel.as_str() title=words.clone()>
                                    <span aria-hidden="true">{lang.slots(*channel, *s)}</span>
                                    <span class="sr-only">{words.clone()}</span>
                                </span>
                            }
                        })
                        .collect::<Vec<_>>();
                    view! {
                        <div
                            class="agent"
                            data-agent=id.clone()
                            data-state=a.state.as_str()
                            class:over=over
                            class:with-slots=with_slots
                        >
                            <div class="agent-name">{name}</div>
                            <div class="agent-state">
                                <span class="state-mark" aria-hidden="true">{state_mark(a.state)}</span>
                                " "
                                {lang.t(a.state.as_str())}
                            </div>
                            <div class="agent-time">
                                {duration(seconds_since(now, a.since))}
                                {over.then(|| view! {
                                    <span class="over-mark">
                                        <span aria-hidden="true">" ⚠ "</span>
                                        <span class="over-word">{lang.t("over_limit")}</span>
                                    </span>
                                })}
                            </div>
                            <div class="agent-detail">{slots}{detail}</div>
                        </div>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="agents" class:measuring=move || !pager.measured.get()>
            <div class="counts">{counts} {pager.label(settings)}</div>
            <div class="grid">{cards}</div>
        </section>
    }
}

/// A tile going into breach, or out of it, as this screen saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alert {
    key: KpiKey,
    /// Server time (ms since the epoch).
    at: f64,
    /// Into breach (`false`: recovered).
    breach: bool,
}

/// Alerts listed (newest first); older ones are let go.
const ALERTS_KEPT: usize = 8;

/// What went into breach when, and when it recovered, since this screen
/// started (the server keeps no alert history; Alertmanager does).
#[component]
fn AlertList(live: Live, settings: Settings, alerts: RwSignal<VecDeque<Alert>>) -> impl IntoView {
    let items = move || {
        let lang = settings.lang.get();
        let tz = live.board.with(|b| b.as_ref().map(|b| b.timezone.clone()));
        alerts.with(|list| {
            list.iter()
                .map(|a| {
                    let what = if a.breach {
                        lang.t("breach")
                    } else {
                        lang.t("recovered")
                    };
                    let status = if a.breach { "breach" } else { "ok" };
                    view! {
                        <li data-status=status>
                            <span class="alert-time">{clock_text(a.at, tz.clone(), lang)}</span>
                            " "
                            <span class="icon">{if a.breach { "✕" } else { "✓" }}</span>
                            " "
                            {lang.t(a.key.as_str())}
                            " · "
                            {what}
                        </li>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="alerts" aria-label=move || settings.lang.get().t("alerts")>
            <span class="alerts-title">{move || settings.lang.get().t("alerts")}</span>
            <Show
                when=move || alerts.with(|a| !a.is_empty())
                fallback=move || view! { <span class="alerts-none">{move || settings.lang.get().t("no_alerts")}</span> }
            >
                <ul>{items}</ul>
            </Show>
        </section>
    }
}

/// The figures the tiles leave out: counts, handle time, occupancy.
#[component]
fn Figures(live: Live, settings: Settings) -> impl IntoView {
    let figures = move || {
        let lang = settings.lang.get();
        let window = settings.window.get();
        live.board.with(|b| {
            let kpis = b
                .as_ref()
                .and_then(|b| scope_kpis(b, &settings.scope.get_value(), window));
            let count = |key: &'static str, n: Option<u64>| {
                view! {
                    <span class="figure" data-figure=key>
                        {lang.t(key)} " " <b>{n.map_or("—".to_string(), |n| n.to_string())}</b>
                    </span>
                }
            };
            let kpi = |key: KpiKey| {
                let value = kpis.and_then(|k| k.get(key)).and_then(|k| k.value);
                view! {
                    <span class="figure" data-figure=key.as_str()>
                        {lang.t(key.as_str())} " " <b>{kpi_value(key, value)}</b>
                    </span>
                }
            };
            view! {
                {count("offered", kpis.map(|k| k.offered))}
                {count("answered", kpis.map(|k| k.answered))}
                {count("abandoned", kpis.map(|k| k.abandoned))}
                {REGISTRY.iter().filter(|s| !s.tile).map(|s| kpi(s.key)).collect_view()}
            }
        })
    };
    view! { <div class="figures">{figures} <StaffingTile live settings /></div> }
}

#[component]
fn Complaints(live: Live, settings: Settings) -> impl IntoView {
    let open = move || {
        live.board
            .with(|b| b.as_ref().map(|b| b.complaints.open).unwrap_or(0))
    };
    let overdue = move || {
        live.board
            .with(|b| b.as_ref().map(|b| b.complaints.overdue).unwrap_or(0))
    };
    view! {
        <div class="complaints" class:overdue={move || overdue() > 0}>
            <span>{move || settings.lang.get().t("complaints_open")} " " <b class="open">{open}</b></span>
            <span>{move || settings.lang.get().t("complaints_overdue")} " " <b class="overdue-n">{overdue}</b></span>
        </div>
    }
}

/// The figures by channel (`section.channels`, a row
/// `tr[data-channel=CH]` each) in the window shown: the centre's, or in a
/// one-queue view that queue's; nothing until a channel besides voice was
/// counted. The service level carries its status as an icon beside the
/// colour, held near its boundary like the queue table's. Occupancy is by
/// slots (in use ÷ staffed): "—" where no agent declared a capacity.
#[component]
fn ChannelPanel(live: Live, settings: Settings) -> impl IntoView {
    let held = Held::new();
    let shown = Memo::new(move |_| {
        let scope = settings.scope.get_value();
        live.board.with(|b| {
            b.as_ref()
                .is_some_and(|b| scope_channels(b, &scope).is_some())
        })
    });
    let rows = move || {
        let lang = settings.lang.get();
        let window = settings.window.get();
        held.window(window);
        let scope = settings.scope.get_value();
        live.board.with(|board| {
            let Some(board) = board else {
                return Vec::new();
            };
            let Some(channels) = scope_channels(board, &scope) else {
                return Vec::new();
            };
            channels
                .iter()
                .map(|(channel, windows)| {
                    let kpis = windows.get(&window);
                    let count =
                        |n: Option<u64>| n.map_or_else(|| "—".to_string(), |n| n.to_string());
                    let value = |key: KpiKey| {
                        kpi_value(key, kpis.and_then(|k| k.get(key)).and_then(|k| k.value))
                    };
                    let sl = kpis.and_then(|k| k.get(KpiKey::ServiceLevel).copied());
                    let slot = format!("channel\u{1f}{}", channel.as_str());
                    let status =
                        held.status(&slot, KpiKey::ServiceLevel, sl.as_ref(), board.warn_band);
                    view! {
                        <tr data-channel=channel.as_str()>
                            <th scope="row" class="channel-name">{lang.channel(*channel)}</th>
                            <td class="offered">{count(kpis.map(|k| k.offered))}</td>
                            <td class="answered">{count(kpis.map(|k| k.answered))}</td>
                            <td
                                class="kpi service-level"
                                data-status=status_name(status)
                                title=lang.t(status_name(status))
                            >
                                <span class="icon">{status_icon(status)}</span>
                                " "
                                {value(KpiKey::ServiceLevel)}
                            </td>
                            <td class="asa">{value(KpiKey::AsaSeconds)}</td>
                            <td class="abandon-rate">{value(KpiKey::AbandonRate)}</td>
                            <td class="occupancy">{value(KpiKey::Occupancy)}</td>
                        </tr>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    move || {
        shown.get().then(|| {
            let l = move |key: &'static str| move || settings.lang.get().t(key);
            let column = move |key: KpiKey| move || settings.lang.get().column(key);
            view! {
                <section class="channels" aria-labelledby="h-channels">
                    <h2 id="h-channels">{l("by_channel")}</h2>
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">{l("channel")}</th>
                                <th scope="col">{l("offered")}</th>
                                <th scope="col">{l("answered")}</th>
                                <th scope="col">{column(KpiKey::ServiceLevel)}</th>
                                <th scope="col">{column(KpiKey::AsaSeconds)}</th>
                                <th scope="col">{column(KpiKey::AbandonRate)}</th>
                                <th scope="col">{column(KpiKey::Occupancy)}</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </section>
            }
        })
    }
}

/// How much taller the overview may grow for the channel panel beside its
/// figures, in root font sizes (about a table row); beyond that, or where
/// the overview would run off the screen, the panel goes above the queue
/// table instead.
const CHANNELS_ALLOWANCE_REM: f64 = 4.0;

/// Whether the channel panel fits beside the overview's figures, measured
/// as it is laid out there (`None`: it is not, or not on screen). The
/// overview row is measured with the panel and without it (hidden by
/// `data-measure`, set and removed at once: the browser paints neither).
fn channels_fit() -> Option<bool> {
    let document = document();
    let main = document.query_selector("main.floor").ok().flatten()?;
    let row = document.query_selector(".overview-row").ok().flatten()?;
    document
        .query_selector(".overview-row > section.channels")
        .ok()
        .flatten()?;
    if row.client_width() == 0 {
        return None;
    }
    let overflows = main.scroll_height() > main.client_height() + 1;
    let with = row.get_bounding_client_rect().height();
    let _ = row.set_attribute("data-measure", "without");
    let without = row.get_bounding_client_rect().height();
    let _ = row.remove_attribute("data-measure");
    let rem = document
        .document_element()
        .map_or(16.0, |root| px_style(&root, "font-size"));
    Some(!overflows && with - without <= CHANNELS_ALLOWANCE_REM * rem + 0.5)
}

/// Where the channel panel goes: beside the overview's figures while it
/// fits there (checked each second), else above the queue table. It goes
/// back to try the overview only when what sizes the screen changes (the
/// language, the channels, the tiles, the messages, the window's size),
/// so a page turn moves nothing.
fn place_channels(live: Live, settings: Settings, tiles: Memo<Vec<KpiKey>>) -> RwSignal<bool> {
    let beside = RwSignal::new(true);
    let check = move || {
        if beside.get_untracked() && channels_fit() == Some(false) {
            beside.set(false);
        }
    };
    set_interval(check, Duration::from_secs(1));
    let shape = Memo::new(move |_| {
        let scope = settings.scope.get_value();
        let (channels, messages, forecast) = live.board.with(|b| {
            b.as_ref().map_or((0, 0, false), |b| {
                (
                    scope_channels(b, &scope).map_or(0, BTreeMap::len),
                    b.messages.len(),
                    b.queues.values().any(|q| q.forecast.is_some()),
                )
            })
        });
        (
            settings.lang.get(),
            channels,
            messages,
            forecast,
            tiles.with(Vec::len),
        )
    });
    let resized = RwSignal::new(0_u32);
    let _resize = window_event_listener(leptos::ev::resize, move |_| {
        resized.update(|n| *n = n.wrapping_add(1));
    });
    Effect::new(move |_| {
        shape.track();
        resized.track();
        if !beside.get_untracked() {
            beside.set(true);
        }
        request_animation_frame(check);
    });
    beside
}

/// The floor board: messages, header, KPI tiles, queues and agents, as
/// the link (or the layout it follows) says.
#[component]
pub fn Floor(live: Live, settings: Settings, follow: Follow) -> impl IntoView {
    let alerts = RwSignal::new(VecDeque::new());
    let rotation = Memo::new(move |_| follow.effective.with(|e| (e.rotate, e.pages.clone())));
    let tiles = Memo::new(move |_| follow.effective.with(|e| e.tiles.clone()));
    let only = Memo::new(move |_| follow.effective.with(|e| e.queues.clone()));
    let theme = follow.theme();
    let page = move || settings.page.get();
    // Lists longer than their box are split into pages (measured once a
    // second, whether or not the list is on screen now).
    let queue_pager = Pager::new("section.queues", "section.queues tbody tr");
    let agent_pager = Pager::new(".agents .grid", ".agents .grid .agent");
    Turns::start(settings, rotation, queue_pager, agent_pager);
    let channels_beside = place_channels(live, settings, tiles);
    Effect::new(move |_| {
        let (queues, agents) = shows(page());
        let most = [
            (queues, queue_pager.pages.get()),
            (agents, agent_pager.pages.get()),
        ]
        .iter()
        .filter(|(shown, _)| *shown)
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(1);
        settings.pages_on_screen.set(most);
    });
    // A new screen gives the lists new boxes: measure them afresh.
    Effect::new(move |previous: Option<Page>| {
        let now = page();
        if previous.is_some_and(|p| p != now) {
            queue_pager.mounted();
            agent_pager.mounted();
        }
        now
    });
    // The same pages by keyboard: Page Down / → next, Page Up / ← back.
    let _keys = window_event_listener(leptos::ev::keydown, move |e| {
        let n = settings.pages_on_screen.get_untracked().max(1);
        let step = settings.step.get_untracked() % n;
        match e.key().as_str() {
            "PageDown" | "ArrowRight" => settings.step.set((step + 1) % n),
            "PageUp" | "ArrowLeft" => settings.step.set((step + n - 1) % n),
            _ => {}
        }
    });
    view! {
        <main
            class="floor"
            class:kiosk=settings.kiosk
            class:stale=move || live.is_stale()
            class:theme-light=move || theme.get() == Theme::Light
            data-page=move || page().name()
            data-layout=follow.name.get_value()
        >
            <Messages live settings />
            <LayoutMissing follow settings />
            <Header live settings />
            // Every part stays mounted and is hidden while its page is not
            // shown: a page turn creates and frees nothing (a TV turns
            // pages for weeks).
            <div class="part" hidden=move || !matches!(page(), Page::All | Page::Overview)>
                <Tiles live settings alerts tiles />
                <div class="overview-row">
                    <div class="overview-side">
                        <div class="overview-line">
                            <Figures live settings />
                            <Complaints live settings />
                        </div>
                        <AlertList live settings alerts />
                    </div>
                    {move || channels_beside.get().then(|| view! { <ChannelPanel live settings /> })}
                </div>
            </div>
            <div class="lower">
                <div class="part" hidden=move || !shows(page()).0>
                    <div class="queue-column">
                        {move || (!channels_beside.get()).then(|| view! { <ChannelPanel live settings /> })}
                        <QueueTable live settings pager=queue_pager only />
                    </div>
                </div>
                <div class="part" hidden=move || !shows(page()).1>
                    <AgentGrid live settings pager=agent_pager />
                </div>
            </div>
        </main>
    }
}

/// The agent's desktop strip: waiting per queue, longest wait, and the
/// team's connect rate against its target. No other agent's details (the
/// server's agent view does not send them).
#[component]
pub fn AgentStrip(live: Live, settings: Settings, team: Option<String>) -> impl IntoView {
    let own = team.clone();
    let heading = team.clone();
    let held = Held::new();
    let band = move || {
        live.board.with(|b| {
            b.as_ref()
                .map_or(wallboard_protocol::DEFAULT_WARN_BAND, |b| b.warn_band)
        })
    };
    let team_kpi = Memo::new(move |_| {
        let window = settings.window.get();
        live.board.with(|b| {
            let b: &Arc<Board> = b.as_ref()?;
            let kpis = match &team {
                Some(q) => b.queues.get(q)?.windows.get(&window)?,
                None => b.totals.get(&window)?,
            };
            kpis.get(KpiKey::AgentConnectRate).copied()
        })
    });
    let queues = move || {
        let lang = settings.lang.get();
        let now = live.data_now_ms();
        live.board.with(|b| {
            let Some(b) = b else { return Vec::new() };
            let mut queues: Vec<_> = b.queues.iter().collect();
            // The agent's own queue first, then the config's order.
            queues
                .sort_by_key(|(id, q)| (Some(id.as_str()) != own.as_deref(), stable_order(id, q)));
            queues
                .into_iter()
                .map(|(id, q)| {
                    let wait_text = q
                        .longest_wait_since
                        .map(|s| duration(seconds_since(now, s)))
                        .unwrap_or_else(|| "—".into());
                    let estimate = q
                        .forecast
                        .as_ref()
                        .and_then(|f| f.estimated_wait_seconds)
                        .map(|s| {
                            view! {
                                <span class="label">{lang.t("estimated_wait")}</span>
                                <span class="estimated-wait" title=lang.t("tip_estimated_wait")>
                                    {wait(Some(s))}
                                </span>
                            }
                        });
                    view! {
                        <div class="strip-queue" data-queue=id.clone() class:busy={q.waiting > 0}>
                            <span class="name">{queue_name(q, lang)}</span>
                            <span class="label">{lang.t("waiting")}</span>
                            <span class="waiting">{q.waiting}</span>
                            {estimate}
                            <span class="label">{lang.t("longest_wait")}</span>
                            <span class="longest">{wait_text}</span>
                        </div>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let status = move || {
        settings.window.with(|w| held.window(*w));
        held.status(
            "team",
            KpiKey::AgentConnectRate,
            team_kpi.get().as_ref(),
            band(),
        )
    };
    let title = move || {
        let lang = settings.lang.get();
        let name = heading.as_ref().and_then(|q| {
            live.board.with(|b| {
                b.as_ref()
                    .and_then(|b| b.queues.get(q).map(|qb| queue_name(qb, lang)))
            })
        });
        name.unwrap_or_else(|| lang.t("title").to_string())
    };
    view! {
        <main class="strip" class:stale=move || live.is_stale()>
            <Messages live settings />
            <h1 class="strip-title">{title}</h1>
            <div class="strip-team" data-status=move || status_name(status())>
                <span class="label">{move || settings.lang.get().t("team_connect")}</span>
                <span class="value">
                    {move || kpi_value(KpiKey::AgentConnectRate, team_kpi.get().and_then(|k| k.value))}
                </span>
                <span class="icon">{move || status_icon(status())}</span>
                <span class="of-target">
                    {move || team_kpi.get().and_then(|k| k.target).map(|t| format!("{} {}", settings.lang.get().t("target"), kpi_value(KpiKey::AgentConnectRate, Some(t))))}
                </span>
            </div>
            <div class="strip-queues">{queues}</div>
            <Freshness live settings />
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn board() -> Board {
        let kpis = |sl: Option<f64>| {
            json!({
                "service_level": {"value": sl, "target": 0.8, "status": "ok"},
                "occupancy": {"value": null, "target": null, "status": "none"},
                "offered": 10, "answered": 9, "answered_in_sl": 8, "abandoned": 1,
                "short_abandoned": 0, "handled": 9, "surveys": 0, "dispositions": 0,
                "resolved": 0, "complaints_on_time": 0, "complaints_overdue": 0
            })
        };
        serde_json::from_value(json!({
            "generated_at": "2026-11-24T02:00:00Z", "seq": 1, "timezone": "Asia/Shanghai",
            "totals": {"today": kpis(Some(0.9))},
            "channels": {"voice": {"today": kpis(Some(0.9))}, "chat": {"today": kpis(Some(0.5))}},
            "queues": {
                "billing": {"name": "Billing", "vip": false, "waiting": 0,
                            "windows": {"today": kpis(Some(0.9))},
                            "channels": {"email": {"today": kpis(None)}}},
                "sales": {"name": "Sales", "vip": false, "waiting": 0,
                          "windows": {"today": kpis(Some(0.9))}}
            },
            "agents": {}, "agent_states": {}, "complaints": {"open": 0, "overdue": 0},
            "same_time_yesterday": kpis(Some(0.852))
        }))
        .unwrap()
    }

    #[test]
    fn yesterday_is_the_boards_figure_or_nothing() {
        let mut b = board();
        assert_eq!(yesterday_value(&b, KpiKey::ServiceLevel), Some(Some(0.852)));
        assert_eq!(
            kpi_value(
                KpiKey::ServiceLevel,
                yesterday_value(&b, KpiKey::ServiceLevel).flatten()
            ),
            "85.2%"
        );
        // Occupancy is not kept for yesterday: "—", not nothing.
        assert_eq!(yesterday_value(&b, KpiKey::Occupancy), Some(None));
        assert_eq!(yesterday_value(&b, KpiKey::Fcr), Some(None));
        b.same_time_yesterday = None;
        assert_eq!(yesterday_value(&b, KpiKey::ServiceLevel), None);
    }

    #[test]
    fn channels_are_the_scopes_own() {
        let b = board();
        let centre: Vec<_> = scope_channels(&b, &None).unwrap().keys().copied().collect();
        assert_eq!(
            centre,
            [Channel::Voice, Channel::Chat],
            "in the protocol's order"
        );
        let billing = scope_channels(&b, &Some("billing".into())).unwrap();
        assert_eq!(
            billing.keys().copied().collect::<Vec<_>>(),
            [Channel::Email]
        );
        // A queue without channels of its own shows none (not the centre's).
        assert!(scope_channels(&b, &Some("sales".into())).is_none());
        assert!(scope_channels(&b, &Some("nope".into())).is_none());
        let mut voice_only = b.clone();
        voice_only.channels.clear();
        assert!(scope_channels(&voice_only, &None).is_none());
    }
}
