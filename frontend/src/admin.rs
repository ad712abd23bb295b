//! The admin page (`/admin`): live settings (targets, queues, complaint
//! deadlines), broadcast messages, saved layouts with a live preview, and
//! the audit of settings changes.
//!
//! It speaks the admin API with `fetch` (`/api/v1/settings`, `/messages`,
//! `/layouts`; a `?token=` of the page goes along as `Authorization:
//! Bearer`), and reads the live board (floor view) for the queues seen,
//! the messages and layouts up now, and the preview's figures. The server
//! checks every change and names the field it refuses; the page shows that
//! next to the input of that settings path. Every control is a native
//! input, select or button, each with a label: usable by keyboard alone.

use std::collections::{BTreeMap, BTreeSet};

use js_sys::futures::JsFuture;
use leptos::callback::{Callable, Callback};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Map, Value, json};
use wallboard_protocol::admin::{LAYOUT_PAGES, check_layout_name};
use wallboard_protocol::{
    AuditEntry, Channel, KpiKey, Layout, Message, REGISTRY, ServiceLevelDefinition, Status, Unit,
    View, Window,
};
use wasm_bindgen::{JsCast, JsValue};

use crate::connection::{self, Conn, Live};
use crate::format::kpi_value;
use crate::i18n::Lang;
use crate::layout::{Link, default_tiles, resolve};
use crate::messages::severity_label;
use crate::views::{clock_text, queue_name, status_icon, status_name};
use crate::{Params, encode, initial_lang, keep_lang};

// ---- settings paths and values (pure) ----

/// A settings path, by segment (a queue id may hold a dot).
pub type Path = Vec<String>;

fn path(parts: &[&str]) -> Path {
    parts.iter().map(|p| p.to_string()).collect()
}

/// The dotted form the server names fields by
/// (`queues.q1.targets.service_level`).
pub fn dotted(path: &[String]) -> String {
    path.join(".")
}

/// Text as an element id (ids hold no spaces).
pub fn html_id(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect()
}

/// How a settings value is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A ratio (0–1 on the wire) as percent (0–100 in the form).
    Percent,
    /// A number in its own unit (seconds, hours, points).
    Number,
    Text,
    /// A checkbox.
    Flag,
    /// A service-level definition, chosen from the protocol's.
    Definition,
}

/// The unit a settings value is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Plain,
    Percent,
    Seconds,
    Hours,
    Points,
}

/// The last segment of a path and the one before it.
fn tail(path: &[String]) -> (&str, &str) {
    let last = path.last().map_or("", String::as_str);
    let parent = path.len().checked_sub(2).map_or("", |i| path[i].as_str());
    (parent, last)
}

/// How the value at a settings path is edited: the targets of ratio KPIs
/// and the warn band as percent, names as text, `vip` as a checkbox, the
/// service-level definition from a list, the rest as numbers in their own
/// unit.
pub fn kind_of(path: &[String]) -> Kind {
    match tail(path) {
        (_, "warn_band") => Kind::Percent,
        (_, "vip") => Kind::Flag,
        (_, "service_level_definition") => Kind::Definition,
        ("names", _) => Kind::Text,
        ("targets" | "vip_targets", key) => match KpiKey::parse(key).map(KpiKey::unit) {
            Some(Unit::Ratio) => Kind::Percent,
            _ => Kind::Number,
        },
        _ => Kind::Number,
    }
}

/// The unit the value at a settings path is shown in.
pub fn measure_of(path: &[String]) -> Measure {
    match kind_of(path) {
        Kind::Percent => return Measure::Percent,
        Kind::Text | Kind::Flag | Kind::Definition => return Measure::Plain,
        Kind::Number => {}
    }
    match tail(path) {
        ("targets" | "vip_targets", key) => match KpiKey::parse(key).map(KpiKey::unit) {
            Some(Unit::Points) => Measure::Points,
            Some(Unit::Seconds) => Measure::Seconds,
            _ => Measure::Plain,
        },
        (_, "due_hours") => Measure::Hours,
        (_, last) if last.ends_with("_seconds") => Measure::Seconds,
        _ => Measure::Plain,
    }
}

/// A unit's symbol or word.
fn unit_label(measure: Measure, lang: Lang) -> &'static str {
    match measure {
        Measure::Plain => "",
        Measure::Percent => "%",
        Measure::Seconds => lang.t("unit_seconds"),
        Measure::Hours => lang.t("unit_hours"),
        Measure::Points => lang.t("unit_points"),
    }
}

/// A number without float noise: at most six decimals, none trailing.
pub fn number_text(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0" } else { text }.to_string()
}

/// A wire value as the form shows it (ratios as percent: 0.85 → "85").
pub fn to_form(kind: Kind, value: Option<&Value>) -> String {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return String::new();
    };
    match kind {
        Kind::Percent => value
            .as_f64()
            .map(|v| number_text(v * 100.0))
            .unwrap_or_default(),
        Kind::Number => value.as_f64().map(number_text).unwrap_or_default(),
        Kind::Text | Kind::Definition => value.as_str().unwrap_or_default().to_string(),
        Kind::Flag => (value.as_bool() == Some(true)).to_string(),
    }
}

/// The service-level definitions, in the protocol's order.
fn definitions() -> impl Iterator<Item = ServiceLevelDefinition> {
    ServiceLevelDefinition::names()
        .into_iter()
        .filter_map(ServiceLevelDefinition::parse)
}

/// The number typed (a decimal comma reads as a point).
fn parse_number(text: &str) -> Option<f64> {
    text.trim()
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// What the form's text is on the wire ("85" % → 0.85); `Err`: the
/// label (i18n key) of what is wrong with it. The server checks ranges.
pub fn from_form(kind: Kind, text: &str) -> Result<Value, &'static str> {
    match kind {
        Kind::Percent => parse_number(text)
            .map(|v| json!((v / 100.0 * 1e9).round() / 1e9))
            .ok_or("need_number"),
        Kind::Number => parse_number(text).map(|v| json!(v)).ok_or("need_number"),
        Kind::Text => Ok(json!(text.trim())),
        Kind::Flag => Ok(json!(text == "true")),
        Kind::Definition => ServiceLevelDefinition::parse(text.trim())
            .map(|d| json!(d.as_str()))
            .ok_or("need_definition"),
    }
}

/// The value at `path` in a SETTINGS document.
pub fn value_at<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |at, key| at.get(key))
}

/// The value the server runs with at `path`: the document's, or for a
/// queue it does not list (or a value the queue does not set), the global
/// one the queue runs with.
pub fn effective_at(doc: &Value, path: &[String]) -> Option<Value> {
    if let Some(value) = value_at(doc, path).filter(|v| !v.is_null()) {
        return Some(value.clone());
    }
    let [queues, _, rest @ ..] = path else {
        return None;
    };
    if queues != "queues" {
        return None;
    }
    let global = match rest {
        [table, _] if table == "targets" || table == "vip_targets" => rest,
        [field]
            if field == "service_level_seconds"
                || field == "short_abandon_seconds"
                || field == "service_level_definition" =>
        {
            rest
        }
        _ => return None,
    };
    value_at(doc, global).filter(|v| !v.is_null()).cloned()
}

/// Whether a settings value may be left unset (a channel's threshold:
/// empty is "not set", and the threshold it falls back to applies).
pub fn unsettable(path: &[String]) -> bool {
    match path {
        [channels, _, _] => channels == "channels",
        [queues, _, channels, _, _] => queues == "queues" && channels == "channels",
        _ => false,
    }
}

/// The channels a threshold can be set for: every one but voice (voice
/// is `service_level_seconds` itself).
pub fn threshold_channels() -> Vec<Channel> {
    Channel::names()
        .into_iter()
        .filter_map(Channel::parse)
        .filter(|c| *c != Channel::Voice)
        .collect()
}

/// Whether two wire values are the same setting (numbers to a hair).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

/// An RFC 7386 merge patch setting each path to its value (`null`:
/// back to the file's).
pub fn merge_patch(changes: impl IntoIterator<Item = (Path, Value)>) -> Value {
    let mut root = Map::new();
    for (path, value) in changes {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let mut at = &mut root;
        for parent in parents {
            let entry = at
                .entry(parent.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            at = entry.as_object_mut().expect("made an object just above");
        }
        at.insert(last.clone(), value);
    }
    Value::Object(root)
}

/// What a form's edits change.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// The values that differ from those the server runs with.
    pub set: Vec<(Path, Value)>,
    /// Every edit read (whether or not it changes anything).
    pub done: Vec<Path>,
}

/// The edits (`drafts`, as typed) under the settings roots `roots` that
/// change a value of `effective`; `Err`: the edits that do not read, by
/// dotted path, with the label (i18n key) of what is wrong.
pub fn changes(
    drafts: &BTreeMap<Path, String>,
    roots: &[&str],
    effective: &Value,
) -> Result<Changes, BTreeMap<String, &'static str>> {
    let mut out = Changes {
        set: Vec::new(),
        done: Vec::new(),
    };
    let mut wrong = BTreeMap::new();
    for (path, text) in drafts {
        if !path.first().is_some_and(|r| roots.contains(&r.as_str())) {
            continue;
        }
        let base = effective_at(effective, path);
        out.done.push(path.clone());
        if text.trim().is_empty() && (base.is_none() || unsettable(path)) {
            // Emptied: a value that may be unset goes back to none (the
            // file's, where the file sets one).
            if base.is_some() {
                out.set.push((path.clone(), Value::Null));
            }
            continue;
        }
        match from_form(kind_of(path), text) {
            Ok(value) => {
                if !base.as_ref().is_some_and(|b| same(b, &value)) {
                    out.set.push((path.clone(), value));
                }
            }
            Err(why) => {
                wrong.insert(dotted(path), why);
            }
        }
    }
    if wrong.is_empty() {
        Ok(out)
    } else {
        Err(wrong)
    }
}

/// An audit value as read: `null` is the config file's value.
fn audit_value(value: &Value, lang: Lang) -> String {
    match value {
        Value::Null => lang.t("file_value").to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number_text),
        other => other.to_string(),
    }
}

// ---- layouts (pure) ----

/// The ordered lists of the layout form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Pages,
    Tiles,
}

impl List {
    fn group(self) -> &'static str {
        match self {
            List::Pages => "pages",
            List::Tiles => "tiles",
        }
    }

    /// An item's label: a page's or a KPI's name.
    fn label(self, lang: Lang, key: &str) -> String {
        match lang.t(key) {
            "" => key.to_string(),
            label => label.to_string(),
        }
    }
}

/// The layout form as edited: its ordered lists with what is checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LayoutForm {
    pub name: String,
    pub pages: Vec<(String, bool)>,
    pub tiles: Vec<(String, bool)>,
    /// The queues checked (none: every queue).
    pub queues: BTreeSet<String>,
    pub rotate: String,
    pub window: String,
    pub lang: String,
    pub theme: String,
}

