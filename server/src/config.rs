//! Configuration: a TOML file, typed and validated once at start.
//!
//! Everything has a default, so the server runs without a file. Defaults
//! are the China Unicom hotline service standards (DESIGN.md). Errors name
//! the key and say what is wrong; a bad config stops the server at start,
//! never later.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::SignedDuration;
use jiff::tz::TimeZone;
use serde::Deserialize;
use wallboard_protocol::{
    AgentState, Channel, DEFAULT_WARN_BAND, KpiKey, REGISTRY, ServiceLevelDefinition, VipTarget,
};

/// What is wrong with a config file. Every message names the key (or the
/// line and column) it is about.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key's value breaks its rule.
    #[error("`{key}`: {reason}")]
    Invalid { key: String, reason: String },
    /// Not TOML, or not a config's shape (an unknown key, a wrong type).
    #[error("{0}")]
    Syntax(#[from] toml::de::Error),
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("config {}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        source: Box<ConfigError>,
    },
}

pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub timezone: TimeZone,
    /// IANA name of `timezone`, shown on the board.
    pub timezone_name: String,
    pub tick: SignedDuration,
    pub short_abandon: SignedDuration,
    pub service_level_threshold: SignedDuration,
    /// How `service_level` is counted where a queue does not say, and for
    /// the totals.
    pub service_level_definition: ServiceLevelDefinition,
    /// Service-level thresholds by channel (`[channels.chat]`), over
    /// `service_level_threshold` for contacts on that channel.
    pub channel_thresholds: BTreeMap<Channel, SignedDuration>,
    /// Fraction of the target, on its bad side, that is `warn` not `breach`.
    pub warn_band: f64,
    /// Events stamped further than this in the future are rejected.
    pub max_future_skew: SignedDuration,
    /// How long an event id is remembered for dropping repeats.
    pub dedupe_retention: SignedDuration,
    /// Days of journal segments kept, today's included.
    pub journal_retention_days: u32,
    /// How long a journal sync waits for more batches to share it.
    pub journal_commit_delay: SignedDuration,
    /// A viewer whose socket does not drain for this long is disconnected.
    pub ws_drain_timeout: SignedDuration,
    /// How often viewers are pinged; three silent intervals close them.
    pub ws_ping_interval: SignedDuration,
    pub targets: Targets,
    pub queues: BTreeMap<String, QueueConfig>,
    pub complaint_grades: BTreeMap<String, SignedDuration>,
    /// How long an agent may stay in a state before a supervisor should look.
    pub state_limits: StateLimits,
    /// Telephony platforms to read events from (besides `POST /api/v1/events`).
    pub sources: Vec<SourceConfig>,
    /// Tokens and origins (see `auth`).
    pub auth: AuthConfig,
    pub limits: Limits,
    /// `[cluster]`: the log is a JetStream stream; `None`: the local journal.
    pub cluster: Option<ClusterConfig>,
}

/// Targets per KPI, defaults from the KPI registry. `None` = informational
/// (status `none`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Targets {
    ordinary: [Option<f64>; REGISTRY.len()],
    /// For KPIs with a VIP target of their own ([`VipTarget::Own`]).
    vip: [Option<f64>; REGISTRY.len()],
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            ordinary: REGISTRY.map(|spec| spec.target),
            vip: REGISTRY.map(|spec| match spec.vip_target {
                VipTarget::Own(target) => target,
                VipTarget::Same => None,
            }),
        }
    }
}

impl Targets {
    /// The target for `key` in a queue that is (or is not) VIP.
    pub fn get(&self, key: KpiKey, vip: bool) -> Option<f64> {
        match key.spec().vip_target {
            VipTarget::Own(_) if vip => self.vip[key.index()],
            _ => self.ordinary[key.index()],
        }
    }

    /// These targets with the file's `[targets]` table (at `at`) over them:
    /// `KEY = v` for a KPI, `KEY_vip = v` for a VIP target of its own.
    pub(crate) fn overlay(mut self, at: &str, file: &TargetsFile) -> Result<Targets, ConfigError> {
        for (name, &value) in file {
            let (key, vip) = match KpiKey::parse(name) {
                Some(key) => (key, false),
                None => match name.strip_suffix("_vip").and_then(KpiKey::parse) {
                    Some(key) if key.has_own_vip_target() => (key, true),
                    _ => {
                        let known: Vec<String> = REGISTRY
                            .iter()
                            .flat_map(|spec| {
                                let vip = matches!(spec.vip_target, VipTarget::Own(_))
                                    .then(|| format!("{}_vip", spec.name));
                                std::iter::once(spec.name.to_string()).chain(vip)
                            })
                            .collect();
                        return Err(invalid(
                            format!("{at}.{name}"),
                            format!("not a KPI target; known: {}", known.join(", ")),
                        ));
                    }
                },
            };
            self.set(&format!("{at}.{name}"), key, vip, value)?;
        }
        Ok(self)
    }

    /// Sets one target (`vip`: the VIP target of its own), checked against
    /// its KPI's unit; `at` names it in the error.
    pub(crate) fn set(
        &mut self,
        at: &str,
        key: KpiKey,
        vip: bool,
        value: f64,
    ) -> Result<(), ConfigError> {
        let unit = key.unit();
        if !unit.admits(value) {
            return Err(invalid(at, format!("{value} {}", unit.rule())));
        }
        let slot = if vip {
            &mut self.vip
        } else {
            &mut self.ordinary
        };
        slot[key.index()] = Some(value);
        Ok(())
    }

    /// The ordinary target of `key` (`None`: informational).
    pub fn ordinary(&self, key: KpiKey) -> Option<f64> {
        self.ordinary[key.index()]
    }

    /// The VIP target of its own of `key` (`None` unless it has one).
    pub fn vip(&self, key: KpiKey) -> Option<f64> {
        self.vip[key.index()]
    }
}

/// A queue's display names and overrides. Queues not in the config still
/// appear on the board the first time an event names them.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    /// `Some` when the config decides; `None` lets `vip: true` on an offer
    /// mark the queue.
    pub vip: Option<bool>,
    pub service_level_threshold: Option<SignedDuration>,
    pub service_level_definition: Option<ServiceLevelDefinition>,
    /// The queue's thresholds by channel (`[queues.channels.chat]`).
    pub channel_thresholds: BTreeMap<Channel, SignedDuration>,
    pub short_abandon: Option<SignedDuration>,
    pub targets: Targets,
    /// The queue's own `targets` table as the file writes it: live
    /// settings lay the global targets and it anew under their own.
    pub file_targets: BTreeMap<String, f64>,
    /// Its place in the file's `[[queues]]` list: the order screens show.
    pub position: u32,
}

