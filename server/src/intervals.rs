//! The interval report: today (or yesterday) by 15- or 30-minute interval
//! of the local day, per queue and in total —
//! `GET /api/v1/intervals?size=15m|30m&format=json|csv&day=today|yesterday`
//! (DESIGN.md "Definitions, channels and foresight").
//!
//! Rows are sums of the intervals the aggregator keeps (a queue's 15
//! minutes, the totals' single minutes) for the last two local days, with
//! each figure by the same formula the board uses (`kpi::value`; the
//! service level by the queue's definition). Intervals count from local
//! midnight, so a DST day has 23 or 25 hours of them.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use wallboard_protocol::{KpiKey, ServiceLevelDefinition, View};

use crate::aggregator::{Aggregator, Buckets, Counters, local_day, minute_of};
use crate::config::Config;
use crate::error::ApiError;
use crate::ingest::{Holder, Ingest};
use crate::{auth, kpi};

/// What the route reads: the state, and who may.
#[derive(Clone)]
pub struct Intervals {
    pub ingest: Ingest,
    pub config: Arc<Config>,
}

pub fn router(intervals: Intervals) -> Router {
    Router::new()
        .route("/api/v1/intervals", get(get_intervals))
        .with_state(intervals)
}

/// Which local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Today,
    Yesterday,
}

/// One queue's (or the totals') figures in one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The interval's bounds, in the centre's zone (its offset written).
    pub start: String,
    pub end: String,
    pub offered: u64,
    pub answered: u64,
    pub answered_in_sl: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub callbacks: u64,
    pub service_level: Option<f64>,
    pub asa_seconds: Option<f64>,
    pub aht_seconds: Option<f64>,
}

/// The report: rows per scope (`all` first, then each queue by id).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub day: String,
    pub timezone: String,
    pub size: String,
    pub day_of: Day,
    /// Each scope's service-level definition.
    pub definitions: std::collections::BTreeMap<String, ServiceLevelDefinition>,
    pub queues: std::collections::BTreeMap<String, Vec<Row>>,
}

/// The interval sizes offered, in minutes, by name.
const SIZES: [(&str, i64); 2] = [("15m", 15), ("30m", 30)];

/// What a report reads under the core lock: each scope's counts per
/// interval (sums of kept intervals), nothing formatted.
pub struct Counts {
    date: jiff::civil::Date,
    tz: jiff::tz::TimeZone,
    timezone: String,
    size: &'static str,
    day: Day,
    bounds: Vec<(Timestamp, Timestamp)>,
    /// `all` first, then each queue: its definition and its counts.
    scopes: Vec<(String, ServiceLevelDefinition, Vec<Counters>)>,
}