/// The tiles' KPI names by default (what an empty `tiles` shows).
fn default_tile_names() -> Vec<String> {
    default_tiles()
        .into_iter()
        .map(|k| k.as_str().to_string())
        .collect()
}

/// `chosen` (those of `all`, once each) checked and in order, then the
/// rest of `all` unchecked.
fn ordered(chosen: &[String], all: &[String]) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for c in chosen {
        if all.contains(c) && !out.iter().any(|(k, _)| k == c) {
            out.push((c.clone(), true));
        }
    }
    for a in all {
        if !out.iter().any(|(k, _)| k == a) {
            out.push((a.clone(), false));
        }
    }
    out
}

impl LayoutForm {
    pub fn blank() -> LayoutForm {
        LayoutForm::of("", &Layout::default())
    }

    /// A saved layout, to edit.
    pub fn of(name: &str, layout: &Layout) -> LayoutForm {
        let pages: Vec<String> = LAYOUT_PAGES.iter().map(|p| p.to_string()).collect();
        let kpis: Vec<String> = REGISTRY.iter().map(|s| s.name.to_string()).collect();
        let tiles = if layout.tiles.is_empty() {
            default_tile_names()
        } else {
            layout.tiles.clone()
        };
        LayoutForm {
            name: name.to_string(),
            pages: ordered(&layout.pages, &pages),
            tiles: ordered(&tiles, &kpis),
            queues: layout.queues.iter().flatten().cloned().collect(),
            rotate: layout
                .rotate_seconds
                .map(|s| s.to_string())
                .unwrap_or_default(),
            window: layout
                .window
                .map(|w| w.as_str().to_string())
                .unwrap_or_default(),
            lang: layout.lang.clone().unwrap_or_default(),
            theme: layout.theme.clone().unwrap_or_default(),
        }
    }

    pub fn list(&self, which: List) -> &Vec<(String, bool)> {
        match which {
            List::Pages => &self.pages,
            List::Tiles => &self.tiles,
        }
    }

    pub fn list_mut(&mut self, which: List) -> &mut Vec<(String, bool)> {
        match which {
            List::Pages => &mut self.pages,
            List::Tiles => &mut self.tiles,
        }
    }

    /// The layout the form says; `Err`: the input group it cannot read,
    /// and the label (i18n key) of why. Every tile checked in the default
    /// order is "every tile" (an empty list); nothing checked, the same.
    pub fn layout(&self) -> Result<Layout, (&'static str, &'static str)> {
        let checked = |list: &[(String, bool)]| -> Vec<String> {
            list.iter()
                .filter(|(_, on)| *on)
                .map(|(k, _)| k.clone())
                .collect()
        };
        let mut tiles = checked(&self.tiles);
        if tiles == default_tile_names() {
            tiles.clear();
        }
        let rotate_seconds = match self.rotate.trim() {
            "" => None,
            text => Some(
                text.parse::<u32>()
                    .map_err(|_| ("rotate_seconds", "need_whole"))?,
            ),
        };
        let chosen = |text: &str| Some(text.trim().to_string()).filter(|t| !t.is_empty());
        Ok(Layout {
            pages: checked(&self.pages),
            tiles,
            queues: (!self.queues.is_empty()).then(|| self.queues.iter().cloned().collect()),
            rotate_seconds,
            window: Window::parse(self.window.trim()),
            lang: chosen(&self.lang),
            theme: chosen(&self.theme),
        })
    }

    /// As much of the layout as reads (the preview, while editing).
    pub fn lenient(&self) -> Layout {
        let mut form = self.clone();
        if form.rotate.trim().parse::<u32>().is_err() {
            form.rotate.clear();
        }
        form.layout().unwrap_or_default()
    }
}

/// Moves the item at `index` one place up (or down) and says where it is
/// now; at an end it stays.
pub fn move_item<T>(list: &mut [T], index: usize, up: bool) -> usize {
    if up && index > 0 && index < list.len() {
        list.swap(index, index - 1);
        index - 1
    } else if !up && index + 1 < list.len() {
        list.swap(index, index + 1);
        index + 1
    } else {
        index
    }
}

/// The input group a server's field names (`tiles[1]` → `tiles`).
pub fn layout_group(field: &str) -> String {
    field.split(['[', '.']).next().unwrap_or(field).to_string()
}

/// The input a message's field names (`until` is the duration's).
fn message_group(field: &str) -> String {
    match field {
        "until" => "ttl_seconds".to_string(),
        other => other.to_string(),
    }
}

/// A layout's TV link (no token: the admin's is not passed on).
fn tv_link(name: &str) -> String {
    format!("/?layout={}&kiosk=1", encode(name))
}

// ---- the API ----

/// A call the server (or the network) refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    /// The HTTP status; 0: no answer.
    pub status: u16,
    /// The server's `error`, as it said it.
    pub error: String,
    /// The field it names (a settings path, a message's `text`…).
    pub field: Option<String>,
}

impl Failure {
    fn unanswered() -> Failure {
        Failure {
            status: 0,
            error: String::new(),
            field: None,
        }
    }

    /// What to show: the server's words, or that there was no answer.
    pub(crate) fn text(&self, lang: Lang) -> String {
        if self.error.is_empty() {
            lang.t("network_error").to_string()
        } else {
            self.error.clone()
        }
    }
}

/// One JSON call to the API (the admin's, the interval report), with the
/// page's token as `Authorization: Bearer`.
pub(crate) async fn call(
    token: Option<String>,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> Result<Value, Failure> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_cache(web_sys::RequestCache::NoStore);
    let headers = web_sys::Headers::new().map_err(|_| Failure::unanswered())?;
    let _ = headers.set("accept", "application/json");
    if let Some(token) = &token {
        headers
            .set("authorization", &format!("Bearer {token}"))
            .map_err(|_| Failure {
                error: "the token cannot be sent as a header".into(),
                ..Failure::unanswered()
            })?;
    }
    if let Some(body) = &body {
        let kind = if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        let _ = headers.set("content-type", kind);
        init.set_body(&JsValue::from_str(&body.to_string()));
    }
    init.set_headers(&headers);
    let request =
        web_sys::Request::new_with_str_and_init(url, &init).map_err(|_| Failure::unanswered())?;
    let response = JsFuture::from(window().fetch_with_request(&request))
        .await
        .map_err(|_| Failure::unanswered())?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| Failure::unanswered())?;
    let text = match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if response.ok() {
        return Ok(json);
    }
    let error = json
        .get("error")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| match text.trim() {
            "" => format!("{} {}", response.status(), response.status_text()),
            text => text.to_string(),
        });
    Err(Failure {
        status: response.status(),
        error,
        field: json
            .get("field")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// `GET /api/v1/settings`.
#[derive(Debug, Clone, Default, PartialEq)]
struct SettingsDoc {
    effective: Value,
    /// Only the live overrides.
    overrides: Value,
    /// The config file's values.
    file: Value,
    /// Newest first.
    audit: Vec<AuditEntry>,
}

impl SettingsDoc {
    fn read(answer: &Value) -> SettingsDoc {
        SettingsDoc {
            effective: answer["effective"].clone(),
            overrides: answer["overrides"].clone(),
            file: answer["file"].clone(),
            audit: serde_json::from_value(answer["audit"].clone()).unwrap_or_default(),
        }
    }
}

/// What is wrong with a form's last try: a summary, and per input.
#[derive(Debug, Clone, Default, PartialEq)]
struct Problems {
    summary: Option<String>,
    /// By the input's key (a dotted settings path, a message field, a
    /// layout input group).
    fields: BTreeMap<String, String>,
}

impl Problems {
    /// The server's refusal, at the input `field` names (`group` maps
    /// the server's field to the form's key).
    fn of(failure: &Failure, lang: Lang, group: impl Fn(&str) -> String) -> Problems {
        let error = failure.text(lang);
        Problems {
            summary: Some(error.clone()),
            fields: failure
                .field
                .iter()
                .map(|f| (group(f), error.clone()))
                .collect(),
        }
    }

    /// One input the page itself cannot read.
    fn one(field: &str, why: &str, lang: Lang) -> Problems {
        Problems {
            summary: Some(lang.fix_fields(1)),
            fields: [(field.to_string(), why.to_string())].into(),
        }
    }
}

/// A form's state: its edits, problems, last outcome.
#[derive(Clone, Copy)]
struct Form {
    /// The inputs typed in (settings forms), by path, as typed.
    drafts: RwSignal<BTreeMap<Path, String>>,
    problems: RwSignal<Problems>,
    /// What the last try did ("Saved 2 changes").
    note: RwSignal<Option<String>>,
    busy: RwSignal<bool>,
}

impl Form {
    fn new() -> Form {
        Form {
            drafts: RwSignal::new(BTreeMap::new()),
            problems: RwSignal::new(Problems::default()),
            note: RwSignal::new(None),
            busy: RwSignal::new(false),
        }
    }

    fn error(self, key: &'static str) -> Signal<Option<String>> {
        Signal::derive(move || self.problems.with(|p| p.fields.get(key).cloned()))
    }

    fn succeeded(self, note: String) {
        self.problems.set(Problems::default());
        self.note.set(Some(note));
    }

    fn failed(self, problems: Problems) {
        self.note.set(None);
        self.problems.set(problems);
    }
}

/// What the page's parts share.
#[derive(Clone, Copy)]
struct Ctx {
    lang: RwSignal<Lang>,
    token: StoredValue<Option<String>>,
    live: Live,
    doc: RwSignal<Option<SettingsDoc>>,
    /// Why the settings could not be read (401, 403…).
    load_error: RwSignal<Option<String>>,
    /// Set once a change answered 403: the forms are read-only, and why.
    read_only: RwSignal<Option<String>>,
    /// `GET /api/v1/layouts` (the board's, once it is in, are newer).
    layouts: RwSignal<Option<BTreeMap<String, Layout>>>,
    /// `GET /api/v1/messages` (likewise).
    messages: RwSignal<Option<Vec<Message>>>,
}

impl Ctx {
    async fn call(self, method: &str, url: &str, body: Option<Value>) -> Result<Value, Failure> {
        call(self.token.get_value(), method, url, body).await
    }

    fn load_settings(self) {
        spawn_local(async move {
            match self.call("GET", "/api/v1/settings", None).await {
                Ok(answer) => {
                    self.doc.set(Some(SettingsDoc::read(&answer)));
                    self.load_error.set(None);
                }
                Err(f) => self.load_error.set(Some(f.text(self.lang.get_untracked()))),
            }
        });
    }

    fn load_layouts(self) {
        spawn_local(async move {
            if let Ok(answer) = self.call("GET", "/api/v1/layouts", None).await {
                let layouts = serde_json::from_value(answer["layouts"].clone()).unwrap_or_default();
                self.layouts.set(Some(layouts));
            }
        });
    }

    fn load_messages(self) {
        spawn_local(async move {
            if let Ok(answer) = self.call("GET", "/api/v1/messages", None).await {
                let messages =
                    serde_json::from_value(answer["messages"].clone()).unwrap_or_default();
                self.messages.set(Some(messages));
            }
        });
    }

    /// A 403 on a change: the forms become read-only.
    fn refused(self, failure: &Failure) {
        if failure.status == 403 {
            self.read_only
                .set(Some(failure.text(self.lang.get_untracked())));
        }
    }

    fn locked(self) -> bool {
        self.read_only.with(Option::is_some)
    }

    /// Sends a merge patch; on success the edits `done` are dropped and
    /// the settings (with the audit) read again.
    fn patch(self, form: Form, patch: Value, done: Vec<Path>) {
        let lang = self.lang.get_untracked();
        form.busy.set(true);
        spawn_local(async move {
            match self.call("PATCH", "/api/v1/settings", Some(patch)).await {
                Ok(answer) => {
                    form.drafts.update(|d| {
                        for p in &done {
                            d.remove(p);
                        }
                    });
                    let n = answer["changed"].as_array().map_or(0, Vec::len);
                    form.succeeded(lang.saved(n));
                    // The answer's values at once; the audit with the next read.
                    if answer["effective"].is_object() {
                        self.doc.update(|doc| {
                            if let Some(doc) = doc {
                                doc.effective = answer["effective"].clone();
                                doc.overrides = answer["overrides"].clone();
                            }
                        });
                    }
                    self.load_settings();
                }
                Err(f) => {
                    self.refused(&f);
                    form.failed(Problems::of(&f, lang, str::to_string));
                }
            }
            form.busy.set(false);
        });
    }

    /// Saves the edits of a settings form (those under `roots`) that
    /// change something, as one merge patch.
    fn save(self, form: Form, roots: &'static [&'static str]) {
        let lang = self.lang.get_untracked();
        if self.read_only.with_untracked(Option::is_some) {
            return;
        }
        let Some(effective) = self
            .doc
            .with_untracked(|d| d.as_ref().map(|d| d.effective.clone()))
        else {
            return;
        };
        match form
            .drafts
            .with_untracked(|drafts| changes(drafts, roots, &effective))
        {
            Err(wrong) => form.failed(Problems {
                summary: Some(lang.fix_fields(wrong.len())),
                fields: wrong
                    .into_iter()
                    .map(|(k, why)| (k, lang.t(why).to_string()))
                    .collect(),
            }),
            Ok(found) if found.set.is_empty() => {
                form.drafts.update(|d| {
                    for p in &found.done {
                        d.remove(p);
                    }
                });
                form.succeeded(lang.t("unchanged").to_string());
            }
            Ok(found) => self.patch(form, merge_patch(found.set), found.done),
        }
    }

    /// The queues known: the board's (in its order), then those only the
    /// settings list.
    fn queues(self) -> Vec<String> {
        let mut ids: Vec<(u32, String)> = self.live.board.with(|b| {
            b.as_ref()
                .map(|b| {
                    b.queues
                        .iter()
                        .map(|(id, q)| (q.position.unwrap_or(u32::MAX), id.clone()))
                        .collect()
                })
                .unwrap_or_default()
        });
        self.doc.with(|d| {
            let listed = d.as_ref().and_then(|d| d.effective["queues"].as_object());
            for id in listed.into_iter().flat_map(|m| m.keys()) {
                if !ids.iter().any(|(_, known)| known == id) {
                    ids.push((u32::MAX, id.clone()));
                }
            }
        });
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// A queue's name on the board (else its id).
    fn queue_name(self, id: &str) -> String {
        let lang = self.lang.get();
        self.live
            .board
            .with(|b| {
                b.as_ref()
                    .and_then(|b| b.queues.get(id).map(|q| queue_name(q, lang)))
            })
            .unwrap_or_else(|| id.to_string())
    }
}

/// Moves the keyboard's focus to the element `id` (after the next paint).
fn focus(id: String) {
    request_animation_frame(move || {
        if let Some(element) = document()
            .get_element_by_id(&id)
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = element.focus();
        }
    });
}

/// A time as the browser's locale writes it.
fn local_time(at: jiff::Timestamp, lang: Lang) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(at.as_millisecond() as f64));
    date.to_locale_string(lang.code(), &JsValue::UNDEFINED)
        .into()
}