/// Time in a state after which an agent needs attention: per state, and
/// per aux reason (a meeting may run longer than a break).
#[derive(Debug, Clone, PartialEq)]
pub struct StateLimits {
    pub by_state: BTreeMap<AgentState, SignedDuration>,
    pub aux_reasons: BTreeMap<String, SignedDuration>,
}

impl Default for StateLimits {
    fn default() -> Self {
        StateLimits {
            by_state: BTreeMap::from([
                (AgentState::Aux, SignedDuration::from_mins(10)),
                (AgentState::OnContact, SignedDuration::from_mins(15)),
                (AgentState::WrapUp, SignedDuration::from_mins(2)),
            ]),
            aux_reasons: BTreeMap::new(),
        }
    }
}

impl StateLimits {
    /// The limit for an agent in `state` (with aux `reason`), if any.
    pub fn of(&self, state: AgentState, reason: Option<&str>) -> Option<SignedDuration> {
        let by_reason = match (state, reason) {
            (AgentState::Aux, Some(reason)) => self.aux_reasons.get(reason).copied(),
            _ => None,
        };
        by_reason.or_else(|| self.by_state.get(&state).copied())
    }

    fn from_file(file: &StateLimitsFile) -> Result<StateLimits, ConfigError> {
        let mut limits = StateLimits::default();
        let states = [
            (AgentState::Available, &file.available),
            (AgentState::OnContact, &file.on_contact),
            (AgentState::WrapUp, &file.wrap_up),
            (AgentState::Aux, &file.aux),
        ];
        for (state, text) in states {
            if let Some(text) = text {
                let key = format!("state_limits.{}", state.as_str());
                match limit(&key, text)? {
                    Some(d) => limits.by_state.insert(state, d),
                    None => limits.by_state.remove(&state),
                };
            }
        }
        for (reason, text) in &file.aux_reasons {
            if let Some(d) = limit(&format!("state_limits.aux_reasons.{reason}"), text)? {
                limits.aux_reasons.insert(reason.clone(), d);
            }
        }
        Ok(limits)
    }
}

/// A state limit as written: a duration of at least a second, or "off".
fn limit(key: &str, text: &str) -> Result<Option<SignedDuration>, ConfigError> {
    if text.trim() == "off" {
        return Ok(None);
    }
    let d = parse_duration(key, text)?;
    if !(SignedDuration::from_secs(1)..=SignedDuration::from_hours(24)).contains(&d) {
        return Err(invalid(
            key,
            format!("{d:#} is outside 1s..=24h (or \"off\" for no limit)"),
        ));
    }
    Ok(Some(d))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateLimitsFile {
    available: Option<String>,
    on_contact: Option<String>,
    wrap_up: Option<String>,
    aux: Option<String>,
    #[serde(default)]
    aux_reasons: BTreeMap<String, String>,
}

// ---- the file as written ----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    timezone: Option<String>,
    tick: Option<String>,
    short_abandon_seconds: Option<f64>,
    service_level_seconds: Option<f64>,
    service_level_definition: Option<String>,
    #[serde(default)]
    channels: BTreeMap<String, ChannelFile>,
    warn_band: Option<f64>,
    max_future_skew_seconds: Option<f64>,
    dedupe_retention_hours: Option<f64>,
    journal_retention_days: Option<u32>,
    journal_commit_delay: Option<String>,
    ws_drain_timeout: Option<String>,
    ws_ping_interval: Option<String>,
    #[serde(default)]
    targets: TargetsFile,
    #[serde(default)]
    queues: Vec<QueueFile>,
    complaint_grades: Option<BTreeMap<String, String>>,
    #[serde(default)]
    state_limits: StateLimitsFile,
    #[serde(default)]
    sources: Vec<SourceFile>,
    #[serde(default)]
    auth: AuthFile,
    #[serde(default)]
    limits: LimitsFile,
    cluster: Option<ClusterFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterFile {
    #[serde(default)]
    nats: Vec<String>,
    stream: Option<String>,
    replicas: Option<usize>,
    credentials: Option<std::path::PathBuf>,
    tls_ca: Option<std::path::PathBuf>,
    publish_timeout: Option<String>,
    checkpoint_every: Option<u64>,
    node: Option<String>,
}

/// `[cluster]`: the event log is a NATS JetStream stream shared by every
/// node (see `cluster`). Absent: the local journal.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// NATS server URLs (`nats://host:port`, `tls://host:port`).
    pub nats: Vec<String>,
    /// The stream's name; its subject is `STREAM.events`.
    pub stream: String,
    /// Copies JetStream keeps of every message (a quorum acknowledges).
    pub replicas: usize,
    /// A NATS credentials file, and a CA for TLS to the servers.
    pub credentials: Option<std::path::PathBuf>,
    pub tls_ca: Option<std::path::PathBuf>,
    /// How long a batch may take to be stored before the sender gets 503.
    pub publish_timeout: SignedDuration,
    /// Stream messages between checkpoints in the object store.
    pub checkpoint_every: u64,
    /// This node's name (in logs, metrics and the state hashes it
    /// publishes); default the host name.
    pub node: String,
}

fn cluster(file: &ClusterFile) -> Result<ClusterConfig, ConfigError> {
    if file.nats.is_empty() {
        return Err(invalid(
            "cluster.nats",
            "list at least one NATS server, e.g. [\"nats://10.0.0.1:4222\"]",
        ));
    }
    for (i, url) in file.nats.iter().enumerate() {
        let rest = ["nats://", "tls://"]
            .iter()
            .find_map(|scheme| url.strip_prefix(scheme))
            .unwrap_or(url);
        let port = rest.rsplit_once(':').map(|(_, p)| p);
        if rest.is_empty() || rest.contains('/') || port.is_some_and(|p| p.parse::<u16>().is_err())
        {
            return Err(invalid(
                format!("cluster.nats[{i}]"),
                format!("{url:?} is not a NATS server address like \"nats://10.0.0.1:4222\""),
            ));
        }
    }
    let stream = file.stream.clone().unwrap_or_else(|| "WALLBOARD".into());
    if stream.is_empty()
        || stream.len() > 64
        || !stream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid(
            "cluster.stream",
            format!("{stream:?} must be 1 to 64 letters, digits, `_` or `-`"),
        ));
    }
    let replicas = file.replicas.unwrap_or(3);
    if !(1..=5).contains(&replicas) {
        return Err(invalid(
            "cluster.replicas",
            format!("{replicas} is outside 1..=5 (JetStream's limit)"),
        ));
    }
    for (key, path) in [("credentials", &file.credentials), ("tls_ca", &file.tls_ca)] {
        if let Some(path) = path
            && !path.is_file()
        {
            return Err(invalid(
                format!("cluster.{key}"),
                format!("{} is not a readable file", path.display()),
            ));
        }
    }
    let publish_timeout = duration_within(
        "cluster.publish_timeout",
        &file.publish_timeout,
        SignedDuration::from_secs(10),
        SignedDuration::from_millis(100)..=SignedDuration::from_secs(60),
    )?;
    let checkpoint_every = file.checkpoint_every.unwrap_or(10_000);
    if !(10..=10_000_000).contains(&checkpoint_every) {
        return Err(invalid(
            "cluster.checkpoint_every",
            format!("{checkpoint_every} is outside 10..=10000000 stream messages"),
        ));
    }
    let node = match &file.node {
        Some(node) => node.clone(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node".into()),
    };
    if node.is_empty()
        || node.len() > 64
        || !node
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'.' && b != b'*' && b != b'>')
    {
        return Err(invalid(
            "cluster.node",
            format!("{node:?} must be 1 to 64 visible characters other than `.`, `*` and `>`"),
        ));
    }
    Ok(ClusterConfig {
        nats: file.nats.clone(),
        stream,
        replicas,
        credentials: file.credentials.clone(),
        tls_ca: file.tls_ca.clone(),
        publish_timeout,
        checkpoint_every,
        node,
    })
}

