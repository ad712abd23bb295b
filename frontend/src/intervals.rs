//! The interval report (`/?view=intervals`): today (or yesterday) by 15-
//! or 30-minute interval of the centre's day, for the centre (`all`) or a
//! queue, as `GET /api/v1/intervals` computed it — the page formats, it
//! never sums or recomputes a figure. Read again every minute; the same
//! report as a CSV download. It reads the live board (floor view) only
//! for the queues' names and each scope's service-level target.
//!
//! URL parameters besides the wallboard's own (`lang`, `token`, `theme`,
//! `servers`): `size=15m|30m` (default 30m), `day=today|yesterday` and
//! `queue=ID` (the scope shown first; default `all`).

use std::collections::BTreeMap;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use wallboard_protocol::{KpiKey, ServiceLevelDefinition, Status, View, Window};
use web_sys::UrlSearchParams;

use crate::connection::{self, Live};
use crate::format::{duration, kpi_value, percent};
use crate::i18n::Lang;
use crate::layout::Theme;
use crate::views::{
    clock_text, queue_name, sl_definition_tag, stable_order, status_icon, status_name,
};
use crate::{Params, encode, initial_lang, keep_lang};

/// The `view=` that opens this page (handled by the UI; the server's
/// views are `floor`, `agent` and `queue`).
pub const VIEW: &str = "intervals";

/// The interval sizes the report offers.
pub const SIZES: [&str; 2] = ["15m", "30m"];
/// The days it keeps.
pub const DAYS: [&str; 2] = ["today", "yesterday"];
/// The scope of the centre's totals.
pub const ALL: &str = wallboard_protocol::event::ALL_QUEUES;

/// How often the report is read again.
const REFRESH: Duration = Duration::from_secs(60);

/// One interval of one scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `HH:MM`, local (the centre's), as the server wrote it.
    pub start: String,
    pub end: String,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub service_level: Option<f64>,
    pub asa_seconds: Option<f64>,
    pub aht_seconds: Option<f64>,
}

/// The report as the server sent it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// The local day (`2026-11-24`).
    pub day: String,
    pub timezone: String,
    pub size: String,
    /// `today` or `yesterday`.
    pub day_of: String,
    pub definitions: BTreeMap<String, ServiceLevelDefinition>,
    /// Rows by scope (`all`, then queue ids).
    pub scopes: BTreeMap<String, Vec<Row>>,
}

/// `HH:MM` of an RFC 3339 time written in the centre's offset
/// (`2026-11-24T08:30:00+08:00` → `08:30`): the text as written, so the
/// browser's own zone changes nothing.
pub fn hh_mm(time: &str) -> Option<String> {
    let (_, clock) = time.split_once('T')?;
    let hm = clock.get(..5)?;
    let b = hm.as_bytes();
    let digits = |i: usize| b[i].is_ascii_digit();
    (digits(0) && digits(1) && b[2] == b':' && digits(3) && digits(4)).then(|| hm.to_string())
}

/// The report in a JSON answer; `Err`: what does not read.
pub fn parse_report(answer: &Value) -> Result<Report, String> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let count = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64).unwrap_or(0);
    let figure =
        |v: &Value, key: &str| v.get(key).and_then(Value::as_f64).filter(|f| f.is_finite());
    let queues = answer
        .get("queues")
        .and_then(Value::as_object)
        .ok_or("no `queues` in the answer")?;
    let mut scopes = BTreeMap::new();
    for (scope, rows) in queues {
        let rows = rows
            .as_array()
            .ok_or_else(|| format!("`queues.{scope}` is not a list"))?;
        let mut out = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let at = |key: &str| {
                text(row, key)
                    .as_deref()
                    .and_then(hh_mm)
                    .ok_or_else(|| format!("`queues.{scope}[{i}].{key}` is not a time"))
            };
            out.push(Row {
                start: at("start")?,
                end: at("end")?,
                offered: count(row, "offered"),
                answered: count(row, "answered"),
                abandoned: count(row, "abandoned"),
                service_level: figure(row, "service_level"),
                asa_seconds: figure(row, "asa_seconds"),
                aht_seconds: figure(row, "aht_seconds"),
            });
        }
        scopes.insert(scope.clone(), out);
    }
    let definitions = answer
        .get("definitions")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(scope, d)| {
                    Some((scope.clone(), ServiceLevelDefinition::parse(d.as_str()?)?))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Report {
        day: text(answer, "day").unwrap_or_default(),
        timezone: text(answer, "timezone").unwrap_or_default(),
        size: text(answer, "size").unwrap_or_default(),
        day_of: text(answer, "day_of").unwrap_or_default(),
        definitions,
        scopes,
    })
}