// ---- the page ----

/// The admin page.
#[component]
pub fn Admin() -> impl IntoView {
    let mut params = Params::from_location();
    // The floor view: every queue, message and layout.
    params.view = Ok(View::Floor);
    let live = Live::start();
    connection::connect(params.endpoints(), live);
    let lang = RwSignal::new(initial_lang(&params));
    keep_lang(lang, "admin_title", true);
    let ctx = Ctx {
        lang,
        token: StoredValue::new(params.token.clone()),
        live,
        doc: RwSignal::new(None),
        load_error: RwSignal::new(None),
        read_only: RwSignal::new(None),
        layouts: RwSignal::new(None),
        messages: RwSignal::new(None),
    };
    ctx.load_settings();
    ctx.load_layouts();
    ctx.load_messages();
    view! {
        <main class="admin">
            <AdminHeader ctx />
            <Targets ctx />
            <Queues ctx />
            <Grades ctx />
            <MessageSection ctx />
            <LayoutSection ctx />
            <Audit ctx />
        </main>
    }
}

/// Title, connection, language, the config file's reload; and what keeps
/// the forms from working (the settings unread, read-only).
#[component]
fn AdminHeader(ctx: Ctx) -> impl IntoView {
    let lang = ctx.lang;
    let conn = move || match ctx.live.conn.get() {
        Conn::Connecting => "connecting",
        Conn::Live => "live",
        Conn::Reconnecting => "reconnecting",
    };
    view! {
        <header class="admin-header">
            <h1>{move || lang.get().t("admin_title")}</h1>
            <span class="admin-conn" data-state=conn>
                <span class="dot" aria-hidden="true"></span>
                " "
                {move || lang.get().t(conn())}
            </span>
            <button
                type="button"
                id="admin-lang"
                class="lang"
                on:click=move |_| lang.update(|l| *l = l.other())
            >
                {move || if lang.get() == Lang::Zh { "English" } else { "中文" }}
            </button>
            <Reload ctx />
        </header>
        {move || {
            ctx.load_error
                .get()
                .map(|e| view! { <p class="load-error" role="alert">{e}</p> })
        }}
        {move || {
            ctx.read_only
                .get()
                .map(|why| {
                    view! {
                        <p class="read-only" role="status">
                            {move || lang.get().t("read_only")}
                            {why}
                        </p>
                    }
                })
        }}
    }
}

/// "Reload config file", with the server's answer.
#[component]
fn Reload(ctx: Ctx) -> impl IntoView {
    // `Ok((message, needs a restart))`, or the refusal.
    let answer = RwSignal::new(None::<Result<(String, Vec<String>), String>>);
    let busy = RwSignal::new(false);
    let reload = move |_| {
        busy.set(true);
        let lang = ctx.lang.get_untracked();
        spawn_local(async move {
            match ctx.call("POST", "/api/v1/settings/reload", None).await {
                Ok(a) => {
                    let message = a["message"].as_str().unwrap_or_default().to_string();
                    let restart = a["needs_restart"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect();
                    answer.set(Some(Ok((message, restart))));
                    ctx.load_settings();
                }
                Err(f) => {
                    ctx.refused(&f);
                    answer.set(Some(Err(f.text(lang))));
                }
            }
            busy.set(false);
        });
    };
    view! {
        <div class="reload">
            <button type="button" id="reload-config" disabled=move || busy.get() on:click=reload>
                {move || ctx.lang.get().t("reload_config")}
            </button>
            <div class="reload-answer" role="status">
                {move || match answer.get() {
                    None => ().into_any(),
                    Some(Ok((message, restart))) => {
                        view! {
                            <span class="reload-message">{message}</span>
                            {(!restart.is_empty())
                                .then(|| {
                                    view! {
                                        " "
                                        <span class="needs-restart">
                                            {move || ctx.lang.get().t("needs_restart")}
                                            {restart.join(", ")}
                                        </span>
                                    }
                                })}
                        }
                            .into_any()
                    }
                    Some(Err(e)) => view! { <span class="reload-error">{e}</span> }.into_any(),
                }}
            </div>
        </div>
    }
}

/// A form's problems (its summary, for screen readers at once) and the
/// outcome of its last try.
#[component]
fn Summary(form: Form, lang: RwSignal<Lang>) -> impl IntoView {
    view! {
        {move || {
            form.problems
                .with(|p| p.summary.clone())
                .map(|summary| {
                    view! {
                        <div class="problems" role="alert">
                            <strong>{move || lang.get().t("not_saved")}</strong>
                            {summary}
                        </div>
                    }
                })
        }}
    }
}

/// The outcome of a form's last try, announced politely.
#[component]
fn Note(form: Form) -> impl IntoView {
    view! { <p class="note" role="status">{move || form.note.get()}</p> }
}

/// A settings form: its inputs, a summary of what the server refused at
/// the top, Save at the end (Enter in any input saves too).
#[component]
fn SettingsForm(
    ctx: Ctx,
    form: Form,
    id: &'static str,
    roots: &'static [&'static str],
    children: Children,
) -> impl IntoView {
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        ctx.save(form, roots);
    };
    view! {
        <form id=format!("form-{id}") class="settings-form" novalidate=true on:submit=submit>
            <Summary form lang=ctx.lang />
            {move || {
                (ctx.doc.with(Option::is_none) && ctx.load_error.with(Option::is_none))
                    .then(|| view! { <p class="loading">{move || ctx.lang.get().t("loading")}</p> })
            }}
            {children()}
            <div class="actions">
                <button
                    type="submit"
                    id=format!("save-{id}")
                    class="save"
                    disabled=move || form.busy.get() || ctx.locked()
                >
                    {move || ctx.lang.get().t("save")}
                </button>
                <Note form />
            </div>
        </form>
    }
}