/// The counts of `day` (relative to `now`) in `size`-minute intervals:
/// every interval of a past day, today's up to the one holding `now`.
pub fn counts(agg: &Aggregator, now: Timestamp, day: Day, size: (&'static str, i64)) -> Counts {
    let config = agg.config();
    let tz = &config.timezone;
    let (today, today_start, tomorrow_start) = local_day(tz, now);
    let (date, start, end) = match day {
        Day::Today => (today, today_start, tomorrow_start),
        Day::Yesterday => local_day(tz, today_start - SignedDuration::from_millis(1)),
    };
    let len = SignedDuration::from_mins(size.1);
    let mut bounds = Vec::new();
    let mut from = start;
    while from < end && (day == Day::Yesterday || from <= now) {
        let to = from.checked_add(len).unwrap_or(end).min(end);
        bounds.push((from, to));
        from = to;
    }
    let sums = |b: &Buckets| -> Vec<Counters> {
        bounds
            .iter()
            .map(|&(from, to)| b.intervals_sum(minute_of(from), minute_of(to)))
            .collect()
    };
    let mut scopes = vec![(
        wallboard_protocol::event::ALL_QUEUES.to_string(),
        config.service_level_definition,
        sums(&agg.totals),
    )];
    for q in &agg.queues {
        scopes.push((
            q.id.clone(),
            config.service_level_definition(&q.id),
            sums(&q.buckets),
        ));
    }
    Counts {
        date,
        tz: tz.clone(),
        timezone: config.timezone_name.clone(),
        size: size.0,
        day,
        bounds,
        scopes,
    }
}

impl Counts {
    /// The report, by the board's formulas (outside the core lock): each
    /// interval's bounds formatted once.
    pub fn report(self) -> Report {
        let local = |t: Timestamp| {
            t.to_zoned(self.tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        };
        let bounds: Vec<(String, String)> = self
            .bounds
            .iter()
            .map(|&(a, b)| (local(a), local(b)))
            .collect();
        let mut queues = std::collections::BTreeMap::new();
        let mut definitions = std::collections::BTreeMap::new();
        for (id, definition, counts) in self.scopes {
            let rows = counts
                .iter()
                .zip(&bounds)
                .map(|(c, (from, to))| row(c, from.clone(), to.clone(), definition))
                .collect();
            queues.insert(id.clone(), rows);
            definitions.insert(id, definition);
        }
        Report {
            day: self.date.to_string(),
            timezone: self.timezone,
            size: self.size.to_string(),
            day_of: self.day,
            definitions,
            queues,
        }
    }
}

fn row(c: &Counters, start: String, end: String, definition: ServiceLevelDefinition) -> Row {
    Row {
        start,
        end,
        offered: c.offered,
        answered: c.answered,
        answered_in_sl: c.answered_in_sl,
        abandoned: c.abandoned,
        short_abandoned: c.short_abandoned,
        callbacks: c.callbacks,
        service_level: kpi::value(KpiKey::ServiceLevel, c, definition),
        asa_seconds: kpi::value(KpiKey::AsaSeconds, c, definition),
        aht_seconds: kpi::value(KpiKey::AhtSeconds, c, definition),
    }
}

/// The report as CSV: a header, then one line per scope and interval.
pub fn csv(report: &Report) -> String {
    let mut out = String::from(
        "queue,start,end,offered,answered,answered_in_sl,abandoned,short_abandoned,callbacks,service_level,asa_seconds,aht_seconds,definition\n",
    );
    let figure = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
    for (queue, rows) in &report.queues {
        let definition = report.definitions.get(queue).map(|d| d.as_str());
        for r in rows {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                csv_field(queue),
                r.start,
                r.end,
                r.offered,
                r.answered,
                r.answered_in_sl,
                r.abandoned,
                r.short_abandoned,
                r.callbacks,
                figure(r.service_level),
                figure(r.asa_seconds),
                figure(r.aht_seconds),
                definition.unwrap_or_default(),
            ));
        }
    }
    out
}

/// A CSV field, quoted when it must be (RFC 4180), and never read as a
/// formula by a spreadsheet (a queue id is a sender's free text).
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[derive(Debug, Deserialize)]
struct Params {
    size: Option<String>,
    format: Option<String>,
    day: Option<String>,
    token: Option<String>,
}

/// One of `allowed`, by name, or 400 naming the parameter.
fn choice<T: Copy>(
    field: &str,
    given: Option<&str>,
    default: T,
    allowed: &[(&str, T)],
) -> Result<T, ApiError> {
    let Some(given) = given else {
        return Ok(default);
    };
    allowed
        .iter()
        .find(|(name, _)| *name == given)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            ApiError::bad_request(format!(
                "{field}={given:?} is not one of {}",
                names.join(", ")
            ))
            .field(field)
        })
}

async fn get_intervals(
    State(intervals): State<Intervals>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Every queue's figures: whoever may see the floor.
    let auth = &intervals.config.auth;
    let access = auth.viewer(auth::presented(&headers, params.token.as_deref()))?;
    auth.view_for(access, Some(View::Floor))?;
    let sizes: Vec<(&str, (&'static str, i64))> = SIZES.iter().map(|&(n, m)| (n, (n, m))).collect();
    let size = choice("size", params.size.as_deref(), SIZES[1], &sizes)?;
    let csv_format = choice(
        "format",
        params.format.as_deref(),
        false,
        &[("json", false), ("csv", true)],
    )?;
    let day = choice(
        "day",
        params.day.as_deref(),
        Day::Today,
        &[("today", Day::Today), ("yesterday", Day::Yesterday)],
    )?;
    let now = intervals.ingest.clock().now();
    let counts = {
        let core = intervals.ingest.lock(Holder::Read);
        counts(&core.aggregator, now, day, size)
    };
    let report = counts.report();
    let no_store = (header::CACHE_CONTROL, "no-store");
    Ok(if csv_format {
        let name = format!(
            "attachment; filename=\"intervals-{}-{}.csv\"",
            report.day, report.size
        );
        (
            [no_store, (header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            [(header::CONTENT_DISPOSITION, name)],
            csv(&report),
        )
            .into_response()
    } else {
        ([no_store], axum::Json(report)).into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("billing"), "billing");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-1,2"), "\"'-1,2\"");
    }
}
