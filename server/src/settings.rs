//! Live settings: the part of the config a supervisor changes without a
//! restart (DESIGN.md "Settings, messages and layouts").
//!
//! The config file stays the base. The live overrides are a JSON document
//! in the SETTINGS shape holding only what was changed; an RFC 7386 merge
//! patch moves them (a `null` removes an override: that value is the
//! file's again), and [`apply`] lays them over the file's config with the
//! file's own rules and messages ([`crate::config`]'s checks), naming the
//! settings path on error. Nothing here touches the aggregate: the change
//! travels as a journaled event and the aggregator swaps its config at it.
//!
//! SETTINGS = `{"targets": {KPI: v}, "vip_targets": {KPI: v}, "warn_band",
//! "service_level_seconds", "service_level_definition",
//! "short_abandon_seconds", "queues": {ID: {"names": {"zh","en"}, "vip",
//! "targets", "vip_targets", "service_level_seconds",
//! "service_level_definition", "short_abandon_seconds"}}, "complaint_grades":
//! {GRADE: {"due_hours"}}}`.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use wallboard_protocol::{KpiKey, REGISTRY};

use crate::config::{
    Config, ConfigError, QueueConfig, Targets, channel, complaint_deadline, invalid, seconds,
    service_level_definition, warn_band,
};