/// What one client may cost the server. Each has a sane default; each
/// breach is refused with a JSON error that names the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Events in one ingest request (413 beyond).
    pub max_batch_events: usize,
    /// Events per second one ingest token (or this machine, without
    /// tokens) may send, with a burst of one second's worth (429 beyond).
    pub ingest_events_per_second: u32,
    /// WebSocket viewers in all (503 beyond) and from one address (429).
    pub max_viewers: u64,
    pub max_viewers_per_ip: u64,
    /// Distinct queues and agents the board holds (events naming more are
    /// rejected).
    pub max_queues: usize,
    pub max_agents: usize,
    /// A request's headers must arrive within this (slow clients are cut).
    pub header_timeout: SignedDuration,
    /// A request (body included) must be answered within this.
    pub request_timeout: SignedDuration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    max_batch_events: Option<usize>,
    ingest_events_per_second: Option<u32>,
    max_viewers: Option<u64>,
    max_viewers_per_ip: Option<u64>,
    max_queues: Option<usize>,
    max_agents: Option<usize>,
    header_timeout: Option<String>,
    request_timeout: Option<String>,
}

fn within<T: PartialOrd + std::fmt::Display + Copy>(
    key: &str,
    value: Option<T>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError> {
    let v = value.unwrap_or(default);
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(invalid(
            format!("limits.{key}"),
            format!("{v} is outside {}..={}", range.start(), range.end()),
        ))
    }
}

fn limits(file: &LimitsFile) -> Result<Limits, ConfigError> {
    Ok(Limits {
        max_batch_events: within(
            "max_batch_events",
            file.max_batch_events,
            10_000,
            1..=1_000_000,
        )?,
        ingest_events_per_second: within(
            "ingest_events_per_second",
            file.ingest_events_per_second,
            100_000,
            1..=10_000_000,
        )?,
        max_viewers: within("max_viewers", file.max_viewers, 50_000, 1..=1_000_000)?,
        max_viewers_per_ip: within(
            "max_viewers_per_ip",
            file.max_viewers_per_ip,
            5_000,
            1..=1_000_000,
        )?,
        max_queues: within("max_queues", file.max_queues, 500, 1..=100_000)?,
        max_agents: within("max_agents", file.max_agents, 20_000, 1..=1_000_000)?,
        header_timeout: duration_within(
            "limits.header_timeout",
            &file.header_timeout,
            SignedDuration::from_secs(10),
            SignedDuration::from_millis(100)..=SignedDuration::from_mins(5),
        )?,
        request_timeout: duration_within(
            "limits.request_timeout",
            &file.request_timeout,
            SignedDuration::from_secs(30),
            SignedDuration::from_millis(100)..=SignedDuration::from_mins(10),
        )?,
    })
}

/// Who may send events and who may see what (see `auth.rs`).
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub ingest_tokens: Vec<TokenHash>,
    pub viewer_tokens: Vec<TokenHash>,
    /// Origins (`https://host[:port]`) allowed to open `/ws` besides the
    /// server's own.
    pub allowed_origins: Vec<String>,
}

/// A named token, stored as the SHA-256 of its text (64 hex digits).
#[derive(Debug, Clone)]
pub struct TokenHash {
    pub name: String,
    pub role: Role,
    pub sha256: String,
}

/// What a viewer token may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Every view, and changes settings, messages and layouts.
    Admin,
    /// Every view; reads settings and posts messages.
    Supervisor,
    /// The agent view only: queues and totals, no agent's name or state.
    Agent,
    /// The floor view, for a TV (the token goes in its URL).
    Kiosk,
}

impl Role {
    /// The role as the config file names it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    #[serde(default)]
    ingest_tokens: Vec<TokenFile>,
    #[serde(default)]
    viewer_tokens: Vec<TokenFile>,
    #[serde(default)]
    allowed_origins: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    name: String,
    role: Option<Role>,
    sha256: String,
}

fn auth(file: &AuthFile) -> Result<AuthConfig, ConfigError> {
    let tokens = |key: &str, files: &[TokenFile], viewer: bool| {
        let mut out: Vec<TokenHash> = Vec::new();
        for (i, t) in files.iter().enumerate() {
            let at = format!("auth.{key}[{i}]");
            let hex = t.sha256.to_ascii_lowercase();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    format!("{at}.sha256"),
                    "not a SHA-256 in hex (64 digits); make one with `wallboard hash-token`",
                ));
            }
            if t.name.is_empty() || out.iter().any(|o| o.name == t.name) {
                return Err(invalid(format!("{at}.name"), "empty or used twice"));
            }
            if out.iter().any(|o| o.sha256 == hex) {
                return Err(invalid(
                    format!("{at}.sha256"),
                    "the same token is listed twice",
                ));
            }
            let role = match (viewer, t.role) {
                (true, Some(role)) => role,
                (true, None) => {
                    return Err(invalid(
                        format!("{at}.role"),
                        "admin, supervisor, agent or kiosk",
                    ));
                }
                (false, Some(_)) => {
                    return Err(invalid(format!("{at}.role"), "ingest tokens have no role"));
                }
                (false, None) => Role::Supervisor,
            };
            out.push(TokenHash {
                name: t.name.clone(),
                role,
                sha256: hex,
            });
        }
        Ok(out)
    };
    for (i, o) in file.allowed_origins.iter().enumerate() {
        // `scheme://host[:port]` and nothing else (it goes into the UI's
        // Content-Security-Policy too).
        let host = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))
            .map(|rest| rest.strip_suffix('/').unwrap_or(rest));
        let host_ok = host.is_some_and(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
        });
        if !host_ok {
            return Err(invalid(
                format!("auth.allowed_origins[{i}]"),
                format!("{o:?} is not an origin like https://host[:port]"),
            ));
        }
    }
    Ok(AuthConfig {
        ingest_tokens: tokens("ingest_tokens", &file.ingest_tokens, false)?,
        viewer_tokens: tokens("viewer_tokens", &file.viewer_tokens, true)?,
        allowed_origins: file.allowed_origins.clone(),
    })
}