/// One settings value (`div.field[data-field=PATH]`): its label (with the
/// unit), the input (`#set-PATH`, `name` and `data-path` PATH), and when
/// it is a live override, a badge and the button that resets it to the
/// file's value (`button.reset[data-reset=PATH]`); the server's refusal
/// of it below (`#err-PATH`, the input's description).
#[component]
fn Field(
    ctx: Ctx,
    form: Form,
    path: Path,
    label: Signal<String>,
    /// The value shown when the settings have none (a queue's VIP flag
    /// as the board has it).
    #[prop(optional)]
    fallback: Option<Signal<Option<Value>>>,
) -> impl IntoView {
    let kind = kind_of(&path);
    let measure = measure_of(&path);
    let key = dotted(&path);
    let id = format!("set-{}", html_id(&key));
    let error_id = format!("err-{}", html_id(&key));
    let path = StoredValue::new(path);
    let dotted_key = StoredValue::new(key.clone());
    let base = move || {
        ctx.doc
            .with(|d| {
                d.as_ref()
                    .and_then(|d| path.with_value(|p| effective_at(&d.effective, p)))
            })
            .or_else(|| fallback.and_then(|f| f.get()))
    };
    let overridden = move || {
        ctx.doc.with(|d| {
            d.as_ref().is_some_and(|d| {
                path.with_value(|p| value_at(&d.overrides, p).is_some_and(|v| !v.is_null()))
            })
        })
    };
    let text = move || {
        form.drafts
            .with(|d| path.with_value(|p| d.get(p).cloned()))
            .unwrap_or_else(|| to_form(kind, base().as_ref()))
    };
    let error = move || {
        form.problems
            .with(|p| dotted_key.with_value(|k| p.fields.get(k).cloned()))
    };
    let set = move |value: String| {
        form.drafts.update(|d| {
            d.insert(path.get_value(), value);
        });
    };
    let file_text = move || {
        let lang = ctx.lang.get();
        let file = ctx.doc.with(|d| {
            d.as_ref()
                .and_then(|d| path.with_value(|p| effective_at(&d.file, p)))
        });
        match file {
            None => lang.t("none_in_file").to_string(),
            Some(v) if kind == Kind::Flag => lang
                .t(if v.as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                })
                .to_string(),
            Some(v) if kind == Kind::Definition => v
                .as_str()
                .and_then(ServiceLevelDefinition::parse)
                .map_or_else(
                    || to_form(kind, Some(&v)),
                    |d| lang.definition(d).to_string(),
                ),
            Some(v) => match measure {
                Measure::Plain => to_form(kind, Some(&v)),
                Measure::Percent => format!("{}%", to_form(kind, Some(&v))),
                m => format!("{} {}", to_form(kind, Some(&v)), unit_label(m, lang)),
            },
        }
    };
    let reset = move |_| {
        let p = path.get_value();
        ctx.patch(form, merge_patch([(p.clone(), Value::Null)]), vec![p]);
    };
    let label_text = move || {
        let unit = unit_label(measure, ctx.lang.get());
        if unit.is_empty() {
            label.get()
        } else {
            format!("{} ({unit})", label.get())
        }
    };
    let described = {
        let error_id = error_id.clone();
        move || error().map(|_| error_id.clone())
    };
    let invalid = move || error().map(|_| "true");
    let locked = move || ctx.locked();
    let input = if kind == Kind::Definition {
        // Each option says how it counts; so does the list under the
        // centre's choice (`#sl-definitions`).
        let options = definitions()
            .map(|d| {
                view! {
                    <option
                        value=d.as_str()
                        title=move || ctx.lang.get().definition_explained(d)
                        prop:selected=move || text() == d.as_str()
                    >
                        {move || ctx.lang.get().definition(d)}
                    </option>
                }
            })
            .collect_view();
        let described = move || match described() {
            Some(error) => format!("{DEFINITIONS_ID} {error}"),
            None => DEFINITIONS_ID.to_string(),
        };
        view! {
            <select
                id=id.clone()
                name=key.clone()
                data-path=key.clone()
                disabled=locked
                aria-invalid=invalid
                aria-describedby=described
                on:change=move |ev| set(event_target_value(&ev))
            >
                {options}
            </select>
        }
        .into_any()
    } else if kind == Kind::Flag {
        view! {
            <input
                type="checkbox"
                id=id.clone()
                name=key.clone()
                data-path=key.clone()
                prop:checked=move || text() == "true"
                disabled=locked
                aria-invalid=invalid
                aria-describedby=described
                on:change=move |ev| set(event_target_checked(&ev).to_string())
            />
        }
        .into_any()
    } else {
        view! {
            <input
                type="text"
                id=id.clone()
                name=key.clone()
                data-path=key.clone()
                inputmode=if kind == Kind::Text { "text" } else { "decimal" }
                autocomplete="off"
                prop:value=text
                readonly=locked
                aria-invalid=invalid
                aria-describedby=described
                on:input=move |ev| set(event_target_value(&ev))
            />
        }
        .into_any()
    };
    view! {
        <div class=move || if overridden() { "field override" } else { "field" } data-field=key>
            <label for=id>{label_text}</label>
            {input}
            <span class="field-state">
                {move || {
                    overridden()
                        .then(|| {
                            view! {
                                <span class="override-badge">
                                    {move || ctx.lang.get().t("live_override")}
                                </span>
                                <button
                                    type="button"
                                    class="reset"
                                    data-reset=dotted_key.get_value()
                                    disabled=locked
                                    on:click=reset
                                >
                                    {move || ctx.lang.get().reset_to(&file_text())}
                                </button>
                            }
                        })
                }}
            </span>
            {move || {
                error().map(|e| view! { <span class="field-error" id=error_id.clone()>{e}</span> })
            }}
        </div>
    }
}

/// A label that follows the language.
fn label(ctx: Ctx, key: &'static str) -> Signal<String> {
    Signal::derive(move || ctx.lang.get().t(key).to_string())
}

/// A KPI's target's label ("Service level — Target").
fn target_label(ctx: Ctx, key: KpiKey, vip: bool) -> Signal<String> {
    Signal::derive(move || {
        let lang = ctx.lang.get();
        let which = if vip { "vip_target" } else { "target" };
        format!("{} — {}", lang.t(key.as_str()), lang.t(which))
    })
}

/// The settings roots the targets form saves.
const TARGET_ROOTS: &[&str] = &[
    "targets",
    "vip_targets",
    "warn_band",
    "service_level_seconds",
    "service_level_definition",
    "short_abandon_seconds",
    "channels",
];

/// The service-level threshold of each channel but voice, under `at`
/// (the centre's: empty; a queue's: `queues.ID`): a group
/// (`fieldset.channel-thresholds`) of one numeric field each
/// (`channels.CH.service_level_seconds`), empty meaning not set.
#[component]
fn ChannelThresholds(ctx: Ctx, form: Form, at: Path) -> impl IntoView {
    let hint_id = format!(
        "hint-{}",
        html_id(&dotted(
            &[at.clone(), vec!["channels".to_string()]].concat()
        ))
    );
    let fields = threshold_channels()
        .into_iter()
        .map(|channel| {
            let mut path = at.clone();
            path.extend(
                ["channels", channel.as_str(), "service_level_seconds"].map(str::to_string),
            );
            let label = Signal::derive(move || {
                let lang = ctx.lang.get();
                format!(
                    "{} — {}",
                    lang.channel(channel),
                    lang.t("service_level_seconds")
                )
            });
            view! { <Field ctx form path label /> }
        })
        .collect_view();
    let described = hint_id.clone();
    view! {
        <fieldset class="channel-thresholds" data-scope=dotted(&at) aria-describedby=described>
            <legend>{move || ctx.lang.get().t("channel_thresholds")}</legend>
            <p class="hint" id=hint_id>{move || ctx.lang.get().t("channel_thresholds_hint")}</p>
            {fields}
        </fieldset>
    }
}

/// The id of the list of what each service-level definition counts,
/// which every definition's select is described by.
const DEFINITIONS_ID: &str = "sl-definitions";

/// What each service-level definition counts (`dl#sl-definitions`).
#[component]
fn Definitions(ctx: Ctx) -> impl IntoView {
    let items = definitions()
        .map(|d| {
            view! {
                <div data-definition=d.as_str()>
                    <dt>{move || ctx.lang.get().definition(d)}</dt>
                    <dd>{move || ctx.lang.get().definition_formula(d)}</dd>
                </div>
            }
        })
        .collect_view();
    view! { <dl class="sl-definitions" id=DEFINITIONS_ID>{items}</dl> }
}