/// The overrides as written: every field optional, nothing unknown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsDoc {
    #[serde(default)]
    targets: BTreeMap<String, f64>,
    #[serde(default)]
    vip_targets: BTreeMap<String, f64>,
    warn_band: Option<f64>,
    service_level_seconds: Option<f64>,
    service_level_definition: Option<String>,
    short_abandon_seconds: Option<f64>,
    #[serde(default)]
    channels: BTreeMap<String, ChannelDoc>,
    #[serde(default)]
    queues: BTreeMap<String, QueueDoc>,
    #[serde(default)]
    complaint_grades: BTreeMap<String, GradeDoc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueDoc {
    names: Option<NamesDoc>,
    vip: Option<bool>,
    #[serde(default)]
    targets: BTreeMap<String, f64>,
    #[serde(default)]
    vip_targets: BTreeMap<String, f64>,
    service_level_seconds: Option<f64>,
    service_level_definition: Option<String>,
    short_abandon_seconds: Option<f64>,
    #[serde(default)]
    channels: BTreeMap<String, ChannelDoc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelDoc {
    service_level_seconds: Option<f64>,
}

/// Channel thresholds from a `channels` table at `at` over `into`.
fn channel_overlay(
    into: &mut BTreeMap<wallboard_protocol::Channel, SignedDuration>,
    at: &str,
    docs: &BTreeMap<String, ChannelDoc>,
) -> Result<(), ConfigError> {
    for (name, doc) in docs {
        let ch = channel(&format!("{at}.{name}"), name)?;
        if let Some(v) = doc.service_level_seconds {
            into.insert(
                ch,
                seconds(&format!("{at}.{name}.service_level_seconds"), v)?,
            );
        }
    }
    Ok(())
}

/// A channel-threshold table as SETTINGS writes it.
fn channels_json(thresholds: &BTreeMap<wallboard_protocol::Channel, SignedDuration>) -> Value {
    thresholds
        .iter()
        .map(|(ch, d)| {
            (
                ch.as_str().to_string(),
                json!({"service_level_seconds": d.as_secs_f64()}),
            )
        })
        .collect::<Map<String, Value>>()
        .into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamesDoc {
    zh: Option<String>,
    en: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GradeDoc {
    due_hours: f64,
}

/// The longest display name a setting may give a queue, in characters.
const MAX_NAME_CHARS: usize = 128;

/// Reads a SETTINGS-shaped document, naming the path of a wrong type or an
/// unknown field.
fn read(doc: &Value) -> Result<SettingsDoc, ConfigError> {
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let reason = e.inner().to_string();
        // An unknown field's path ends with the field itself.
        let field = if path == "." || path.is_empty() {
            "settings".to_string()
        } else {
            path
        };
        invalid(field, reason)
    })
}

/// The KPI a `targets` (or, `vip`, `vip_targets`) key names.
fn target_key(at: &str, name: &str, vip: bool) -> Result<KpiKey, ConfigError> {
    match KpiKey::parse(name) {
        Some(key) if !vip || key.has_own_vip_target() => Ok(key),
        _ => {
            let known: Vec<&str> = REGISTRY
                .iter()
                .filter(|s| !vip || s.key.has_own_vip_target())
                .map(|s| s.name)
                .collect();
            Err(invalid(
                format!("{at}.{name}"),
                format!(
                    "not a KPI with {}; known: {}",
                    if vip { "a VIP target" } else { "a target" },
                    known.join(", ")
                ),
            ))
        }
    }
}

/// `targets` with the `targets` and `vip_targets` tables at `at` over them.
fn overlay(
    mut targets: Targets,
    at: &str,
    ordinary: &BTreeMap<String, f64>,
    vip: &BTreeMap<String, f64>,
) -> Result<Targets, ConfigError> {
    for (table, is_vip) in [(ordinary, false), (vip, true)] {
        let at = format!("{at}{}", if is_vip { "vip_targets" } else { "targets" });
        for (name, &value) in table {
            let key = target_key(&at, name, is_vip)?;
            targets.set(&format!("{at}.{name}"), key, is_vip, value)?;
        }
    }
    Ok(targets)
}

/// Checks a patch's own shape: every key a SETTINGS path (a `null` may
/// reset any of them, a leaf or a whole part), so nothing unknown — and
/// nothing nested deeper than the settings are — is journaled, even where
/// the merge would leave no trace of it.
pub fn check_patch(patch: &Value) -> Result<(), ConfigError> {
    /// What may sit under a key: a number, a bool, a string, or a table
    /// whose keys are free (`Map`) or fixed (`Keys`).
    #[derive(Clone, Copy)]
    enum Shape {
        Number,
        Bool,
        Text,
        Map(&'static Shape),
        Keys(&'static [(&'static str, Shape)]),
    }
    const TARGETS: Shape = Shape::Map(&Shape::Number);
    const CHANNELS: Shape = Shape::Map(&Shape::Keys(&[("service_level_seconds", Shape::Number)]));
    const QUEUE: Shape = Shape::Keys(&[
        (
            "names",
            Shape::Keys(&[("zh", Shape::Text), ("en", Shape::Text)]),
        ),
        ("vip", Shape::Bool),
        ("targets", TARGETS),
        ("vip_targets", TARGETS),
        ("service_level_seconds", Shape::Number),
        ("service_level_definition", Shape::Text),
        ("short_abandon_seconds", Shape::Number),
        ("channels", CHANNELS),
    ]);
    const SETTINGS: Shape = Shape::Keys(&[
        ("targets", TARGETS),
        ("vip_targets", TARGETS),
        ("warn_band", Shape::Number),
        ("service_level_seconds", Shape::Number),
        ("service_level_definition", Shape::Text),
        ("short_abandon_seconds", Shape::Number),
        ("channels", CHANNELS),
        ("queues", Shape::Map(&QUEUE)),
        (
            "complaint_grades",
            Shape::Map(&Shape::Keys(&[("due_hours", Shape::Number)])),
        ),
    ]);
    fn walk(value: &Value, shape: Shape, path: &str) -> Result<(), ConfigError> {
        let at = |key: &str| {
            if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            }
        };
        let named = if path.is_empty() { "settings" } else { path };
        match (value, shape) {
            (Value::Null, _) if !path.is_empty() => Ok(()),
            (Value::Number(_), Shape::Number)
            | (Value::Bool(_), Shape::Bool)
            | (Value::String(_), Shape::Text) => Ok(()),
            (Value::Object(map), Shape::Map(inner)) => {
                map.iter().try_for_each(|(k, v)| walk(v, *inner, &at(k)))
            }
            (Value::Object(map), Shape::Keys(keys)) => {
                map.iter()
                    .try_for_each(|(k, v)| match keys.iter().find(|(name, _)| name == k) {
                        Some((_, inner)) => walk(v, *inner, &at(k)),
                        None => Err(invalid(
                            at(k),
                            format!(
                                "unknown field `{k}`, expected one of {}",
                                keys.iter()
                                    .map(|(n, _)| format!("`{n}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )),
                    })
            }
            (_, Shape::Map(_) | Shape::Keys(_)) if path.is_empty() => Err(invalid(
                named,
                "a settings change is a JSON object (an RFC 7386 merge patch of the settings)",
            )),
            (other, shape) => Err(invalid(
                named,
                format!(
                    "invalid type: {}, expected {}",
                    match other {
                        Value::Null => "null",
                        Value::Bool(_) => "a boolean",
                        Value::Number(_) => "a number",
                        Value::String(_) => "a string",
                        Value::Array(_) => "an array",
                        Value::Object(_) => "an object",
                    },
                    match shape {
                        Shape::Number => "a number",
                        Shape::Bool => "a boolean",
                        Shape::Text => "a string",
                        Shape::Map(_) | Shape::Keys(_) => "an object",
                    }
                ),
            )),
        }
    }
    walk(patch, SETTINGS, "")
}

/// The live part of `new` (a file read again) over `old`: what a reload
/// changes; everything else stays as the server started until a restart.
pub fn live_part(old: &Config, new: &Config) -> Config {
    let mut config = old.clone();
    config.targets = new.targets;
    config.warn_band = new.warn_band;
    config.service_level_threshold = new.service_level_threshold;
    config.service_level_definition = new.service_level_definition;
    config.channel_thresholds = new.channel_thresholds.clone();
    config.short_abandon = new.short_abandon;
    config.queues = new.queues.clone();
    config.complaint_grades = new.complaint_grades.clone();
    config.state_limits = new.state_limits.clone();
    config
}

/// The file's config (`base`) with the live `overrides` over it, checked by
/// the file's rules; the error names the settings path.
pub fn apply(base: &Config, overrides: &Value) -> Result<Config, ConfigError> {
    let doc = read(overrides)?;
    let mut config = base.clone();
    config.targets = overlay(base.targets, "", &doc.targets, &doc.vip_targets)?;
    if let Some(v) = doc.warn_band {
        config.warn_band = warn_band("warn_band", v)?;
    }
    if let Some(v) = doc.service_level_seconds {
        config.service_level_threshold = seconds("service_level_seconds", v)?;
    }
    if let Some(v) = &doc.service_level_definition {
        config.service_level_definition = service_level_definition("service_level_definition", v)?;
    }
    if let Some(v) = doc.short_abandon_seconds {
        config.short_abandon = seconds("short_abandon_seconds", v)?;
    }
    channel_overlay(&mut config.channel_thresholds, "channels", &doc.channels)?;
    // Every queue's targets start from the (new) global ones, then the
    // file's own table, then the live one: a global change reaches the
    // queues that do not set that target themselves.
    let file_count = base.queues.len() as u32;
    for (id, queue) in config.queues.iter_mut() {
        let file_targets = &base.queues[id].file_targets;
        queue.targets = config
            .targets
            .overlay(&format!("queues.{id}.targets"), file_targets)?;
    }
    let new_queues = doc
        .queues
        .keys()
        .filter(|id| !config.queues.contains_key(*id))
        .count();
    if config.queues.len() + new_queues > base.limits.max_queues {
        return Err(invalid(
            "queues",
            format!(
                "more queues than limits.max_queues = {}",
                base.limits.max_queues
            ),
        ));
    }
    for (i, (id, q)) in doc.queues.iter().enumerate() {
        let at = format!("queues.{id}");
        if id.is_empty()
            || id.len() > wallboard_protocol::event::MAX_ID_BYTES
            || id == wallboard_protocol::event::ALL_QUEUES
        {
            return Err(invalid(at, "a queue id is 1..=128 bytes and not \"all\""));
        }
        let global = config.targets;
        let queue = config
            .queues
            .entry(id.clone())
            .or_insert_with(|| QueueConfig {
                name_zh: None,
                name_en: None,
                vip: None,
                service_level_threshold: None,
                service_level_definition: None,
                channel_thresholds: BTreeMap::new(),
                short_abandon: None,
                targets: global,
                file_targets: BTreeMap::new(),
                position: file_count + i as u32,
            });
        if let Some(names) = &q.names {
            for (lang, name, slot) in [
                ("zh", &names.zh, &mut queue.name_zh),
                ("en", &names.en, &mut queue.name_en),
            ] {
                if let Some(name) = name {
                    let chars = name.chars().count();
                    if name.trim().is_empty() || chars > MAX_NAME_CHARS {
                        return Err(invalid(
                            format!("{at}.names.{lang}"),
                            format!("a display name is 1..={MAX_NAME_CHARS} characters"),
                        ));
                    }
                    *slot = Some(name.clone());
                }
            }
        }
        if let Some(vip) = q.vip {
            queue.vip = Some(vip);
        }
        if let Some(v) = q.service_level_seconds {
            queue.service_level_threshold =
                Some(seconds(&format!("{at}.service_level_seconds"), v)?);
        }
        if let Some(v) = &q.service_level_definition {
            queue.service_level_definition = Some(service_level_definition(
                &format!("{at}.service_level_definition"),
                v,
            )?);
        }
        channel_overlay(
            &mut queue.channel_thresholds,
            &format!("{at}.channels"),
            &q.channels,
        )?;
        if let Some(v) = q.short_abandon_seconds {
            queue.short_abandon = Some(seconds(&format!("{at}.short_abandon_seconds"), v)?);
        }
        queue.targets = overlay(queue.targets, &format!("{at}."), &q.targets, &q.vip_targets)?;
    }
    for (grade, g) in &doc.complaint_grades {
        let at = format!("complaint_grades.{grade}.due_hours");
        if grade.is_empty() || grade.len() > wallboard_protocol::event::MAX_ID_BYTES {
            return Err(invalid(
                format!("complaint_grades.{grade}"),
                "a grade is 1..=128 bytes",
            ));
        }
        if !g.due_hours.is_finite() || g.due_hours > 24.0 * 366.0 {
            return Err(invalid(
                at,
                format!("{} is outside 0..=8784 hours", g.due_hours),
            ));
        }
        let deadline = complaint_deadline(
            &at,
            SignedDuration::from_secs_f64(g.due_hours.max(0.0) * 3600.0),
        )?;
        config.complaint_grades.insert(grade.clone(), deadline);
    }
    Ok(config)
}

/// A targets table as SETTINGS writes it (the KPIs that have a target).
fn targets_json(targets: &Targets) -> (Value, Value) {
    let mut ordinary = Map::new();
    let mut vip = Map::new();
    for spec in REGISTRY.iter() {
        if let Some(v) = targets.ordinary(spec.key) {
            ordinary.insert(spec.name.into(), json!(v));
        }
        if spec.key.has_own_vip_target()
            && let Some(v) = targets.vip(spec.key)
        {
            vip.insert(spec.name.into(), json!(v));
        }
    }
    (Value::Object(ordinary), Value::Object(vip))
}

/// The SETTINGS a config runs with (every live value, the file's where not
/// overridden).
pub fn effective(config: &Config) -> Value {
    let (targets, vip_targets) = targets_json(&config.targets);
    let queues: Map<String, Value> = config
        .queues
        .iter()
        .map(|(id, q)| {
            let (targets, vip_targets) = targets_json(&q.targets);
            let mut names = Map::new();
            if let Some(zh) = &q.name_zh {
                names.insert("zh".into(), json!(zh));
            }
            if let Some(en) = &q.name_en {
                names.insert("en".into(), json!(en));
            }
            let mut row = json!({
                "names": names,
                "targets": targets,
                "vip_targets": vip_targets,
                "service_level_seconds": config.service_level_threshold(id).as_secs_f64(),
                "short_abandon_seconds": config.short_abandon(id).as_secs_f64(),
                "service_level_definition": config.service_level_definition(id).as_str(),
                "channels": channels_json(&q.channel_thresholds),
            });
            if let Some(vip) = q.vip {
                row["vip"] = json!(vip);
            }
            (id.clone(), row)
        })
        .collect();
    let grades: Map<String, Value> = config
        .complaint_grades
        .iter()
        .map(|(g, d)| (g.clone(), json!({"due_hours": d.as_secs_f64() / 3600.0})))
        .collect();
    json!({
        "targets": targets,
        "vip_targets": vip_targets,
        "warn_band": config.warn_band,
        "service_level_seconds": config.service_level_threshold.as_secs_f64(),
        "short_abandon_seconds": config.short_abandon.as_secs_f64(),
        "service_level_definition": config.service_level_definition.as_str(),
        "channels": channels_json(&config.channel_thresholds),
        "queues": queues,
        "complaint_grades": grades,
    })
}

/// The overrides after `patch` (RFC 7386): a `null` removes an override,
/// and objects left empty go too.
pub fn merge(overrides: &Value, patch: &Value) -> Value {
    let mut next = overrides.clone();
    if !next.is_object() {
        next = Value::Object(Map::new());
    }
    json_patch::merge(&mut next, patch);
    prune(&mut next);
    if !next.is_object() {
        next = Value::Object(Map::new());
    }
    next
}

fn prune(value: &mut Value) {
    if let Value::Object(map) = value {
        for v in map.values_mut() {
            prune(v);
        }
        map.retain(|_, v| !matches!(v, Value::Object(m) if m.is_empty()) && !v.is_null());
    }
}

/// Each value a patch sets or resets, as `(path, old, new)` between two
/// effective SETTINGS. A queue the settings do not list runs with the
/// global value: that is its old (or, once reset, new) value.
pub fn changes(patch: &Value, old: &Value, new: &Value) -> Vec<(String, Value, Value)> {
    fn walk(patch: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match patch {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    path.push(k.clone());
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => out.push(path.clone()),
        }
    }
    let mut leaves = Vec::new();
    walk(patch, &mut Vec::new(), &mut leaves);
    leaves
        .into_iter()
        .filter_map(|path| {
            let (old, new) = (in_effect(old, &path), in_effect(new, &path));
            (old != new).then(|| (path.join("."), old, new))
        })
        .collect()
}

/// The value at `path` of effective SETTINGS; for a queue's own value
/// that is not there, the global one it inherits.
fn in_effect(settings: &Value, path: &[String]) -> Value {
    let at = |path: &[String]| path.iter().try_fold(settings, |v, k| v.get(k)).cloned();
    match at(path) {
        Some(v) => v,
        None if path.len() > 2 && path[0] == "queues" && path[2] != "names" && path[2] != "vip" => {
            at(&path[2..]).unwrap_or(Value::Null)
        }
        None => Value::Null,
    }
}

/// What differs between two configs that only a restart applies.
pub fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut differs = |name: &'static str, a: String, b: String| {
        if a != b {
            out.push(name);
        }
    };
    differs(
        "timezone",
        old.timezone_name.clone(),
        new.timezone_name.clone(),
    );
    differs("tick", format!("{:?}", old.tick), format!("{:?}", new.tick));
    differs(
        "max_future_skew_seconds",
        format!("{:?}", old.max_future_skew),
        format!("{:?}", new.max_future_skew),
    );
    differs(
        "dedupe_retention_hours",
        format!("{:?}", old.dedupe_retention),
        format!("{:?}", new.dedupe_retention),
    );
    differs(
        "journal_retention_days",
        old.journal_retention_days.to_string(),
        new.journal_retention_days.to_string(),
    );
    differs(
        "journal_commit_delay",
        format!("{:?}", old.journal_commit_delay),
        format!("{:?}", new.journal_commit_delay),
    );
    differs(
        "ws_drain_timeout",
        format!("{:?}", old.ws_drain_timeout),
        format!("{:?}", new.ws_drain_timeout),
    );
    differs(
        "ws_ping_interval",
        format!("{:?}", old.ws_ping_interval),
        format!("{:?}", new.ws_ping_interval),
    );
    differs(
        "sources",
        format!("{:?}", old.sources),
        format!("{:?}", new.sources),
    );
    differs("auth", format!("{:?}", old.auth), format!("{:?}", new.auth));
    differs(
        "limits",
        format!("{:?}", old.limits),
        format!("{:?}", new.limits),
    );
    differs(
        "cluster",
        format!("{:?}", old.cluster),
        format!("{:?}", new.cluster),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        Config::from_toml(
            r#"
            timezone = "Asia/Shanghai"
            [targets]
            service_level = 0.8
            [[queues]]
            id = "vip"
            name_zh = "贵宾"
            vip = true
            [queues.targets]
            abandon_rate = 0.03
            "#,
        )
        .unwrap()
    }

    fn key_of(e: ConfigError) -> (String, String) {
        match e {
            ConfigError::Invalid { key, reason } => (key, reason),
            other => panic!("not Invalid: {other:?}"),
        }
    }

    #[test]
    fn overrides_lay_over_the_file_and_reach_the_queues_that_inherit() {
        let base = base();
        let live = apply(
            &base,
            &json!({"targets": {"service_level": 0.9, "abandon_rate": 0.1},
                    "vip_targets": {"agent_connect_rate": 0.95},
                    "service_level_definition": "answered_only",
                    "queues": {"vip": {"names": {"en": "VIP"}, "service_level_seconds": 10,
                                       "service_level_definition": "connect"},
                               "new": {"vip": false, "targets": {"asa_seconds": 15}}},
                    "complaint_grades": {"urgent": {"due_hours": 1}}}),
        )
        .unwrap();
        assert_eq!(live.targets.get(KpiKey::ServiceLevel, false), Some(0.9));
        let vip = &live.queues["vip"];
        assert_eq!(vip.targets.get(KpiKey::ServiceLevel, true), Some(0.9));
        assert_eq!(
            vip.targets.get(KpiKey::AbandonRate, true),
            Some(0.03),
            "the file's queue table stays over the new global target"
        );
        assert_eq!(vip.targets.get(KpiKey::AgentConnectRate, true), Some(0.95));
        assert_eq!(vip.name_zh.as_deref(), Some("贵宾"));
        assert_eq!(vip.name_en.as_deref(), Some("VIP"));
        assert_eq!(
            live.service_level_threshold("vip"),
            SignedDuration::from_secs(10)
        );
        assert_eq!(
            live.service_level_threshold("other"),
            SignedDuration::from_secs(20)
        );
        use wallboard_protocol::ServiceLevelDefinition as D;
        assert_eq!(base.service_level_definition("vip"), D::Hotline);
        assert_eq!(live.service_level_definition("vip"), D::Connect);
        assert_eq!(
            live.service_level_definition("other"),
            D::AnsweredOnly,
            "a queue without its own takes the live default"
        );
        let new = &live.queues["new"];
        assert_eq!(new.vip, Some(false));
        assert_eq!(new.position, 1);
        assert_eq!(new.targets.get(KpiKey::AsaSeconds, false), Some(15.0));
        assert_eq!(
            live.complaint_grades["urgent"],
            SignedDuration::from_hours(1)
        );
        assert_eq!(
            live.complaint_grades["normal"],
            SignedDuration::from_hours(24)
        );
        assert_eq!(apply(&base, &json!({})).unwrap().targets, base.targets);
        let shown = effective(&live);
        assert_eq!(shown["queues"]["vip"]["service_level_seconds"], json!(10.0));
        assert_eq!(shown["queues"]["vip"]["vip"], json!(true));
        assert_eq!(
            shown["queues"]["vip"]["service_level_definition"],
            json!("connect")
        );
        assert_eq!(
            shown["queues"]["new"]["service_level_definition"],
            json!("answered_only")
        );
        assert_eq!(shown["service_level_definition"], json!("answered_only"));
        assert_eq!(shown["complaint_grades"]["urgent"]["due_hours"], json!(1.0));
        assert_eq!(shown["vip_targets"]["agent_connect_rate"], json!(0.95));
    }

    #[test]
    fn a_bad_override_names_its_settings_path_with_the_files_rule() {
        let base = base();
        let cases = [
            (
                json!({"targets": {"service_level": 1.5}}),
                "targets.service_level",
                "0..=1",
            ),
            (
                json!({"targets": {"service_level": "high"}}),
                "targets.service_level",
                "invalid type",
            ),
            (json!({"targets": {"nope": 1}}), "targets.nope", "not a KPI"),
            (
                json!({"vip_targets": {"satisfaction": 90}}),
                "vip_targets.satisfaction",
                "VIP target",
            ),
            (json!({"colour": "red"}), "colour", "unknown field"),
            (
                json!({"queues": {"vip": {"colour": 1}}}),
                "queues.vip.colour",
                "unknown field",
            ),
            (json!({"warn_band": 2}), "warn_band", "outside 0..1"),
            (
                json!({"queues": {"vip": {"service_level_seconds": -1}}}),
                "queues.vip.service_level_seconds",
                "outside",
            ),
            (
                json!({"queues": {"all": {"vip": true}}}),
                "queues.all",
                "\"all\"",
            ),
            (
                json!({"complaint_grades": {"urgent": {"due_hours": 0}}}),
                "complaint_grades.urgent.due_hours",
                "positive",
            ),
            (
                json!({"queues": {"vip": {"names": {"zh": ""}}}}),
                "queues.vip.names.zh",
                "display name",
            ),
            (
                json!({"queues": {"vip": {"service_level_definition": "fast"}}}),
                "queues.vip.service_level_definition",
                "known: hotline, answered_only, abandons_in_threshold_met, connect",
            ),
            (
                json!({"service_level_definition": 3}),
                "service_level_definition",
                "invalid type",
            ),
            (
                json!({"queues": {"vip": {"channels": {"chat": {"service_level_seconds": -5}}}}}),
                "queues.vip.channels.chat.service_level_seconds",
                "outside",
            ),
            (
                json!({"channels": {"voice": {"service_level_seconds": 30}}}),
                "channels.voice",
                "service_level_seconds",
            ),
        ];
        let mut checked = 0;
        for (overrides, want_key, want_words) in cases {
            let (key, reason) = key_of(apply(&base, &overrides).unwrap_err());
            assert_eq!(key, want_key, "{overrides}: {reason}");
            assert!(reason.contains(want_words), "{overrides}: {reason}");
            checked += 1;
        }
        assert_eq!(checked, 15);
    }

    #[test]
    fn a_null_resets_to_the_file_and_empty_objects_go() {
        let ov = merge(
            &json!({}),
            &json!({"targets": {"service_level": 0.9}, "queues": {"vip": {"vip": false}}}),
        );
        assert_eq!(
            ov,
            json!({"targets": {"service_level": 0.9}, "queues": {"vip": {"vip": false}}})
        );
        let back = merge(&ov, &json!({"queues": {"vip": {"vip": null}}}));
        assert_eq!(back, json!({"targets": {"service_level": 0.9}}));
        let base = base();
        let old = effective(&apply(&base, &ov).unwrap());
        let new = effective(&apply(&base, &back).unwrap());
        assert_eq!(
            changes(&json!({"queues": {"vip": {"vip": null}}}), &old, &new),
            vec![("queues.vip.vip".to_string(), json!(false), json!(true))]
        );
        assert!(
            changes(&json!({"targets": {"service_level": 0.9}}), &old, &new).is_empty(),
            "a value set to what it was is no change"
        );
    }

    #[test]
    fn a_patch_names_anything_unknown_even_where_it_resets_nothing() {
        let cases = [
            (json!({"colour": null}), "colour"),
            (
                json!({"queues": {"q1": {"colour": null}}}),
                "queues.q1.colour",
            ),
            (
                json!({"targets": {"service_level": "x"}}),
                "targets.service_level",
            ),
            (
                json!({"queues": {"q1": {"names": {"zh": {"a": null}}}}}),
                "queues.q1.names.zh",
            ),
            (json!([1]), "settings"),
            (json!(null), "settings"),
        ];
        for (patch, want) in &cases {
            let (key, reason) = key_of(check_patch(patch).unwrap_err());
            assert_eq!(&key, want, "{patch}: {reason}");
        }
        let mut deep = json!(null);
        for _ in 0..120 {
            deep = json!({ "a": deep });
        }
        assert_eq!(key_of(check_patch(&deep).unwrap_err()).0, "a");
        for ok in [
            json!({"queues": {"q1": null}}),
            json!({"targets": null, "warn_band": null}),
            json!({"queues": {"q1": {"names": {"zh": "话费"}, "targets": {"service_level": 0.7}}},
                   "complaint_grades": {"urgent": {"due_hours": 1}}}),
        ] {
            assert!(check_patch(&ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_restart_is_named_for_what_cannot_change_live() {
        let old = base();
        let new = Config::from_toml(
            "timezone = \"Asia/Shanghai\"\ntick = \"200ms\"\n[targets]\nservice_level = 0.7",
        )
        .unwrap();
        assert_eq!(needs_restart(&old, &new), vec!["tick"]);
        assert!(needs_restart(&old, &old).is_empty());
    }
}