/// A source of events: its name (in ids, metrics and the board) and kind.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    /// An Asterisk server's manager interface (`app_queue` events).
    AsteriskAmi(AmiConfig),
    /// `POST /api/v1/sources/{name}/webhook`, mapped by config.
    Webhook(Vec<WebhookMapping>),
    /// A FreeSWITCH server's event socket (`mod_callcenter` events).
    Freeswitch(FreeswitchConfig),
}

#[derive(Clone)]
pub struct FreeswitchConfig {
    pub host: String,
    pub port: u16,
    pub password: String,
}

impl std::fmt::Debug for FreeswitchConfig {
    /// Never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreeswitchConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct AmiConfig {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub secret: String,
    /// Wrap-up seconds per queue, for queues whose `wrapuptime` is set in
    /// queues.conf (the manager interface reports only members' own).
    pub wrapup_seconds: BTreeMap<String, u64>,
}

impl std::fmt::Debug for AmiConfig {
    /// Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmiConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One webhook mapping: payloads matching `when` become an event of
/// `event_type` whose fields are taken from the payload.
#[derive(Debug, Clone)]
pub struct WebhookMapping {
    /// JSON pointer → the value it must hold.
    pub when: Vec<(String, serde_json::Value)>,
    pub event_type: String,
    /// Event field → where its value comes from.
    pub fields: BTreeMap<String, FieldSource>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldSource {
    /// Where in the payload (RFC 6901); `None`: the constant `value`.
    pub pointer: Option<String>,
    pub value: Option<serde_json::Value>,
    /// Payload value (as text) → event value.
    pub map: BTreeMap<String, serde_json::Value>,
    pub format: TimeFormat,
}

/// How a payload writes a time (for `ts` and `due`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeFormat {
    Rfc3339,
    UnixSeconds,
    UnixMillis,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum SourceFile {
    AsteriskAmi {
        name: Option<String>,
        host: String,
        port: Option<u16>,
        username: String,
        secret: String,
        #[serde(default)]
        wrapup_seconds: BTreeMap<String, u64>,
    },
    Webhook {
        name: String,
        #[serde(default)]
        mappings: Vec<MappingFile>,
    },
    Freeswitch {
        name: Option<String>,
        host: String,
        port: Option<u16>,
        password: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    when: BTreeMap<String, toml::Value>,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    fields: BTreeMap<String, FieldFile>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FieldFile {
    Pointer(String),
    Spec(FieldSpecFile),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldSpecFile {
    pointer: Option<String>,
    value: Option<toml::Value>,
    #[serde(default)]
    map: BTreeMap<String, toml::Value>,
    format: Option<String>,
}

/// The event types a mapping may produce: a sender's, not the server's own.
fn event_types() -> Vec<&'static str> {
    use wallboard_protocol::EventKind;
    EventKind::TYPE_NAMES
        .iter()
        .copied()
        .filter(|t| !EventKind::SERVER_TYPE_NAMES.contains(t))
        .collect()
}

fn json_of(at: &str, v: &toml::Value) -> Result<serde_json::Value, ConfigError> {
    serde_json::to_value(v).map_err(|e| invalid(at, e.to_string()))
}

fn check_pointer(at: &str, pointer: &str) -> Result<(), ConfigError> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(invalid(
            at,
            format!(
                "{pointer:?} is not a JSON pointer (they start with `/`; a constant is written {{ value = ... }})"
            ),
        ))
    }
}

/// A webhook source's `mappings`, each checked where it is (`at`).
fn webhook_mappings(
    at: &str,
    mappings: &[MappingFile],
) -> Result<Vec<WebhookMapping>, ConfigError> {
    let mut out = Vec::new();
    for (j, m) in mappings.iter().enumerate() {
        let at = format!("{at}.mappings[{j}]");
        let types = event_types();
        if !types.contains(&m.event_type.as_str()) {
            return Err(invalid(
                format!("{at}.type"),
                format!(
                    "{:?} is not an event type ({})",
                    m.event_type,
                    types.join(", ")
                ),
            ));
        }
        let mut when = Vec::new();
        for (pointer, value) in &m.when {
            check_pointer(&format!("{at}.when"), pointer)?;
            when.push((pointer.clone(), json_of(&format!("{at}.when"), value)?));
        }
        let mut fields = BTreeMap::new();
        for (key, f) in &m.fields {
            let at = format!("{at}.fields.{key}");
            if key == "type" {
                return Err(invalid(at, "the type is the mapping's `type`"));
            }
            fields.insert(key.clone(), field_source(&at, f)?);
        }
        out.push(WebhookMapping {
            when,
            event_type: m.event_type.clone(),
            fields,
        });
    }
    Ok(out)
}

/// Where a mapping's field comes from: a pointer, or a spec (pointer or
/// constant, with a time format and a value map).
fn field_source(at: &str, f: &FieldFile) -> Result<FieldSource, ConfigError> {
    Ok(match f {
        FieldFile::Pointer(p) => {
            check_pointer(at, p)?;
            FieldSource {
                pointer: Some(p.clone()),
                value: None,
                map: BTreeMap::new(),
                format: TimeFormat::Rfc3339,
            }
        }
        FieldFile::Spec(spec) => {
            if spec.pointer.is_some() == spec.value.is_some() {
                return Err(invalid(at, "give either `pointer` or `value`"));
            }
            if let Some(p) = &spec.pointer {
                check_pointer(at, p)?;
            }
            let format = match spec.format.as_deref() {
                None | Some("rfc3339") => TimeFormat::Rfc3339,
                Some("unix") => TimeFormat::UnixSeconds,
                Some("unix_ms") => TimeFormat::UnixMillis,
                Some(other) => {
                    return Err(invalid(
                        format!("{at}.format"),
                        format!("{other:?} is not rfc3339, unix or unix_ms"),
                    ));
                }
            };
            let mut map = BTreeMap::new();
            for (k, v) in &spec.map {
                map.insert(k.clone(), json_of(at, v)?);
            }
            FieldSource {
                pointer: spec.pointer.clone(),
                value: spec.value.as_ref().map(|v| json_of(at, v)).transpose()?,
                map,
                format,
            }
        }
    })
}

fn sources(files: &[SourceFile]) -> Result<Vec<SourceConfig>, ConfigError> {
    let mut out: Vec<SourceConfig> = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let at = format!("sources[{i}]");
        let (name, kind) = match file {
            SourceFile::AsteriskAmi {
                name,
                host,
                port,
                username,
                secret,
                wrapup_seconds,
            } => {
                if host.is_empty() || username.is_empty() {
                    return Err(invalid(at, "`host` and `username` must not be empty"));
                }
                let ami = AmiConfig {
                    host: host.clone(),
                    port: port.unwrap_or(5038),
                    username: username.clone(),
                    secret: secret.clone(),
                    wrapup_seconds: wrapup_seconds.clone(),
                };
                (
                    name.clone().unwrap_or_else(|| "asterisk".into()),
                    SourceKind::AsteriskAmi(ami),
                )
            }
            SourceFile::Freeswitch {
                name,
                host,
                port,
                password,
            } => {
                if host.is_empty() {
                    return Err(invalid(at, "`host` must not be empty"));
                }
                let fs = FreeswitchConfig {
                    host: host.clone(),
                    port: port.unwrap_or(8021),
                    password: password.clone().unwrap_or_else(|| "ClueCon".into()),
                };
                (
                    name.clone().unwrap_or_else(|| "freeswitch".into()),
                    SourceKind::Freeswitch(fs),
                )
            }
            SourceFile::Webhook { name, mappings } => {
                let out = webhook_mappings(&at, mappings)?;
                (name.clone(), SourceKind::Webhook(out))
            }
        };
        let valid = !name.is_empty()
            && name.len() <= 32
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(invalid(
                format!("{at}.name"),
                format!("{name:?} must be 1..=32 characters of a-z, A-Z, 0-9, `_` and `-`"),
            ));
        }
        if out.iter().any(|s| s.name == name) {
            return Err(invalid(
                format!("{at}.name"),
                format!("source {name:?} is configured twice"),
            ));
        }
        out.push(SourceConfig { name, kind });
    }
    Ok(out)
}