/// The report's URL: `format=csv` for the download (with the page's
/// token, which a link cannot send as a header); the JSON one is fetched
/// with the token as a header.
pub fn report_url(size: &str, day: &str, csv: bool, token: Option<&str>) -> String {
    let mut url = format!(
        "/api/v1/intervals?size={}&day={}",
        encode(size),
        encode(day)
    );
    if csv {
        url.push_str("&format=csv");
        if let Some(token) = token {
            url.push_str(&format!("&token={}", encode(token)));
        }
    }
    url
}

/// The wallboard parameters a page passes on to the other (the token,
/// the servers, the theme; the language as chosen now), after `first`.
fn passed_on(search: &str, first: &str, lang: Lang) -> String {
    let q = UrlSearchParams::new_with_str(search).ok();
    let mut query = first.to_string();
    let mut add = |key: &str, value: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("{key}={}", encode(value)));
    };
    add("lang", if lang == Lang::Zh { "zh" } else { "en" });
    for key in ["token", "servers", "theme"] {
        if let Some(value) = q
            .as_ref()
            .and_then(|q| q.get(key))
            .filter(|v| !v.is_empty())
        {
            add(key, &value);
        }
    }
    format!("/?{query}")
}

/// The floor's link to this page.
pub fn page_href(lang: Lang) -> String {
    let search = window().location().search().unwrap_or_default();
    passed_on(&search, &format!("view={VIEW}"), lang)
}

/// This page's link back to the floor.
fn board_href(lang: Lang) -> String {
    let search = window().location().search().unwrap_or_default();
    passed_on(&search, "", lang)
}

/// Whether the page's link asks for this page.
pub fn is_intervals_page() -> bool {
    let search = window().location().search().unwrap_or_default();
    UrlSearchParams::new_with_str(&search)
        .ok()
        .and_then(|q| q.get("view"))
        .is_some_and(|v| v == VIEW)
}

/// A scope's service-level target on the board (`all`: the centre's),
/// with the warn band; `None` where the board has none.
fn sl_target(live: Live, scope: &str) -> Option<(f64, f64)> {
    live.board.with(|b| {
        let b = b.as_ref()?;
        let windows = if scope == ALL {
            &b.totals
        } else {
            &b.queues.get(scope)?.windows
        };
        let target = windows
            .get(&Window::Today)
            .or_else(|| windows.values().next())?
            .get(KpiKey::ServiceLevel)?
            .target?;
        Some((target, b.warn_band))
    })
}

/// Why the report is not on screen.
#[derive(Debug, Clone, PartialEq)]
enum Trouble {
    /// The server (or the network) refused: its words (empty: no answer).
    Refused(crate::admin::Failure),
    /// The answer is not a report.
    Unreadable(String),
}