/// The centre's targets, warn band and thresholds.
#[component]
fn Targets(ctx: Ctx) -> impl IntoView {
    let form = Form::new();
    // The KPIs with a target, in the registry's order.
    let keys = Memo::new(move |_| {
        ctx.doc.with(|d| {
            d.as_ref()
                .map(|d| {
                    REGISTRY
                        .iter()
                        .filter(|s| d.effective["targets"].get(s.name).is_some())
                        .map(|s| s.key)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let row = move |key: KpiKey| {
        let vip = key.has_own_vip_target().then(|| {
            view! {
                <Field ctx form path=path(&["vip_targets", key.as_str()]) label=target_label(ctx, key, true) />
            }
        });
        view! {
            <div class="target-row" data-kpi=key.as_str()>
                <Field ctx form path=path(&["targets", key.as_str()]) label=target_label(ctx, key, false) />
                {vip}
            </div>
        }
    };
    view! {
        <section class="admin-section" id="targets" aria-labelledby="h-targets">
            <h2 id="h-targets">{move || ctx.lang.get().t("sec_targets")}</h2>
            <SettingsForm ctx form id="targets" roots=TARGET_ROOTS>
                <For each=move || keys.get() key=|key| *key children=row />
                <Field ctx form path=path(&["warn_band"]) label=label(ctx, "warn_band") />
                <Field
                    ctx
                    form
                    path=path(&["service_level_seconds"])
                    label=label(ctx, "service_level_seconds")
                />
                <Field
                    ctx
                    form
                    path=path(&["service_level_definition"])
                    label=label(ctx, "service_level_definition")
                />
                <Definitions ctx />
                <Field
                    ctx
                    form
                    path=path(&["short_abandon_seconds"])
                    label=label(ctx, "short_abandon_seconds")
                />
                <ChannelThresholds ctx form at=Vec::new() />
            </SettingsForm>
        </section>
    }
}

/// The per-queue targets the queue form edits (the queue table's, and
/// the answer speed).
const QUEUE_TARGETS: [KpiKey; 4] = [
    KpiKey::AgentConnectRate,
    KpiKey::ServiceLevel,
    KpiKey::AbandonRate,
    KpiKey::AsaSeconds,
];

/// Every queue the settings or the board know.
#[component]
fn Queues(ctx: Ctx) -> impl IntoView {
    let form = Form::new();
    let ids = Memo::new(move |_| ctx.queues());
    view! {
        <section class="admin-section" id="queues" aria-labelledby="h-queues">
            <h2 id="h-queues">{move || ctx.lang.get().t("sec_queues")}</h2>
            <SettingsForm ctx form id="queues" roots=&["queues"]>
                <div class="queue-grid">
                    <For
                        each=move || ids.get()
                        key=|id| id.clone()
                        children=move |id| view! { <QueueFields ctx form id /> }
                    />
                </div>
            </SettingsForm>
        </section>
    }
}

/// One queue's names, VIP flag, thresholds and targets.
#[component]
fn QueueFields(ctx: Ctx, form: Form, id: String) -> impl IntoView {
    let at = |rest: &[&str]| -> Path {
        let mut p = vec!["queues".to_string(), id.clone()];
        p.extend(rest.iter().map(|s| s.to_string()));
        p
    };
    // Where the config does not decide, the platform's offers do.
    let vip_on_board = {
        let id = id.clone();
        Signal::derive(move || {
            ctx.live.board.with(|b| {
                b.as_ref()
                    .and_then(|b| b.queues.get(&id))
                    .map(|q| Value::Bool(q.vip))
            })
        })
    };
    let name = {
        let id = id.clone();
        move || ctx.queue_name(&id)
    };
    let targets = QUEUE_TARGETS
        .iter()
        .map(|&key| {
            view! { <Field ctx form path=at(&["targets", key.as_str()]) label=target_label(ctx, key, false) /> }
        })
        .collect_view();
    let vip_targets = REGISTRY
        .iter()
        .filter(|s| s.key.has_own_vip_target())
        .map(|s| {
            view! { <Field ctx form path=at(&["vip_targets", s.name]) label=target_label(ctx, s.key, true) /> }
        })
        .collect_view();
    view! {
        <fieldset class="queue" data-queue=id.clone()>
            <legend>{name} " " <code>{id.clone()}</code></legend>
            <Field ctx form path=at(&["names", "zh"]) label=label(ctx, "name_zh") />
            <Field ctx form path=at(&["names", "en"]) label=label(ctx, "name_en") />
            <Field ctx form path=at(&["vip"]) label=label(ctx, "vip_queue") fallback=vip_on_board />
            <Field ctx form path=at(&["service_level_seconds"]) label=label(ctx, "service_level_seconds") />
            <Field ctx form path=at(&["service_level_definition"]) label=label(ctx, "service_level_definition") />
            <Field ctx form path=at(&["short_abandon_seconds"]) label=label(ctx, "short_abandon_seconds") />
            <ChannelThresholds ctx form at=at(&[]) />
            {targets}
            {vip_targets}
        </fieldset>
    }
}

/// How long each complaint grade has for its answer.
#[component]
fn Grades(ctx: Ctx) -> impl IntoView {
    let form = Form::new();
    let grades = Memo::new(move |_| {
        ctx.doc.with(|d| {
            d.as_ref()
                .and_then(|d| d.effective["complaint_grades"].as_object())
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    });
    let row = move |grade: String| {
        let name = grade.clone();
        let label = Signal::derive(move || {
            let lang = ctx.lang.get();
            format!("{} {name} — {}", lang.t("grade"), lang.t("due_hours"))
        });
        view! { <Field ctx form path=path(&["complaint_grades", &grade, "due_hours"]) label /> }
    };
    let none = move || {
        let loaded = ctx.doc.with(Option::is_some);
        (loaded && grades.with(Vec::is_empty))
            .then(|| view! { <p class="empty">{move || ctx.lang.get().t("no_grades")}</p> })
    };
    view! {
        <section class="admin-section" id="grades" aria-labelledby="h-grades">
            <h2 id="h-grades">{move || ctx.lang.get().t("sec_grades")}</h2>
            <SettingsForm ctx form id="grades" roots=&["complaint_grades"]>
                {none}
                <For each=move || grades.get() key=|g| g.clone() children=row />
            </SettingsForm>
        </section>
    }
}

/// A labelled text input of a plain form (not a settings value).
#[component]
fn TextInput(
    id: &'static str,
    label: Signal<String>,
    value: Signal<String>,
    set: Callback<String>,
    error: Signal<Option<String>>,
    #[prop(optional)] numeric: bool,
) -> impl IntoView {
    let error_id = format!("err-{id}");
    let described = {
        let error_id = error_id.clone();
        move || error.get().map(|_| error_id.clone())
    };
    view! {
        <div class="field">
            <label for=id>{move || label.get()}</label>
            <input
                type="text"
                id=id
                name=id
                inputmode=if numeric { "decimal" } else { "text" }
                autocomplete="off"
                prop:value=move || value.get()
                aria-invalid=move || error.get().map(|_| "true")
                aria-describedby=described
                on:input=move |ev| set.run(event_target_value(&ev))
            />
            {move || {
                error.get().map(|e| view! { <span class="field-error" id=error_id.clone()>{e}</span> })
            }}
        </div>
    }
}

/// A labelled select: `options` are (value, label).
#[component]
fn Choice(
    id: &'static str,
    label: Signal<String>,
    value: Signal<String>,
    set: Callback<String>,
    error: Signal<Option<String>>,
    options: Vec<(&'static str, Signal<String>)>,
) -> impl IntoView {
    let error_id = format!("err-{id}");
    let described = {
        let error_id = error_id.clone();
        move || error.get().map(|_| error_id.clone())
    };
    let options = options
        .into_iter()
        .map(|(v, text)| {
            view! {
                <option value=v prop:selected=move || value.get() == v>
                    {move || text.get()}
                </option>
            }
        })
        .collect_view();
    view! {
        <div class="field">
            <label for=id>{move || label.get()}</label>
            <select
                id=id
                name=id
                aria-invalid=move || error.get().map(|_| "true")
                aria-describedby=described
                on:change=move |ev| set.run(event_target_value(&ev))
            >
                {options}
            </select>
            {move || {
                error.get().map(|e| view! { <span class="field-error" id=error_id.clone()>{e}</span> })
            }}
        </div>
    }
}

/// A string signal as a text input's value and setter.
fn bound(value: RwSignal<String>) -> (Signal<String>, Callback<String>) {
    (value.into(), Callback::new(move |v| value.set(v)))
}

/// Posting a message, and the messages up now (each with Delete).
#[component]
fn MessageSection(ctx: Ctx) -> impl IntoView {
    let lang = ctx.lang;
    let form = Form::new();
    let text = RwSignal::new(String::new());
    let text_zh = RwSignal::new(String::new());
    let severity = RwSignal::new("info".to_string());
    let minutes = RwSignal::new("30".to_string());
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let lang = lang.get_untracked();
        let Some(ttl) = parse_number(&minutes.get_untracked()).map(|m| (m * 60.0).round()) else {
            form.failed(Problems::one("ttl_seconds", lang.t("need_number"), lang));
            return;
        };
        let mut body = json!({
            "text": text.get_untracked().trim(),
            "severity": severity.get_untracked(),
            "ttl_seconds": ttl,
        });
        let zh = text_zh.get_untracked();
        if !zh.trim().is_empty() {
            body["text_zh"] = json!(zh.trim());
        }
        form.busy.set(true);
        spawn_local(async move {
            match ctx.call("POST", "/api/v1/messages", Some(body)).await {
                Ok(_) => {
                    text.set(String::new());
                    text_zh.set(String::new());
                    form.succeeded(lang.t("sent").to_string());
                    ctx.load_messages();
                }
                Err(f) => form.failed(Problems::of(&f, lang, message_group)),
            }
            form.busy.set(false);
        });
    };
    let (text_value, set_text) = bound(text);
    let (zh_value, set_zh) = bound(text_zh);
    let (severity_value, set_severity) = bound(severity);
    let (minutes_value, set_minutes) = bound(minutes);
    let severities = vec![
        ("info", label(ctx, "msg_info")),
        ("warning", label(ctx, "msg_warning")),
        ("urgent", label(ctx, "msg_urgent")),
    ];
    view! {
        <section class="admin-section" id="broadcast" aria-labelledby="h-broadcast">
            <h2 id="h-broadcast">{move || lang.get().t("sec_message")}</h2>
            <form id="form-message" class="message-form" novalidate=true on:submit=send>
                <Summary form lang />
                <TextInput
                    id="msg-text"
                    label=label(ctx, "msg_text_en")
                    value=text_value
                    set=set_text
                    error=form.error("text")
                />
                <TextInput
                    id="msg-text-zh"
                    label=label(ctx, "msg_text_zh")
                    value=zh_value
                    set=set_zh
                    error=form.error("text_zh")
                />
                <Choice
                    id="msg-severity"
                    label=label(ctx, "severity")
                    value=severity_value
                    set=set_severity
                    error=form.error("severity")
                    options=severities
                />
                <TextInput
                    id="msg-minutes"
                    label=label(ctx, "duration_minutes")
                    value=minutes_value
                    set=set_minutes
                    error=form.error("ttl_seconds")
                    numeric=true
                />
                <div class="actions">
                    <button type="submit" id="msg-send" class="save" disabled=move || form.busy.get()>
                        {move || lang.get().t("send")}
                    </button>
                    <Note form />
                </div>
            </form>
            <ActiveMessages ctx form />
        </section>
    }
}

/// The messages up now (live from the board), each with Delete.
#[component]
fn ActiveMessages(ctx: Ctx, form: Form) -> impl IntoView {
    let lang = ctx.lang;
    let list = Memo::new(move |_| {
        ctx.live
            .board
            .with(|b| b.as_ref().map(|b| b.messages.clone()))
            .or_else(|| ctx.messages.get())
            .unwrap_or_default()
    });
    let item = move |m: Message| {
        let (word, mark) = severity_label(m.severity);
        let until = m.until.as_millisecond() as f64;
        let what = if m.text.trim().is_empty() {
            m.text_zh.clone().unwrap_or_default()
        } else {
            m.text.clone()
        };
        let id = m.id.clone();
        let delete = move |_| {
            let id = id.clone();
            let lang = lang.get_untracked();
            spawn_local(async move {
                let url = format!("/api/v1/messages/{}", encode(&id));
                match ctx.call("DELETE", &url, None).await {
                    Ok(_) => {
                        form.succeeded(lang.t("deleted").to_string());
                        ctx.load_messages();
                    }
                    Err(f) => form.failed(Problems::of(&f, lang, message_group)),
                }
            });
        };
        let clock = move || {
            let tz = ctx
                .live
                .board
                .with(|b| b.as_ref().map(|b| b.timezone.clone()));
            format!(
                "{} {}",
                lang.get().t("until"),
                clock_text(until, tz, lang.get())
            )
        };
        view! {
            <li class=format!("message-item {}", m.severity.as_str()) data-message-id=m.id.clone()>
                <span class="message-severity">
                    <span aria-hidden="true">{mark} " "</span>
                    {move || lang.get().t(word)}
                </span>
                {(!m.text.trim().is_empty())
                    .then(|| view! { <span class="message-text" lang="en">{m.text.clone()}</span> })}
                {m
                    .text_zh
                    .clone()
                    .filter(|t| !t.trim().is_empty())
                    .map(|t| view! { <span class="message-text" lang="zh-CN">{t}</span> })}
                <span class="message-until">{clock}</span>
                <button
                    type="button"
                    class="delete-message"
                    data-message-id=m.id.clone()
                    on:click=delete
                >
                    {move || lang.get().t("delete")}
                    <span class="sr-only">": " {what}</span>
                </button>
            </li>
        }
    };
    view! {
        <h3>{move || lang.get().t("active_messages")}</h3>
        <Show
            when=move || list.with(|l| !l.is_empty())
            fallback=move || view! { <p class="empty">{move || lang.get().t("no_messages")}</p> }
        >
            <ul id="active-messages" class="active-messages">
                <For each=move || list.get() key=|m| m.id.clone() children=item />
            </ul>
        </Show>
    }
}

/// The saved layouts, the form that edits one, and its live preview.
#[component]
fn LayoutSection(ctx: Ctx) -> impl IntoView {
    let lang = ctx.lang;
    let draft = RwSignal::new(LayoutForm::blank());
    let form = Form::new();
    let saved = Memo::new(move |_| {
        ctx.live
            .board
            .with(|b| b.as_ref().map(|b| b.layouts.clone()))
            .or_else(|| ctx.layouts.get())
            .unwrap_or_default()
    });
    let names = Memo::new(move |_| saved.with(|s| s.keys().cloned().collect::<Vec<_>>()));
    let edit = move |name: String| {
        if let Some(layout) = saved.with_untracked(|s| s.get(&name).cloned()) {
            draft.set(LayoutForm::of(&name, &layout));
            form.problems.set(Problems::default());
            form.note.set(None);
            focus("layout-name".to_string());
        }
    };
    let saved_item = move |name: String| {
        let which = name.clone();
        let link_text = {
            let name = name.clone();
            move || lang.get().open_on_tv(&name)
        };
        view! {
            <li data-layout=name.clone()>
                <span class="layout-title">{name.clone()}</span>
                <button
                    type="button"
                    class="edit-layout"
                    data-layout=name.clone()
                    on:click=move |_| edit(which.clone())
                >
                    {move || lang.get().t("edit")}
                    <span class="sr-only">" " {name.clone()}</span>
                </button>
                <a class="open-layout" href=tv_link(&name) target="_blank" rel="noopener">
                    {link_text}
                </a>
            </li>
        }
    };
    view! {
        <section class="admin-section" id="layouts" aria-labelledby="h-layouts">
            <h2 id="h-layouts">{move || lang.get().t("sec_layouts")}</h2>
            <h3>{move || lang.get().t("saved_layouts")}</h3>
            <Show
                when=move || names.with(|n| !n.is_empty())
                fallback=move || view! { <p class="empty">{move || lang.get().t("no_layouts")}</p> }
            >
                <ul id="saved-layouts" class="saved-layouts">
                    <For each=move || names.get() key=|n| n.clone() children=saved_item />
                </ul>
            </Show>
            <div class="layout-editor">
                <LayoutEditor ctx draft form saved />
                <Preview ctx draft />
            </div>
        </section>
    }
}

/// The layout form: name, pages and tiles in order, queues, pace,
/// window, language, theme; Save (PUT), Delete, the TV link.
#[component]
fn LayoutEditor(
    ctx: Ctx,
    draft: RwSignal<LayoutForm>,
    form: Form,
    saved: Memo<BTreeMap<String, Layout>>,
) -> impl IntoView {
    let lang = ctx.lang;
    let name = move || draft.with(|d| d.name.trim().to_string());
    let is_saved = move || {
        let name = name();
        saved.with(|s| s.contains_key(&name))
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let lang = lang.get_untracked();
        let name = draft.with_untracked(|d| d.name.trim().to_string());
        if check_layout_name(&name).is_err() {
            form.failed(Problems::one("name", lang.t("bad_layout_name"), lang));
            return;
        }
        let layout = match draft.with_untracked(LayoutForm::layout) {
            Ok(layout) => layout,
            Err((group, why)) => {
                form.failed(Problems::one(group, lang.t(why), lang));
                return;
            }
        };
        let body = serde_json::to_value(&layout).unwrap_or_default();
        form.busy.set(true);
        spawn_local(async move {
            let url = format!("/api/v1/layouts/{}", encode(&name));
            match ctx.call("PUT", &url, Some(body)).await {
                Ok(_) => {
                    form.succeeded(lang.layout_done(&name, true));
                    ctx.load_layouts();
                }
                Err(f) => {
                    ctx.refused(&f);
                    form.failed(Problems::of(&f, lang, layout_group));
                }
            }
            form.busy.set(false);
        });
    };
    let delete = move |_| {
        let lang = lang.get_untracked();
        let name = draft.with_untracked(|d| d.name.trim().to_string());
        form.busy.set(true);
        spawn_local(async move {
            let url = format!("/api/v1/layouts/{}", encode(&name));
            match ctx.call("DELETE", &url, None).await {
                Ok(_) => {
                    draft.set(LayoutForm::blank());
                    form.succeeded(lang.layout_done(&name, false));
                    ctx.load_layouts();
                }
                Err(f) => {
                    ctx.refused(&f);
                    form.failed(Problems::of(&f, lang, layout_group));
                }
            }
            form.busy.set(false);
        });
    };
    let fresh = move |_| {
        draft.set(LayoutForm::blank());
        form.problems.set(Problems::default());
        form.note.set(None);
        focus("layout-name".to_string());
    };
    // A text field of the draft.
    let text = |get: fn(&LayoutForm) -> &String, put: fn(&mut LayoutForm) -> &mut String| {
        (
            Signal::derive(move || draft.with(|d| get(d).clone())),
            Callback::new(move |v: String| draft.update(|d| *put(d) = v)),
        )
    };
    let (name_value, set_name) = text(|d| &d.name, |d| &mut d.name);
    let (rotate_value, set_rotate) = text(|d| &d.rotate, |d| &mut d.rotate);
    let (window_value, set_window) = text(|d| &d.window, |d| &mut d.window);
    let (lang_value, set_lang) = text(|d| &d.lang, |d| &mut d.lang);
    let (theme_value, set_theme) = text(|d| &d.theme, |d| &mut d.theme);
    let windows = vec![
        ("", label(ctx, "from_link")),
        ("today", label(ctx, "today")),
        ("15m", label(ctx, "15m")),
        ("60m", label(ctx, "60m")),
    ];
    let langs = vec![
        ("", label(ctx, "from_link")),
        ("zh", label(ctx, "lang_zh")),
        ("en", label(ctx, "lang_en")),
    ];
    let themes = vec![
        ("", label(ctx, "from_link")),
        ("dark", label(ctx, "theme_dark")),
        ("light", label(ctx, "theme_light")),
    ];
    let open = move || {
        let name = name();
        check_layout_name(&name).is_ok().then(|| {
            view! {
                <a id="layout-open" class="open-layout" href=tv_link(&name) target="_blank" rel="noopener">
                    {lang.get().open_on_tv(&name)}
                </a>
            }
        })
    };
    view! {
        <form id="form-layout" class="layout-form" novalidate=true on:submit=save>
            <h3>{move || lang.get().t("edit_layout")}</h3>
            <Summary form lang />
            <TextInput
                id="layout-name"
                label=label(ctx, "layout_name")
                value=name_value
                set=set_name
                error=form.error("name")
            />
            <Checklist ctx draft which=List::Pages legend="pages" hint="pages_hint" error=form.error("pages") />
            <Checklist ctx draft which=List::Tiles legend="tiles" hint="tiles_hint" error=form.error("tiles") />
            <QueueChoice ctx draft error=form.error("queues") />
            <TextInput
                id="layout-rotate"
                label=label(ctx, "rotate_seconds")
                value=rotate_value
                set=set_rotate
                error=form.error("rotate_seconds")
                numeric=true
            />
            <Choice
                id="layout-window"
                label=label(ctx, "window")
                value=window_value
                set=set_window
                error=form.error("window")
                options=windows
            />
            <Choice
                id="layout-lang"
                label=label(ctx, "language")
                value=lang_value
                set=set_lang
                error=form.error("lang")
                options=langs
            />
            <Choice
                id="layout-theme"
                label=label(ctx, "theme")
                value=theme_value
                set=set_theme
                error=form.error("theme")
                options=themes
            />
            <div class="actions">
                <button
                    type="submit"
                    id="layout-save"
                    class="save"
                    disabled=move || form.busy.get() || ctx.locked()
                >
                    {move || lang.get().t("save")}
                </button>
                <button
                    type="button"
                    id="layout-delete"
                    disabled=move || form.busy.get() || ctx.locked() || !is_saved()
                    on:click=delete
                >
                    {move || lang.get().t("delete")}
                </button>
                <button type="button" id="layout-new" on:click=fresh>
                    {move || lang.get().t("new_layout")}
                </button>
                {open}
                <Note form />
            </div>
        </form>
    }
}

/// An ordered list of checkboxes (pages, tiles), each item moved with
/// its Up and Down buttons (the keyboard stays on the item moved).
#[component]
fn Checklist(
    ctx: Ctx,
    draft: RwSignal<LayoutForm>,
    which: List,
    /// The labels (i18n keys) of the list and of its hint.
    legend: &'static str,
    hint: &'static str,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let lang = ctx.lang;
    let group = which.group();
    let item = move |key: String| {
        let k = StoredValue::new(key.clone());
        let id = format!("layout-{group}-{}", html_id(&key));
        let up_id = format!("{id}-up");
        let down_id = format!("{id}-down");
        let index = move || {
            draft.with(|d| k.with_value(|k| d.list(which).iter().position(|(x, _)| x == k)))
        };
        let last = move || draft.with(|d| d.list(which).len().saturating_sub(1));
        let checked = move || {
            draft.with(|d| k.with_value(|k| d.list(which).iter().any(|(x, on)| *on && x == k)))
        };
        let name = move || which.label(lang.get(), &k.get_value());
        let step = {
            let (up_id, down_id) = (up_id.clone(), down_id.clone());
            move |up: bool| {
                let mut at = 0;
                let mut len = 0;
                draft.update(|d| {
                    let list = d.list_mut(which);
                    len = list.len();
                    if let Some(i) = k.with_value(|k| list.iter().position(|(x, _)| x == k)) {
                        at = move_item(list, i, up);
                    }
                });
                // On this item's button still, or at an end its other one.
                let can_go_on = if up { at > 0 } else { at + 1 < len };
                focus(if can_go_on == up {
                    up_id.clone()
                } else {
                    down_id.clone()
                });
            }
        };
        let step_up = step.clone();
        view! {
            <li data-key=key.clone()>
                <input
                    type="checkbox"
                    id=id.clone()
                    prop:checked=checked
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        draft
                            .update(|d| {
                                k.with_value(|k| {
                                    if let Some(item) = d.list_mut(which).iter_mut().find(|(x, _)| x == k) {
                                        item.1 = on;
                                    }
                                })
                            });
                    }
                />
                <label for=id>{name}</label>
                <button
                    type="button"
                    class="move-up"
                    id=up_id
                    disabled=move || index() == Some(0)
                    on:click=move |_| step_up(true)
                >
                    <span aria-hidden="true">"↑"</span>
                    <span class="sr-only">{move || lang.get().move_item(&name(), true)}</span>
                </button>
                <button
                    type="button"
                    class="move-down"
                    id=down_id
                    disabled=move || index().is_none_or(|i| i >= last())
                    on:click=move |_| step(false)
                >
                    <span aria-hidden="true">"↓"</span>
                    <span class="sr-only">{move || lang.get().move_item(&name(), false)}</span>
                </button>
            </li>
        }
    };
    let hint_id = format!("hint-layout-{group}");
    let error_id = format!("err-layout-{group}");
    let described = {
        let (hint_id, error_id) = (hint_id.clone(), error_id.clone());
        move || match error.get() {
            Some(_) => format!("{hint_id} {error_id}"),
            None => hint_id.clone(),
        }
    };
    view! {
        <fieldset class="checklist" id=format!("layout-{group}") aria-describedby=described>
            <legend>{move || lang.get().t(legend)}</legend>
            <p class="hint" id=hint_id>{move || lang.get().t(hint)}</p>
            <ol>
                <For
                    each=move || draft.with(|d| d.list(which).iter().map(|(k, _)| k.clone()).collect::<Vec<_>>())
                    key=|k| k.clone()
                    children=item
                />
            </ol>
            {move || {
                error.get().map(|e| view! { <span class="field-error" id=error_id.clone()>{e}</span> })
            }}
        </fieldset>
    }
}

/// The queues a layout shows: the known ones to check (none: every
/// queue).
#[component]
fn QueueChoice(
    ctx: Ctx,
    draft: RwSignal<LayoutForm>,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let lang = ctx.lang;
    let ids = Memo::new(move |_| {
        let mut ids = ctx.queues();
        draft.with(|d| {
            for q in &d.queues {
                if !ids.contains(q) {
                    ids.push(q.clone());
                }
            }
        });
        ids
    });
    let item = move |queue: String| {
        let id = format!("layout-queue-{}", html_id(&queue));
        let q = StoredValue::new(queue.clone());
        view! {
            <li data-queue=queue.clone()>
                <input
                    type="checkbox"
                    id=id.clone()
                    prop:checked=move || draft.with(|d| q.with_value(|q| d.queues.contains(q)))
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        draft
                            .update(|d| {
                                if on {
                                    d.queues.insert(q.get_value());
                                } else {
                                    q.with_value(|q| d.queues.remove(q));
                                }
                            });
                    }
                />
                <label for=id>{move || ctx.queue_name(&q.get_value())} " " <code>{queue.clone()}</code></label>
            </li>
        }
    };
    let error_id = "err-layout-queues";
    view! {
        <fieldset
            class="checklist queues-choice"
            id="layout-queues"
            aria-describedby=move || match error.get() {
                Some(_) => format!("hint-layout-queues {error_id}"),
                None => "hint-layout-queues".to_string(),
            }
        >
            <legend>{move || lang.get().t("layout_queues")}</legend>
            <p class="hint" id="hint-layout-queues">{move || lang.get().t("queues_hint")}</p>
            <ul>
                <For each=move || ids.get() key=|q| q.clone() children=item />
            </ul>
            {move || error.get().map(|e| view! { <span class="field-error" id=error_id>{e}</span> })}
        </fieldset>
    }
}

/// The layout as a TV would show it, from the form as it is now (saved or
/// not) and the live board: its tiles in order with their values and
/// statuses, its pages, queues, window, language and theme.
#[component]
fn Preview(ctx: Ctx, draft: RwSignal<LayoutForm>) -> impl IntoView {
    let layout = Memo::new(move |_| draft.with(LayoutForm::lenient));
    let shown = Memo::new(move |_| layout.with(|l| resolve(&Link::defaults(), Some(l))));
    let lang = move || shown.with(|e| e.lang).unwrap_or_else(|| ctx.lang.get());
    let kpi = move |key: KpiKey| {
        let window = shown.with(|e| e.window);
        ctx.live.board.with(|b| {
            b.as_ref()
                .and_then(|b| b.totals.get(&window))
                .and_then(|k| k.get(key).copied())
        })
    };
    let tile = move |key: KpiKey| {
        let status = move || kpi(key).map_or(Status::None, |k| k.status);
        view! {
            <div class="tile" data-kpi=key.as_str() data-status=move || status_name(status())>
                <div class="tile-label">{move || lang().t(key.as_str())}</div>
                <div class="tile-value">{move || kpi_value(key, kpi(key).and_then(|k| k.value))}</div>
                <div class="tile-foot">
                    <span class="tile-target">
                        {move || {
                            kpi(key)
                                .and_then(|k| k.target)
                                .map(|t| format!("{} {}", lang().t("target"), kpi_value(key, Some(t))))
                        }}
                    </span>
                    <span class="tile-status">
                        <span class="icon">{move || status_icon(status())}</span>
                        " "
                        {move || lang().t(status_name(status()))}
                    </span>
                </div>
            </div>
        }
    };
    let from_link = move || ctx.lang.get().t("from_link").to_string();
    let pages = move || {
        let l = ctx.lang.get();
        let pages = layout.with(|x| x.pages.clone());
        let list = if pages.is_empty() {
            from_link()
        } else {
            pages.iter().map(|p| l.t(p)).collect::<Vec<_>>().join(" → ")
        };
        let pace = match layout.with(|x| x.rotate_seconds) {
            Some(s) => l.every_seconds(u64::from(s)),
            None => l.t("own_pace").to_string(),
        };
        format!("{list} · {pace}")
    };
    let queues = move || match layout.with(|x| x.queues.clone()) {
        None => ctx.lang.get().t("all_queues").to_string(),
        Some(ids) => ids
            .iter()
            .map(|id| ctx.queue_name(id))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let chosen = move |value: Option<String>, prefix: &str| match value {
        None => from_link(),
        Some(v) => ctx.lang.get().t(&format!("{prefix}{v}")).to_string(),
    };
    let window = move || match layout.with(|x| x.window) {
        None => from_link(),
        Some(w) => ctx.lang.get().t(w.as_str()).to_string(),
    };
    let language = move || chosen(layout.with(|x| x.lang.clone()), "lang_");
    let theme = move || chosen(layout.with(|x| x.theme.clone()), "theme_");
    let l = move |key: &'static str| move || ctx.lang.get().t(key);
    view! {
        <section
            class=move || format!("layout-preview {}", shown.with(|e| e.theme).class())
            data-theme=move || shown.with(|e| e.theme).name()
            aria-labelledby="h-preview"
        >
            <h3 id="h-preview">{l("preview")}</h3>
            <dl class="preview-facts">
                <div>
                    <dt>{l("pages")}</dt>
                    <dd class="preview-pages">{pages}</dd>
                </div>
                <div>
                    <dt>{l("layout_queues")}</dt>
                    <dd class="preview-queues">{queues}</dd>
                </div>
                <div>
                    <dt>{l("window")}</dt>
                    <dd class="preview-window">{window}</dd>
                </div>
                <div>
                    <dt>{l("language")}</dt>
                    <dd class="preview-lang">{language}</dd>
                </div>
                <div>
                    <dt>{l("theme")}</dt>
                    <dd class="preview-theme">{theme}</dd>
                </div>
            </dl>
            <div class="tiles preview-tiles">
                <For each=move || shown.with(|e| e.tiles.clone()) key=|k| *k children=tile />
            </div>
        </section>
    }
}

/// The settings changes, newest first.
#[component]
fn Audit(ctx: Ctx) -> impl IntoView {
    let lang = ctx.lang;
    let rows = move || {
        let lang = lang.get();
        ctx.doc.with(|d| {
            d.as_ref()
                .map(|d| {
                    d.audit
                        .iter()
                        .map(|a| {
                            view! {
                                <tr data-path=a.path.clone()>
                                    <td class="audit-at">{local_time(a.at, lang)}</td>
                                    <td class="audit-by">{a.by.clone()}</td>
                                    <td class="audit-path">
                                        <code>{a.path.clone()}</code>
                                    </td>
                                    <td class="audit-change">
                                        <span class="old">{audit_value(&a.old, lang)}</span>
                                        " → "
                                        <span class="new">{audit_value(&a.new, lang)}</span>
                                    </td>
                                </tr>
                            }
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    let empty = move || {
        ctx.doc
            .with(|d| d.as_ref().is_some_and(|d| d.audit.is_empty()))
    };
    view! {
        <section class="admin-section" id="audit" aria-labelledby="h-audit">
            <h2 id="h-audit">{move || lang.get().t("sec_audit")}</h2>
            <table class="audit">
                <thead>
                    <tr>
                        <th scope="col">{move || lang.get().t("when")}</th>
                        <th scope="col">{move || lang.get().t("by")}</th>
                        <th scope="col">{move || lang.get().t("setting")}</th>
                        <th scope="col">{move || lang.get().t("change")}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            {move || empty().then(|| view! { <p class="empty">{move || lang.get().t("no_audit")}</p> })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(dotted: &str) -> Path {
        dotted.split('.').map(str::to_string).collect()
    }

    #[test]
    fn ratios_are_edited_as_percent_and_sent_as_ratios() {
        assert_eq!(kind_of(&p("targets.service_level")), Kind::Percent);
        assert_eq!(kind_of(&p("vip_targets.agent_connect_rate")), Kind::Percent);
        assert_eq!(kind_of(&p("warn_band")), Kind::Percent);
        assert_eq!(kind_of(&p("targets.satisfaction")), Kind::Number);
        assert_eq!(kind_of(&p("queues.q1.targets.asa_seconds")), Kind::Number);
        assert_eq!(kind_of(&p("queues.q1.names.zh")), Kind::Text);
        assert_eq!(kind_of(&p("queues.q1.vip")), Kind::Flag);
        assert_eq!(kind_of(&p("service_level_definition")), Kind::Definition);
        assert_eq!(
            measure_of(&p("queues.q1.service_level_definition")),
            Measure::Plain
        );
        assert_eq!(
            to_form(Kind::Definition, Some(&json!("connect"))),
            "connect"
        );
        assert_eq!(
            from_form(Kind::Definition, "answered_only"),
            Ok(json!("answered_only"))
        );
        assert_eq!(from_form(Kind::Definition, "fast"), Err("need_definition"));
        assert_eq!(definitions().count(), 4);
        assert_eq!(
            measure_of(&p("queues.q1.targets.asa_seconds")),
            Measure::Seconds
        );
        assert_eq!(measure_of(&p("targets.satisfaction")), Measure::Points);
        assert_eq!(
            measure_of(&p("complaint_grades.A.due_hours")),
            Measure::Hours
        );
        assert_eq!(measure_of(&p("short_abandon_seconds")), Measure::Seconds);

        assert_eq!(to_form(Kind::Percent, Some(&json!(0.85))), "85");
        assert_eq!(to_form(Kind::Percent, Some(&json!(0.855))), "85.5");
        assert_eq!(to_form(Kind::Percent, Some(&json!(0.07))), "7");
        assert_eq!(to_form(Kind::Number, Some(&json!(20.0))), "20");
        assert_eq!(to_form(Kind::Number, None), "");
        assert_eq!(from_form(Kind::Percent, "85"), Ok(json!(0.85)));
        assert_eq!(from_form(Kind::Percent, " 85,5 "), Ok(json!(0.855)));
        assert_eq!(from_form(Kind::Percent, "7"), Ok(json!(0.07)));
        assert_eq!(from_form(Kind::Number, "20"), Ok(json!(20.0)));
        assert_eq!(from_form(Kind::Number, "abc"), Err("need_number"));
        assert_eq!(from_form(Kind::Percent, ""), Err("need_number"));
        assert_eq!(from_form(Kind::Flag, "true"), Ok(json!(true)));
        // Through and back, a percent is the value it was.
        for v in [0.0, 0.05, 0.8, 0.85, 0.9, 0.99, 1.0, 0.123] {
            let back = from_form(Kind::Percent, &to_form(Kind::Percent, Some(&json!(v)))).unwrap();
            assert!(same(&back, &json!(v)), "{v} came back as {back}");
        }
        assert_eq!(number_text(-0.0000001), "0");
    }

    fn effective() -> Value {
        json!({
            "targets": {"service_level": 0.8, "asa_seconds": 20.0},
            "vip_targets": {"agent_connect_rate": 0.9},
            "warn_band": 0.05,
            "service_level_seconds": 20.0,
            "short_abandon_seconds": 0.0,
            "service_level_definition": "hotline",
            "queues": {"billing": {"names": {"en": "Billing"}, "targets": {"service_level": 0.7}}},
            "complaint_grades": {"A": {"due_hours": 24.0}}
        })
    }

    #[test]
    fn a_queue_the_settings_do_not_list_runs_with_the_global_values() {
        let e = effective();
        assert_eq!(
            effective_at(&e, &p("queues.billing.targets.service_level")),
            Some(json!(0.7))
        );
        assert_eq!(
            effective_at(&e, &p("queues.vip.targets.service_level")),
            Some(json!(0.8))
        );
        assert_eq!(
            effective_at(&e, &p("queues.vip.service_level_seconds")),
            Some(json!(20.0))
        );
        assert_eq!(
            effective_at(&e, &p("queues.vip.vip_targets.agent_connect_rate")),
            Some(json!(0.9))
        );
        assert_eq!(
            effective_at(&e, &p("queues.vip.service_level_definition")),
            Some(json!("hotline"))
        );
        assert_eq!(effective_at(&e, &p("queues.vip.names.en")), None);
        assert_eq!(effective_at(&e, &p("targets.fcr")), None);
    }

    #[test]
    fn a_save_sends_only_what_changed_as_a_merge_patch() {
        let e = effective();
        let drafts: BTreeMap<Path, String> = [
            (p("targets.service_level"), "85".to_string()),
            // Typed, but the same value: not sent.
            (p("targets.asa_seconds"), "20".to_string()),
            (p("warn_band"), "10".to_string()),
            // Another form's.
            (p("queues.billing.targets.service_level"), "75".to_string()),
        ]
        .into();
        let found = changes(&drafts, TARGET_ROOTS, &e).unwrap();
        assert_eq!(found.done.len(), 3, "the queue's edit is the queue form's");
        let patch = merge_patch(found.set);
        assert_eq!(
            patch,
            json!({"targets": {"service_level": 0.85}, "warn_band": 0.1})
        );

        let queue = changes(&drafts, &["queues"], &e).unwrap();
        assert_eq!(
            merge_patch(queue.set),
            json!({"queues": {"billing": {"targets": {"service_level": 0.75}}}})
        );
        // A queue id with a dot stays one key.
        let dotted_id = vec!["queues".into(), "a.b".into(), "vip".into()];
        assert_eq!(
            merge_patch([(dotted_id, json!(true))]),
            json!({"queues": {"a.b": {"vip": true}}})
        );
        // A reset is a null at its path.
        assert_eq!(
            merge_patch([(p("queues.billing.targets.service_level"), Value::Null)]),
            json!({"queues": {"billing": {"targets": {"service_level": null}}}})
        );
        // A definition goes as its name; the same one is no change.
        let chosen: BTreeMap<Path, String> = [
            (p("service_level_definition"), "hotline".to_string()),
            (
                p("queues.billing.service_level_definition"),
                "connect".to_string(),
            ),
        ]
        .into();
        assert_eq!(
            merge_patch(changes(&chosen, TARGET_ROOTS, &e).unwrap().set),
            json!({})
        );
        assert_eq!(
            merge_patch(changes(&chosen, &["queues"], &e).unwrap().set),
            json!({"queues": {"billing": {"service_level_definition": "connect"}}})
        );
        // What does not read is named by its path; nothing is sent.
        let bad: BTreeMap<Path, String> = [(p("targets.service_level"), "lots".to_string())].into();
        let wrong = changes(&bad, TARGET_ROOTS, &e).unwrap_err();
        assert_eq!(wrong.get("targets.service_level"), Some(&"need_number"));
        // An empty name of a queue without one: nothing to send.
        let blank: BTreeMap<Path, String> = [(p("queues.vip.names.zh"), " ".to_string())].into();
        assert_eq!(changes(&blank, &["queues"], &e).unwrap().set, vec![]);
    }

    #[test]
    fn an_emptied_channel_threshold_is_reset_to_none() {
        let mut e = effective();
        e["channels"] = json!({"chat": {"service_level_seconds": 60.0}});
        e["queues"]["billing"]["channels"] = json!({"email": {"service_level_seconds": 3600.0}});
        assert!(unsettable(&p("channels.chat.service_level_seconds")));
        assert!(unsettable(&p(
            "queues.billing.channels.email.service_level_seconds"
        )));
        assert!(!unsettable(&p("service_level_seconds")));
        assert!(!unsettable(&p("queues.billing.service_level_seconds")));
        assert_eq!(
            measure_of(&p("channels.chat.service_level_seconds")),
            Measure::Seconds
        );
        assert_eq!(
            threshold_channels(),
            [Channel::Chat, Channel::Email, Channel::Callback],
            "voice is `service_level_seconds`"
        );
        // A queue's channel does not run with the centre's value as its own.
        assert_eq!(
            effective_at(&e, &p("queues.billing.channels.chat.service_level_seconds")),
            None
        );
        let drafts: BTreeMap<Path, String> = [
            (p("channels.chat.service_level_seconds"), " ".to_string()),
            (p("channels.email.service_level_seconds"), "120".to_string()),
            // Empty and not set: nothing to send.
            (p("channels.callback.service_level_seconds"), String::new()),
        ]
        .into();
        assert_eq!(
            merge_patch(changes(&drafts, TARGET_ROOTS, &e).unwrap().set),
            json!({"channels": {"chat": {"service_level_seconds": null},
                                "email": {"service_level_seconds": 120.0}}})
        );
        let queue: BTreeMap<Path, String> = [(
            p("queues.billing.channels.email.service_level_seconds"),
            String::new(),
        )]
        .into();
        assert_eq!(
            merge_patch(changes(&queue, &["queues"], &e).unwrap().set),
            json!({"queues": {"billing": {"channels": {"email": {"service_level_seconds": null}}}}})
        );
        // Other numbers still need one.
        let blank: BTreeMap<Path, String> = [(p("service_level_seconds"), String::new())].into();
        assert_eq!(
            changes(&blank, TARGET_ROOTS, &e)
                .unwrap_err()
                .get("service_level_seconds"),
            Some(&"need_number")
        );
    }

    #[test]
    fn a_layout_goes_through_the_form_unchanged() {
        let layout: Layout = serde_json::from_str(
            r#"{"pages":["agents","overview"],"tiles":["asa_seconds","service_level"],
                "queues":["billing"],"rotate_seconds":10,"window":"15m","lang":"zh","theme":"light"}"#,
        )
        .unwrap();
        let form = LayoutForm::of("lobby", &layout);
        assert_eq!(form.pages[0], ("agents".to_string(), true));
        assert_eq!(form.pages[2], ("queues".to_string(), false));
        assert_eq!(form.tiles.len(), REGISTRY.len());
        assert_eq!(form.layout(), Ok(layout));
        // Every tile in the default order is "every tile".
        let blank = LayoutForm::blank();
        assert!(blank.tiles.iter().filter(|(_, on)| *on).count() > 0);
        assert_eq!(blank.layout(), Ok(Layout::default()));
        // Moving a tile makes the order explicit.
        let mut moved = blank.clone();
        let at = move_item(&mut moved.tiles, 1, true);
        assert_eq!(at, 0);
        let tiles = moved.layout().unwrap().tiles;
        assert_eq!(tiles[0], "agent_connect_rate");
        assert_eq!(tiles[1], "system_connect_rate");
        assert_eq!(move_item(&mut moved.tiles, 0, true), 0, "the top stays");
        let last = moved.tiles.len() - 1;
        assert_eq!(
            move_item(&mut moved.tiles, last, false),
            last,
            "the bottom stays"
        );
        // A pace that does not read is the rotate input's problem.
        let mut slow = blank.clone();
        slow.rotate = "ten".into();
        assert_eq!(slow.layout(), Err(("rotate_seconds", "need_whole")));
        assert_eq!(slow.lenient(), Layout::default());
        assert_eq!(layout_group("tiles[1]"), "tiles");
        assert_eq!(layout_group("rotate_seconds"), "rotate_seconds");
    }

    #[test]
    fn an_audit_null_is_the_file_value() {
        assert_eq!(audit_value(&Value::Null, Lang::En), "file value");
        assert_eq!(audit_value(&Value::Null, Lang::Zh), "配置文件值");
        assert_eq!(audit_value(&json!(0.85), Lang::En), "0.85");
        assert_eq!(audit_value(&json!("Billing"), Lang::En), "Billing");
    }
}