/// `[targets]` as written: KPI registry names (and `KEY_vip`), checked
/// against the registry by [`Targets::overlay`].
type TargetsFile = BTreeMap<String, f64>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueFile {
    id: String,
    name_zh: Option<String>,
    name_en: Option<String>,
    vip: Option<bool>,
    service_level_seconds: Option<f64>,
    service_level_definition: Option<String>,
    short_abandon_seconds: Option<f64>,
    #[serde(default)]
    channels: BTreeMap<String, ChannelFile>,
    #[serde(default)]
    targets: TargetsFile,
}

/// `[channels.CH]` / `[queues.channels.CH]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelFile {
    service_level_seconds: Option<f64>,
}

/// Channel thresholds as written, checked: known channel names, seconds
/// in range.
fn channel_thresholds(
    at: &str,
    files: &BTreeMap<String, ChannelFile>,
) -> Result<BTreeMap<Channel, SignedDuration>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, file) in files {
        let channel = channel(&format!("{at}.{name}"), name)?;
        if let Some(s) = file.service_level_seconds {
            out.insert(
                channel,
                seconds(&format!("{at}.{name}.service_level_seconds"), s)?,
            );
        }
    }
    Ok(out)
}

/// A channel's name as written, for a threshold of its own: any but
/// voice, whose threshold is `service_level_seconds`.
pub(crate) fn channel(key: &str, name: &str) -> Result<Channel, ConfigError> {
    match Channel::parse(name) {
        Some(Channel::Voice) => Err(invalid(
            key,
            "voice is judged by service_level_seconds; a channel threshold is for chat, email or callback",
        )),
        Some(channel) => Ok(channel),
        None => Err(invalid(
            key,
            format!(
                "{name:?} is not a channel; known: {}",
                Channel::names().join(", ")
            ),
        )),
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::from_toml("").expect("the defaults are valid")
    }
}

/// `timezone`: an IANA name, or the system's zone.
fn timezone(name: Option<&str>) -> Result<(TimeZone, String), ConfigError> {
    Ok(match name {
        Some(name) => {
            let tz = TimeZone::get(name).map_err(|e| {
                invalid(
                    "timezone",
                    format!("{name:?} is not an IANA time zone name ({e})"),
                )
            })?;
            (tz, name.to_string())
        }
        None => {
            let tz = TimeZone::system();
            let name = tz.iana_name().unwrap_or("UTC").to_string();
            (tz, name)
        }
    })
}

/// `[[queues]]`, by id, each with the global `targets` under its own.
fn queues(
    files: &[QueueFile],
    targets: &Targets,
) -> Result<BTreeMap<String, QueueConfig>, ConfigError> {
    let mut queues = BTreeMap::new();
    for (i, q) in files.iter().enumerate() {
        let at = format!("queues[{i}]");
        if q.id.is_empty() || q.id.len() > wallboard_protocol::event::MAX_ID_BYTES {
            return Err(invalid(format!("{at}.id"), "must be 1..=128 bytes"));
        }
        let queue = QueueConfig {
            name_zh: q.name_zh.clone(),
            name_en: q.name_en.clone(),
            vip: q.vip,
            service_level_threshold: q
                .service_level_seconds
                .map(|s| seconds(&format!("{at}.service_level_seconds"), s))
                .transpose()?,
            service_level_definition: q
                .service_level_definition
                .as_deref()
                .map(|d| service_level_definition(&format!("{at}.service_level_definition"), d))
                .transpose()?,
            channel_thresholds: channel_thresholds(&format!("{at}.channels"), &q.channels)?,
            short_abandon: q
                .short_abandon_seconds
                .map(|s| seconds(&format!("{at}.short_abandon_seconds"), s))
                .transpose()?,
            targets: targets.overlay(&format!("{at}.targets"), &q.targets)?,
            file_targets: q.targets.clone(),
            position: i as u32,
        };
        if queues.insert(q.id.clone(), queue).is_some() {
            return Err(invalid(
                format!("{at}.id"),
                format!("queue {:?} is configured twice", q.id),
            ));
        }
    }
    Ok(queues)
}