/// The interval report page.
#[component]
pub fn Intervals() -> impl IntoView {
    let mut params = Params::from_location();
    let search = window().location().search().unwrap_or_default();
    let q = UrlSearchParams::new_with_str(&search).ok();
    let get = |name: &str| q.as_ref().and_then(|q| q.get(name));
    let pick = |name: &str, from: &[&'static str], default: &'static str| {
        get(name)
            .and_then(|v| from.iter().copied().find(|s| *s == v))
            .unwrap_or(default)
    };
    let size = RwSignal::new(pick("size", &SIZES, "30m"));
    let day = RwSignal::new(pick("day", &DAYS, "today"));
    let scope = RwSignal::new(get("queue").filter(|q| !q.is_empty()).unwrap_or(ALL.into()));
    // The floor view: every queue's name and target.
    params.view = Ok(View::Floor);
    let live = Live::start();
    connection::connect(params.endpoints(), live);
    let lang = RwSignal::new(initial_lang(&params));
    keep_lang(lang, "intervals_title", true);
    if params.theme == Some(Theme::Light)
        && let Some(root) = document().document_element()
    {
        let _ = root.class_list().add_1(Theme::Light.class());
    }
    let token = StoredValue::new(params.token.clone());
    let report = RwSignal::new(None::<Report>);
    let trouble = RwSignal::new(None::<Trouble>);
    let busy = RwSignal::new(false);
    // When the report on screen was read (server time, ms).
    let read_at = RwSignal::new(None::<f64>);
    // Only the newest request's answer is shown.
    let asked = StoredValue::new(0_u64);
    let load = move || {
        asked.update_value(|n| *n += 1);
        let mine = asked.get_value();
        let url = report_url(size.get_untracked(), day.get_untracked(), false, None);
        busy.set(true);
        spawn_local(async move {
            let answer = crate::admin::call(token.get_value(), "GET", &url, None).await;
            if asked.get_value() != mine {
                return;
            }
            match answer
                .map_err(Trouble::Refused)
                .and_then(|a| parse_report(&a).map_err(Trouble::Unreadable))
            {
                Ok(r) => {
                    report.set(Some(r));
                    trouble.set(None);
                    read_at.set(Some(js_sys::Date::now() + live.skew_ms.get_untracked()));
                }
                Err(t) => trouble.set(Some(t)),
            }
            busy.set(false);
        });
    };
    Effect::new(move |first: Option<()>| {
        size.track();
        day.track();
        // Another size or day: not the last one's rows under its buttons.
        if first.is_some() {
            report.set(None);
            trouble.set(None);
        }
        load();
    });
    set_interval(load, REFRESH);
    // A queue the report no longer has: the centre's.
    Effect::new(move |_| {
        let gone = report.with(|r| {
            r.as_ref()
                .is_some_and(|r| !r.scopes.contains_key(&scope.get()))
        });
        if gone && scope.get_untracked() != ALL {
            scope.set(ALL.to_string());
        }
    });
    let t = move |key: &'static str| move || lang.get().t(key);
    let toggle = move |group: &'static str, value: &'static str, chosen: RwSignal<&'static str>| {
        view! {
            <button
                type="button"
                id=format!("interval-{group}-{value}")
                class="toggle-button"
                data-value=value
                class:active=move || chosen.get() == value
                aria-pressed=move || if chosen.get() == value { "true" } else { "false" }
                on:click=move |_| chosen.set(value)
            >
                {move || lang.get().t(value)}
            </button>
        }
    };
    // The scopes to choose from, with their names: the centre, then the
    // report's queues in the board's order (what the board changes each
    // second changes none of it, so the list is not rebuilt).
    let choices = Memo::new(move |_| {
        let lang = lang.get();
        let mut ids: Vec<String> = report.with(|r| {
            r.as_ref()
                .map(|r| r.scopes.keys().filter(|k| *k != ALL).cloned().collect())
                .unwrap_or_default()
        });
        let chosen = scope.get();
        if chosen != ALL && !ids.contains(&chosen) {
            ids.push(chosen);
        }
        live.board.with(|b| {
            let order = |id: &String| {
                b.as_ref()
                    .and_then(|b| b.queues.get(id).map(|q| stable_order(id, q)))
                    .unwrap_or((u32::MAX, id.clone()))
            };
            ids.sort_by_key(order);
            let name = |id: &String| {
                b.as_ref()
                    .and_then(|b| b.queues.get(id).map(|q| queue_name(q, lang)))
                    .unwrap_or_else(|| id.clone())
            };
            std::iter::once((ALL.to_string(), lang.t("all_queues").to_string()))
                .chain(ids.iter().map(|id| (id.clone(), name(id))))
                .collect::<Vec<_>>()
        })
    });
    let options = move || {
        let chosen = scope.get();
        choices
            .get()
            .into_iter()
            .map(|(id, label)| {
                let selected = id == chosen;
                view! { <option value=id prop:selected=selected>{label}</option> }
            })
            .collect::<Vec<_>>()
    };
    let target = Memo::new(move |_| sl_target(live, &scope.get()));
    let csv = move || report_url(size.get(), day.get(), true, token.get_value().as_deref());
    let trouble_text = move || {
        let lang = lang.get();
        trouble.get().map(|t| {
            let why = match t {
                Trouble::Refused(f) => f.text(lang),
                Trouble::Unreadable(e) => format!("{} ({e})", lang.t("intervals_unreadable")),
            };
            let previous = report
                .with(Option::is_some)
                .then(|| format!(" · {}", lang.t("showing_previous")));
            view! {
                <p class="interval-error" role="alert">
                    <span aria-hidden="true">"⚠ "</span>
                    {lang.t("intervals_error")}
                    {why}
                    {previous}
                </p>
            }
        })
    };
    let meta = move || {
        let lang = lang.get();
        report.with(|r| {
            let r = r.as_ref()?;
            let at = read_at
                .get()
                .map(|ms| clock_text(ms, Some(r.timezone.clone()), lang))
                .unwrap_or_default();
            Some(format!(
                "{} · {} · {} {at}",
                r.day,
                r.timezone,
                lang.t("updated_at")
            ))
        })
    };
    let table = move || {
        let lang = lang.get();
        let chosen = scope.get();
        let target = target.get();
        let scope_name = choices.with(|c| {
            c.iter()
                .find(|(id, _)| *id == chosen)
                .map_or_else(|| chosen.clone(), |(_, name)| name.clone())
        });
        report.with(|r| {
            let r = r.as_ref()?;
            let rows = r.scopes.get(&chosen)?;
            let definition = r.definitions.get(&chosen).copied();
            let caption = format!(
                "{scope_name} · {} · {}",
                r.day,
                lang.t(if r.size == "15m" { "15m" } else { "30m" })
            );
            let body = rows
                .iter()
                .map(|row| {
                    let status = target.map(|(t, band)| {
                        wallboard_protocol::status(
                            KpiKey::ServiceLevel.direction(),
                            row.service_level,
                            Some(t),
                            band,
                        )
                    });
                    let sl_icon = status
                        .filter(|s| *s != Status::None)
                        .map(|s| view! { <span class="icon">{status_icon(s)}</span> " " });
                    let asa = row.asa_seconds.map_or_else(
                        || "—".to_string(),
                        |s| format!("{:.0} {}", s.round(), lang.t("unit_seconds")),
                    );
                    view! {
                        <tr data-start=row.start.clone() data-end=row.end.clone()>
                            <th scope="row" class="interval-time">{format!("{}–{}", row.start, row.end)}</th>
                            <td class="offered">{row.offered}</td>
                            <td class="answered">{row.answered}</td>
                            <td class="abandoned">{row.abandoned}</td>
                            <td
                                class="kpi service-level"
                                data-status=status.map(status_name)
                                title=status.filter(|s| *s != Status::None).map(|s| lang.t(status_name(s)))
                            >
                                {sl_icon}
                                {percent(row.service_level)}
                            </td>
                            <td class="asa">{asa}</td>
                            <td class="aht">{row.aht_seconds.map_or_else(|| "—".to_string(), duration)}</td>
                        </tr>
                    }
                })
                .collect::<Vec<_>>();
            let empty = rows.is_empty().then(|| {
                view! { <p class="empty no-intervals">{lang.t("no_intervals")}</p> }
            });
            let of_target = target.map(|(t, _)| {
                view! {
                    <span class="of-target">
                        {format!("{} {}", lang.t("target"), kpi_value(KpiKey::ServiceLevel, Some(t)))}
                    </span>
                }
            });
            Some(view! {
                <table class="intervals" data-scope=chosen.clone() data-size=r.size.clone() data-day=r.day_of.clone()>
                    <caption>{caption}</caption>
                    <thead>
                        <tr>
                            <th scope="col">{lang.t("interval")}</th>
                            <th scope="col">{lang.t("iv_offered")}</th>
                            <th scope="col">{lang.t("iv_answered")}</th>
                            <th scope="col">{lang.t("iv_abandoned")}</th>
                            <th scope="col">
                                {lang.t("service_level")}
                                {sl_definition_tag(definition, lang)}
                                {of_target}
                            </th>
                            <th scope="col">{lang.t("iv_asa")}</th>
                            <th scope="col">{lang.t("iv_aht")}</th>
                        </tr>
                    </thead>
                    <tbody>{body}</tbody>
                </table>
                {empty}
            })
        })
    };
    let loading = move || {
        (report.with(Option::is_none) && trouble.with(Option::is_none))
            .then(|| view! { <p class="loading">{move || lang.get().t("loading")}</p> })
    };
    view! {
        <main class="intervals-page" aria-busy=move || if busy.get() { "true" } else { "false" }>
            <header class="intervals-header">
                <h1>{t("intervals_title")}</h1>
                <a class="back" id="intervals-back" href=move || board_href(lang.get())>
                    {t("back_to_board")}
                </a>
                <button
                    type="button"
                    class="lang"
                    id="intervals-lang"
                    on:click=move |_| lang.update(|l| *l = l.other())
                >
                    {move || if lang.get() == Lang::Zh { "English" } else { "中文" }}
                </button>
            </header>
            <div class="interval-controls">
                <div class="toggle" role="group" aria-labelledby="interval-size-label" data-group="size">
                    <span class="toggle-label" id="interval-size-label">{t("interval_size")}</span>
                    {SIZES.map(|s| toggle("size", s, size)).collect_view()}
                </div>
                <div class="toggle" role="group" aria-labelledby="interval-day-label" data-group="day">
                    <span class="toggle-label" id="interval-day-label">{t("day")}</span>
                    {DAYS.map(|d| toggle("day", d, day)).collect_view()}
                </div>
                <div class="interval-scope">
                    <label for="interval-queue">{t("queue")}</label>
                    <select id="interval-queue" name="queue" on:change=move |ev| scope.set(event_target_value(&ev))>
                        {options}
                    </select>
                </div>
                <a id="interval-csv" class="csv" href=csv download="">
                    {t("download_csv")}
                </a>
            </div>
            {trouble_text}
            {loading}
            <p class="interval-meta">{meta}</p>
            {table}
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_interval_reads_as_the_centre_wrote_it() {
        assert_eq!(hh_mm("2026-11-24T00:00:00+08:00").as_deref(), Some("00:00"));
        assert_eq!(hh_mm("2026-11-24T23:30:00-05:00").as_deref(), Some("23:30"));
        assert_eq!(hh_mm("2026-11-24T8:30"), None);
        assert_eq!(hh_mm("08:30"), None);
        assert_eq!(hh_mm("2026-11-24T"), None);
    }

    #[test]
    fn a_report_keeps_its_scopes_and_nulls() {
        let answer = json!({
            "day": "2026-11-24", "timezone": "Asia/Shanghai", "size": "30m", "day_of": "today",
            "definitions": {"all": "hotline", "billing": "connect"},
            "queues": {
                "all": [{"start": "2026-11-24T00:00:00+08:00", "end": "2026-11-24T00:30:00+08:00",
                         "offered": 4, "answered": 3, "answered_in_sl": 2, "abandoned": 1,
                         "short_abandoned": 0, "callbacks": 0, "service_level": 0.5,
                         "asa_seconds": 15.0, "aht_seconds": 540.0}],
                "billing": [{"start": "2026-11-24T00:00:00+08:00", "end": "2026-11-24T00:30:00+08:00",
                             "offered": 0, "answered": 0, "answered_in_sl": 0, "abandoned": 0,
                             "short_abandoned": 0, "callbacks": 0, "service_level": null,
                             "asa_seconds": null, "aht_seconds": null}]
            }
        });
        let r = parse_report(&answer).unwrap();
        assert_eq!((r.day.as_str(), r.size.as_str()), ("2026-11-24", "30m"));
        assert_eq!(
            r.definitions.get("billing"),
            Some(&ServiceLevelDefinition::Connect)
        );
        let all = &r.scopes["all"][0];
        assert_eq!((all.start.as_str(), all.end.as_str()), ("00:00", "00:30"));
        assert_eq!((all.offered, all.answered, all.abandoned), (4, 3, 1));
        assert_eq!(all.service_level, Some(0.5));
        assert_eq!(all.aht_seconds, Some(540.0));
        let billing = &r.scopes["billing"][0];
        assert_eq!(
            (
                billing.service_level,
                billing.asa_seconds,
                billing.aht_seconds
            ),
            (None, None, None)
        );
        assert!(parse_report(&json!({"error": "nope"})).is_err());
        let bad = json!({"queues": {"all": [{"start": "midnight", "end": "x"}]}});
        assert!(
            parse_report(&bad)
                .unwrap_err()
                .contains("queues.all[0].start")
        );
    }
}