/// `[complaint_grades]`: each grade's deadline (urgent 2 h and normal 24 h
/// when the section is absent).
fn complaint_grades(
    grades_file: Option<&BTreeMap<String, String>>,
) -> Result<BTreeMap<String, SignedDuration>, ConfigError> {
    let mut complaint_grades = BTreeMap::new();
    match grades_file {
        None => {
            complaint_grades.insert("urgent".to_string(), SignedDuration::from_hours(2));
            complaint_grades.insert("normal".to_string(), SignedDuration::from_hours(24));
        }
        Some(grades) => {
            for (grade, text) in grades {
                let at = format!("complaint_grades.{grade}");
                let deadline = complaint_deadline(&at, parse_duration(&at, text)?)?;
                complaint_grades.insert(grade.clone(), deadline);
            }
        }
    }
    Ok(complaint_grades)
}

/// A complaint grade's deadline: positive.
pub(crate) fn complaint_deadline(
    at: &str,
    deadline: SignedDuration,
) -> Result<SignedDuration, ConfigError> {
    if deadline <= SignedDuration::ZERO {
        return Err(invalid(at, "must be positive"));
    }
    Ok(deadline)
}

/// `dedupe_retention_hours` and `journal_retention_days`, checked against
/// each other.
fn retention(
    dedupe_retention_hours: Option<f64>,
    journal_retention_days: Option<u32>,
) -> Result<(f64, u32), ConfigError> {
    let dedupe_retention_hours = dedupe_retention_hours.unwrap_or(25.0);
    if !(24.0..=24.0 * 14.0).contains(&dedupe_retention_hours) {
        return Err(invalid(
            "dedupe_retention_hours",
            format!("{dedupe_retention_hours} is outside 24..=336 (ids are kept at least a day)"),
        ));
    }
    // The kept segments must hold every id still remembered: the days
    // the retention spans, plus today.
    let min_days = (dedupe_retention_hours / 24.0).ceil() as u32 + 1;
    let journal_retention_days = journal_retention_days.unwrap_or(7.max(min_days));
    if !(min_days..=3660).contains(&journal_retention_days) {
        return Err(invalid(
            "journal_retention_days",
            format!(
                "{journal_retention_days} is outside {min_days}..=3660 (the journal keeps at least the ids of `dedupe_retention_hours` = {dedupe_retention_hours}, plus today)"
            ),
        ));
    }
    Ok((dedupe_retention_hours, journal_retention_days))
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// Parses and validates config text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text)?;

        let (timezone, timezone_name) = timezone(file.timezone.as_deref())?;

        let tick = duration_within(
            "tick",
            &file.tick,
            SignedDuration::from_millis(100),
            SignedDuration::from_millis(10)..=SignedDuration::from_secs(10),
        )?;
        let ws_limits = SignedDuration::from_millis(100)..=SignedDuration::from_mins(10);
        let ws_drain_timeout = duration_within(
            "ws_drain_timeout",
            &file.ws_drain_timeout,
            SignedDuration::from_secs(10),
            ws_limits.clone(),
        )?;
        let ws_ping_interval = duration_within(
            "ws_ping_interval",
            &file.ws_ping_interval,
            SignedDuration::from_secs(15),
            ws_limits,
        )?;

        let warn_band = warn_band("warn_band", file.warn_band.unwrap_or(DEFAULT_WARN_BAND))?;

        let targets = Targets::default().overlay("targets", &file.targets)?;

        let queues = queues(&file.queues, &targets)?;

        let complaint_grades = complaint_grades(file.complaint_grades.as_ref())?;

        let (dedupe_retention_hours, journal_retention_days) =
            retention(file.dedupe_retention_hours, file.journal_retention_days)?;
        let journal_commit_delay = duration_within(
            "journal_commit_delay",
            &file.journal_commit_delay,
            SignedDuration::ZERO,
            SignedDuration::ZERO..=SignedDuration::from_millis(100),
        )?;

        Ok(Config {
            timezone,
            timezone_name,
            tick,
            short_abandon: seconds(
                "short_abandon_seconds",
                file.short_abandon_seconds.unwrap_or(0.0),
            )?,
            service_level_threshold: seconds(
                "service_level_seconds",
                file.service_level_seconds.unwrap_or(20.0),
            )?,
            service_level_definition: file
                .service_level_definition
                .as_deref()
                .map(|d| service_level_definition("service_level_definition", d))
                .transpose()?
                .unwrap_or_default(),
            channel_thresholds: channel_thresholds("channels", &file.channels)?,
            warn_band,
            max_future_skew: seconds(
                "max_future_skew_seconds",
                file.max_future_skew_seconds.unwrap_or(300.0),
            )?,
            dedupe_retention: SignedDuration::from_secs_f64(dedupe_retention_hours * 3600.0),
            journal_retention_days,
            journal_commit_delay,
            ws_drain_timeout,
            ws_ping_interval,
            targets,
            queues,
            complaint_grades,
            state_limits: StateLimits::from_file(&file.state_limits)?,
            sources: sources(&file.sources)?,
            auth: auth(&file.auth)?,
            limits: limits(&file.limits)?,
            cluster: file.cluster.as_ref().map(cluster).transpose()?,
        })
    }

    /// The service-level threshold of a queue.
    pub fn service_level_threshold(&self, queue: &str) -> SignedDuration {
        self.queues
            .get(queue)
            .and_then(|q| q.service_level_threshold)
            .unwrap_or(self.service_level_threshold)
    }

    /// The service-level threshold of a contact on `channel` in `queue`:
    /// the queue's for the channel, else the centre's for the channel,
    /// else the queue's, else the centre's.
    pub fn service_level_threshold_on(
        &self,
        queue: Option<&str>,
        channel: Channel,
    ) -> SignedDuration {
        let q = queue.and_then(|id| self.queues.get(id));
        q.and_then(|q| q.channel_thresholds.get(&channel).copied())
            .or_else(|| self.channel_thresholds.get(&channel).copied())
            .or_else(|| q.and_then(|q| q.service_level_threshold))
            .unwrap_or(self.service_level_threshold)
    }

    /// How a queue's `service_level` is counted.
    pub fn service_level_definition(&self, queue: &str) -> ServiceLevelDefinition {
        self.queues
            .get(queue)
            .and_then(|q| q.service_level_definition)
            .unwrap_or(self.service_level_definition)
    }

    /// Abandons after less than this are short (left out of the rates).
    pub fn short_abandon(&self, queue: &str) -> SignedDuration {
        self.queues
            .get(queue)
            .and_then(|q| q.short_abandon)
            .unwrap_or(self.short_abandon)
    }

    /// The targets of a queue (global targets when it has none of its own).
    pub fn targets(&self, queue: &str) -> &Targets {
        self.queues
            .get(queue)
            .map(|q| &q.targets)
            .unwrap_or(&self.targets)
    }
}

fn parse_duration(key: &str, text: &str) -> Result<SignedDuration, ConfigError> {
    text.parse::<SignedDuration>().map_err(|e| {
        invalid(
            key,
            format!("{text:?} is not a duration like \"100ms\", \"2h\" or \"1h 30m\" ({e})"),
        )
    })
}

/// An optional duration key: `default` when absent, and within `range`.
fn duration_within(
    key: &str,
    text: &Option<String>,
    default: SignedDuration,
    range: std::ops::RangeInclusive<SignedDuration>,
) -> Result<SignedDuration, ConfigError> {
    let value = match text {
        Some(text) => parse_duration(key, text)?,
        None => default,
    };
    if !range.contains(&value) {
        return Err(invalid(
            key,
            format!(
                "{value:#} is outside {:#}..{:#}",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(value)
}

/// The warn band: a fraction of the target, below 1.
pub(crate) fn warn_band(key: &str, value: f64) -> Result<f64, ConfigError> {
    if !(0.0..1.0).contains(&value) {
        return Err(invalid(key, format!("{value} is outside 0..1")));
    }
    Ok(value)
}

/// A `service_level_definition` as written: one of the presets' names.
pub(crate) fn service_level_definition(
    key: &str,
    name: &str,
) -> Result<ServiceLevelDefinition, ConfigError> {
    ServiceLevelDefinition::parse(name).ok_or_else(|| {
        invalid(
            key,
            format!(
                "{name:?} is not a service-level definition; known: {}",
                ServiceLevelDefinition::names().join(", ")
            ),
        )
    })
}

pub(crate) fn seconds(key: &str, value: f64) -> Result<SignedDuration, ConfigError> {
    if !value.is_finite() || !(0.0..=86_400.0 * 7.0).contains(&value) {
        return Err(invalid(
            key,
            format!("{value} is outside 0..=604800 seconds"),
        ));
    }
    Ok(SignedDuration::from_secs_f64(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_hotline_standards() {
        let c = Config::from_toml("timezone = \"Asia/Shanghai\"").unwrap();
        assert_eq!(c.timezone_name, "Asia/Shanghai");
        assert_eq!(c.tick, SignedDuration::from_millis(100));
        assert_eq!(c.targets.get(KpiKey::AgentConnectRate, false), Some(0.85));
        assert_eq!(c.targets.get(KpiKey::AgentConnectRate, true), Some(0.90));
        assert_eq!(c.targets.get(KpiKey::SystemConnectRate, false), Some(0.99));
        assert_eq!(c.targets.get(KpiKey::Satisfaction, false), Some(85.0));
        assert_eq!(c.targets.get(KpiKey::Fcr, false), Some(0.90));
        assert_eq!(
            c.targets.get(KpiKey::ComplaintResponseRate, false),
            Some(1.0)
        );
        assert_eq!(c.complaint_grades["urgent"], SignedDuration::from_hours(2));
        assert_eq!(c.complaint_grades["normal"], SignedDuration::from_hours(24));
    }

    #[test]
    fn a_freeswitch_source_has_the_event_socket_defaults_and_hides_its_password() {
        let c =
            Config::from_toml("[[sources]]\nkind = \"freeswitch\"\nhost = \"10.0.0.6\"\n").unwrap();
        let source = &c.sources[0];
        assert_eq!(source.name, "freeswitch");
        let SourceKind::Freeswitch(fs) = &source.kind else {
            panic!("{source:?}");
        };
        assert_eq!((fs.port, fs.password.as_str()), (8021, "ClueCon"));
        assert!(!format!("{fs:?}").contains("ClueCon"));
        let empty = Config::from_toml("[[sources]]\nkind = \"freeswitch\"\nhost = \"\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            empty.contains("sources[0]") && empty.contains("host"),
            "{empty}"
        );
        let unknown =
            Config::from_toml("[[sources]]\nkind = \"freeswitch\"\nhost = \"h\"\nsecret = \"x\"\n")
                .unwrap_err()
                .to_string();
        assert!(unknown.contains("secret"), "{unknown}");
    }

    #[test]
    fn queue_overrides_layer_on_global_targets() {
        let c = Config::from_toml(
            r#"
            service_level_seconds = 30
            [targets]
            service_level = 0.7
            [[queues]]
            id = "vip"
            name_zh = "贵宾"
            vip = true
            service_level_seconds = 10
            targets = { agent_connect_rate_vip = 0.95 }
            "#,
        )
        .unwrap();
        let q = &c.queues["vip"];
        assert_eq!(q.vip, Some(true));
        assert_eq!(q.targets.get(KpiKey::ServiceLevel, false), Some(0.7));
        assert_eq!(q.targets.get(KpiKey::AgentConnectRate, true), Some(0.95));
        assert_eq!(
            c.service_level_threshold("vip"),
            SignedDuration::from_secs(10)
        );
        assert_eq!(
            c.service_level_threshold("other"),
            SignedDuration::from_secs(30)
        );
    }

    #[test]
    fn state_limits_default_and_override_per_state_and_reason() {
        let d = Config::default();
        let min = |m| Some(SignedDuration::from_mins(m));
        assert_eq!(d.state_limits.of(AgentState::Aux, None), min(10));
        assert_eq!(d.state_limits.of(AgentState::OnContact, None), min(15));
        assert_eq!(d.state_limits.of(AgentState::WrapUp, Some("x")), min(2));
        assert_eq!(d.state_limits.of(AgentState::Available, None), None);
        let c = Config::from_toml(
            "[state_limits]\naux = \"5m\"\nwrap_up = \"off\"\navailable = \"30m\"\n\
             [state_limits.aux_reasons]\nmeeting = \"1h\"\n\
             [[queues]]\nid = \"b\"\n[[queues]]\nid = \"a\"",
        )
        .unwrap();
        assert_eq!(c.state_limits.of(AgentState::Aux, Some("meeting")), min(60));
        assert_eq!(c.state_limits.of(AgentState::Aux, Some("lunch")), min(5));
        assert_eq!(c.state_limits.of(AgentState::WrapUp, None), None, "off");
        assert_eq!(c.state_limits.of(AgentState::Available, None), min(30));
        assert_eq!(c.state_limits.of(AgentState::OnContact, None), min(15));
        assert_eq!((c.queues["b"].position, c.queues["a"].position), (0, 1));
    }

    /// What a bad config must answer: the key it names (exactly) and
    /// words of the reason, or a TOML error with words of its message.
    enum Want {
        Key(&'static str, &'static str),
        Syntax(&'static str),
    }

    fn assert_error(text: &str, want: &Want) {
        let err = Config::from_toml(text).expect_err(text);
        let shown = err.to_string();
        match (want, &err) {
            (Want::Key(key, words), ConfigError::Invalid { key: got, reason }) => {
                assert_eq!(got, key, "{text}: {shown}");
                assert!(reason.contains(words), "{text}: {shown}, want {words}");
                assert!(shown.starts_with(&format!("`{key}`: ")), "{shown}");
            }
            (Want::Syntax(words), ConfigError::Syntax(_)) => {
                assert!(shown.contains(words), "{text}: {shown}, want {words}");
            }
            _ => panic!("{text}: {err:?} is not the error wanted"),
        }
    }

    #[test]
    fn errors_name_the_key() {
        use Want::{Key, Syntax};
        let cases = [
            ("timezone = \"Mars/Olympus\"", Key("timezone", "IANA")),
            ("tick = \"soon\"", Key("tick", "not a duration")),
            ("tick = \"1ms\"", Key("tick", "outside")),
            ("warn_band = 2", Key("warn_band", "outside 0..1")),
            ("[targets]\nfcr = 90", Key("targets.fcr", "")),
            (
                "[targets]\nsatisfaction = 850",
                Key("targets.satisfaction", ""),
            ),
            (
                "[targets]\nasa_seconds = -1",
                Key("targets.asa_seconds", "-1 must be 0 or more"),
            ),
            (
                "[targets]\nspeed = 1",
                Key("targets.speed", "not a KPI target"),
            ),
            (
                "[targets]\nfcr_vip = 0.9",
                Key("targets.fcr_vip", "not a KPI target"),
            ),
            (
                "[[queues]]\nid = \"a\"\ntargets = { agent_connect_rate_vip = 1.5 }",
                Key("queues[0].targets.agent_connect_rate_vip", "1.5 is a ratio"),
            ),
            ("[targets]\nfcr = \"high\"", Syntax("line 2, column 7")),
            (
                "[state_limits]\naux = \"soon\"",
                Key("state_limits.aux", "not a duration"),
            ),
            (
                "[state_limits]\naux = \"0s\"",
                Key("state_limits.aux", "0s is outside 1s..=24h"),
            ),
            (
                "[state_limits]\nlunch = \"1h\"",
                Syntax("unknown field `lunch`"),
            ),
            (
                "[state_limits.aux_reasons]\nmeeting = \"2d\"",
                Key("state_limits.aux_reasons.meeting", ""),
            ),
            (
                "[[queues]]\nid = \"a\"\n[[queues]]\nid = \"a\"",
                Key("queues[1].id", "twice"),
            ),
            (
                "[complaint_grades]\nurgent = \"later\"",
                Key("complaint_grades.urgent", "not a duration"),
            ),
            ("colour = \"red\"", Syntax("unknown field `colour`")),
            (
                "short_abandon_seconds = -3",
                Key("short_abandon_seconds", "outside"),
            ),
            (
                "[channels.voice]\nservice_level_seconds = 30",
                Key("channels.voice", "service_level_seconds"),
            ),
            (
                "[[queues]]\nid = \"a\"\n[queues.channels.fax]\nservice_level_seconds = 30",
                Key(
                    "queues[0].channels.fax",
                    "known: voice, chat, email, callback",
                ),
            ),
            (
                "service_level_definition = \"asterisk\"",
                Key("service_level_definition", "known: hotline, answered_only"),
            ),
            (
                "[[queues]]\nid = \"a\"\nservice_level_definition = \"Connect\"",
                Key(
                    "queues[0].service_level_definition",
                    "not a service-level definition",
                ),
            ),
            (
                "dedupe_retention_hours = 1",
                Key("dedupe_retention_hours", "outside 24..=336"),
            ),
            (
                "ws_drain_timeout = \"1h\"",
                Key("ws_drain_timeout", "outside"),
            ),
            (
                "journal_retention_days = 1",
                Key("journal_retention_days", "outside"),
            ),
            (
                "dedupe_retention_hours = 72\njournal_retention_days = 3",
                Key("journal_retention_days", "outside 4..=3660"),
            ),
            (
                "journal_commit_delay = \"1s\"",
                Key("journal_commit_delay", "outside"),
            ),
        ];
        for (text, want) in &cases {
            assert_error(text, want);
        }
    }

    #[test]
    fn cluster_settings_have_defaults_and_bad_ones_are_named() {
        assert_eq!(Config::from_toml("").unwrap().cluster, None);
        let c = Config::from_toml(
            "[cluster]\nnats = [\"nats://10.0.0.1:4222\", \"tls://nats-2:4222\"]\nnode = \"wb-1\"",
        )
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(c.nats.len(), 2);
        assert_eq!((c.stream.as_str(), c.replicas), ("WALLBOARD", 3));
        assert_eq!(c.publish_timeout, SignedDuration::from_secs(10));
        assert_eq!((c.checkpoint_every, c.node.as_str()), (10_000, "wb-1"));
        let named = |toml: &str, key: &'static str| {
            assert_error(&format!("[cluster]\n{toml}"), &Want::Key(key, ""));
        };
        named("stream = \"X\"", "cluster.nats");
        named("nats = [\"nats://a:4222/x\"]", "cluster.nats[0]");
        named("nats = [\"a:b:port\"]", "cluster.nats[0]");
        named("nats = [\"a\"]\nstream = \"with.dot\"", "cluster.stream");
        named("nats = [\"a\"]\nreplicas = 7", "cluster.replicas");
        named(
            "nats = [\"a\"]\ncredentials = \"/nonexistent.creds\"",
            "cluster.credentials",
        );
        named(
            "nats = [\"a\"]\npublish_timeout = \"2m\"",
            "cluster.publish_timeout",
        );
        named(
            "nats = [\"a\"]\ncheckpoint_every = 1",
            "cluster.checkpoint_every",
        );
        named("nats = [\"a\"]\nnode = \"a.b\"", "cluster.node");
        assert_error(
            "[cluster]\nnats = [\"a\"]\nnodes = 2",
            &Want::Syntax("unknown field `nodes`"),
        );
    }

    #[test]
    fn the_cluster_nodes_file_is_valid() {
        let c = Config::from_toml(include_str!("../../dashboards/cluster/wallboard-node.toml"))
            .unwrap()
            .cluster
            .unwrap();
        assert_eq!((c.nats.len(), c.replicas), (3, 3));
    }

    #[test]
    fn the_example_file_is_valid_and_complete() {
        let text = include_str!("../../wallboard.example.toml");
        let c = Config::from_toml(text).unwrap();
        assert_eq!(c.timezone_name, "Asia/Shanghai");
        assert!(c.queues.values().any(|q| q.vip == Some(true)));
    }
}
