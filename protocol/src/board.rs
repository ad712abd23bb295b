//! The read contract: the board document served by `GET /api/v1/board` and
//! streamed over the WebSocket. Keys are the contract; more may be added.
//!
//! The board carries computed values only — clients render, they never
//! recompute a KPI.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::event::{AgentState, Channel};
use crate::kpis::{KpiKey, REGISTRY, ServiceLevelDefinition};

/// The whole board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Board {
    #[serde(with = "crate::time::rfc3339")]
    pub generated_at: Timestamp,
    /// Version of the server's state this board was computed from.
    pub seq: u64,
    /// IANA name of the zone whose midnight starts `today`.
    pub timezone: String,
    pub totals: BTreeMap<Window, Kpis>,
    /// The totals' KPIs per channel, in every window, once a contact on a
    /// channel besides voice has been counted (absent before).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<crate::event::Channel, BTreeMap<Window, Kpis>>,
    pub queues: BTreeMap<String, QueueBoard>,
    pub agents: BTreeMap<String, AgentBoard>,
    pub agent_states: BTreeMap<AgentState, u64>,
    pub complaints: ComplaintsBoard,
    /// The totals' KPIs yesterday from midnight to this time of day (to the
    /// minute), beside today's on the tiles. Agent time and complaints
    /// still open are not kept for yesterday: occupancy is `null`, and the
    /// complaint rate counts only those answered. Absent without data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_time_yesterday: Option<Kpis>,
    /// The totals' KPIs over each of the last twelve 5-minute slices,
    /// oldest first (`null` where a slice has no data), by KPI key: the
    /// tiles' sparklines.
    #[serde(default)]
    pub trend: BTreeMap<String, Vec<Option<f64>>>,
    /// The telephony connections the server reads (Asterisk AMI…), by
    /// source name: whether each is up. Absent when none is configured.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<String, SourceBoard>,
    /// The fraction of a target, on its bad side, that is `warn` (config
    /// `warn_band`): screens hold a shown status until a value is clearly
    /// past a boundary, and need to know where the boundaries are.
    #[serde(default = "default_warn_band")]
    pub warn_band: f64,
    /// On a node of a cluster: where in the shared log this board is.
    /// Absent on a single server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterBoard>,
    /// Broadcast messages up now, oldest first (every view carries them);
    /// each goes at its `until`, on every screen at the same step. Absent
    /// when none is up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<crate::admin::Message>,
    /// The saved layouts, by name: a TV opened with `?layout=NAME` follows
    /// its layout's edits from here. Absent when none is saved.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub layouts: BTreeMap<String, crate::admin::Layout>,
}

/// A cluster node's position in the log its board was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterBoard {
    /// The log's identity (its stream's creation time): positions compare
    /// only within one epoch.
    pub epoch: String,
    /// The last stream sequence applied: a board never shows less than
    /// one at a lower sequence of the same epoch.
    pub applied: u64,
    /// The node that computed it.
    pub node: String,
}

fn default_warn_band() -> f64 {
    crate::kpis::DEFAULT_WARN_BAND
}

/// A telephony connection's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceBoard {
    /// Connected, logged in and synchronised.
    pub up: bool,
    /// Since when it is up or down.
    #[serde(with = "crate::time::rfc3339")]
    pub since: Timestamp,
    /// Why it is down (connection refused, login failed…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The windows every KPI is computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Window {
    /// Since local midnight in the configured zone.
    #[serde(rename = "today")]
    Today,
    /// The current minute and the 14 before it.
    #[serde(rename = "15m")]
    Min15,
    /// The current minute and the 59 before it.
    #[serde(rename = "60m")]
    Min60,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Today, Window::Min15, Window::Min60];

    pub fn as_str(self) -> &'static str {
        match self {
            Window::Today => "today",
            Window::Min15 => "15m",
            Window::Min60 => "60m",
        }
    }

    /// The window [`Window::as_str`] names `name`.
    pub fn parse(name: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|w| w.as_str() == name)
    }

    /// Length of a rolling window in minutes; `None` for `today`.
    pub fn minutes(self) -> Option<i64> {
        match self {
            Window::Today => None,
            Window::Min15 => Some(15),
            Window::Min60 => Some(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueBoard {
    /// Display name (English if configured, else Chinese, else the id).
    pub name: String,
    /// Display names by language, from the config.
    #[serde(default)]
    pub names: BTreeMap<String, String>,
    pub vip: bool,
    pub waiting: u64,
    /// When the oldest contact still waiting started to wait; clients render
    /// its age so it ticks without server traffic.
    #[serde(default, with = "crate::time::rfc3339_option")]
    pub longest_wait_since: Option<Timestamp>,
    pub windows: BTreeMap<Window, Kpis>,
    /// The queue's KPIs per channel, in every window, once it has counted
    /// a contact on a channel besides voice (absent before).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<crate::event::Channel, BTreeMap<Window, Kpis>>,
    /// Callers who asked to be called back and are not yet (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub callbacks_pending: u64,
    /// What the next minutes need, from the last 15 minutes' rates
    /// (DESIGN.md "Foresight").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<Forecast>,
    /// Its place in the config's `[[queues]]` list (0 first); absent for
    /// queues the config does not list. Screens keep this order (then the
    /// id), never re-sorting rows by their numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
}

/// A queue's forward look, from its last 15 minutes: every member is
/// `null` where it is undefined (no arrivals, no handle time, a load the
/// staffed agents cannot carry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Offers in the 15-minute window × 4.
    pub arrival_rate_per_hour: f64,
    /// The 15-minute window's average handle time.
    pub aht_seconds: Option<f64>,
    /// Offered load A = arrivals per second × AHT.
    pub load_erlangs: Option<f64>,
    /// Agents serving the queue who are available, on a contact or in wrap-up.
    pub agents_staffed: u64,
    /// The fewest agents that meet the queue's service-level target by
    /// Erlang C (`null` without load, target or handle time).
    pub agents_needed: Option<u64>,
    /// Erlang C's chance a caller waits, with the agents staffed (`null`
    /// when they are no more than the load).
    pub wait_probability: Option<f64>,
    /// For a caller joining now: (waiting + 1) ÷ the answer rate, capped
    /// at an hour (`null` without answers).
    pub estimated_wait_seconds: Option<f64>,
    /// The service level the current 30-minute interval ends at if the
    /// rates hold, by the queue's definition.
    pub service_level_projected: Option<f64>,
    /// When the interval it projects to ends.
    #[serde(with = "crate::time::rfc3339")]
    pub interval_end: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentBoard {
    pub name: Option<String>,
    pub state: AgentState,
    pub reason: Option<String>,
    #[serde(with = "crate::time::rfc3339")]
    pub since: Timestamp,
    /// The contact the agent is handling, if any.
    pub contact: Option<String>,
    /// The queue of that contact.
    pub queue: Option<String>,
    /// The queues the agent serves.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Time in this state (and aux reason) after which the agent needs a
    /// supervisor's attention (config `[state_limits]`); absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_seconds: Option<u64>,
    /// Per channel of the agent's `capacity`: the slots it has, and how
    /// many of its contacts hold one now. Absent without a capacity.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<Channel, Slots>,
}

/// An agent's slots on one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slots {
    pub capacity: u32,
    pub in_use: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComplaintsBoard {
    /// Opened and not yet answered.
    pub open: u64,
    /// Open and past their due time.
    pub overdue: u64,
}

/// One KPI's value against its target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Kpi {
    /// `null` when the denominator is empty — never a made-up 0 or 1.
    pub value: Option<f64>,
    /// `null` for informational KPIs without a configured target.
    pub target: Option<f64>,
    pub status: Status,
    /// How the value is counted, where a KPI has more than one way
    /// (`service_level`: the queue's `service_level_definition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<ServiceLevelDefinition>,
}

/// Where a KPI stands against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Within the warn band of the target, on the bad side.
    Warn,
    Breach,
    /// No data, or no target.
    None,
}

/// The KPIs of one scope (totals or a queue) in one window, with the counts
/// they are computed from, so a reader can check every value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    /// Each KPI of the scope under its registry name, in registry order
    /// (totals only: `system_connect_rate`, as contacts reach the system
    /// before they have a queue).
    #[serde(flatten)]
    pub values: KpiValues,

    /// `contact_arrived` events (totals only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived: Option<u64>,
    /// Arrivals with `blocked: true` (totals only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<u64>,
    pub offered: u64,
    pub answered: u64,
    /// Answered within the service-level threshold.
    pub answered_in_sl: u64,
    /// Abandoned after waiting at least `short_abandon_seconds`.
    pub abandoned: u64,
    /// Abandoned sooner: left out of connect rate, service level and abandon rate.
    pub short_abandoned: u64,
    /// Contacts whose handle time (talk + wrap-up) ended in the window.
    pub handled: u64,
    pub surveys: u64,
    /// Contacts ended with a `resolved` value, and those with `resolved: true`.
    pub dispositions: u64,
    pub resolved: u64,
    pub complaints_on_time: u64,
    pub complaints_overdue: u64,
    /// Abandoned (not short) within the service-level threshold. Absent
    /// when 0, as are the callback counts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub abandoned_in_sl: u64,
    /// Callers who left the queue asking to be called back, keeping their
    /// place (`contact_callback_requested`): not abandoned.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub callbacks: u64,
    /// Of those, asked within the service-level threshold.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub callbacks_in_sl: u64,
    /// Pending callbacks answered straight from the pending list (their
    /// callers were counted as callbacks, not again as answers).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub callbacks_answered: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A scope's KPIs by [`KpiKey`]; `None` where the scope has none (see
/// [`crate::kpis::Scope`]). On the wire, a map from registry name to [`Kpi`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct KpiValues(pub [Option<Kpi>; REGISTRY.len()]);

impl KpiValues {
    pub fn get(&self, key: KpiKey) -> Option<&Kpi> {
        self.0[key.index()].as_ref()
    }

    pub fn set(&mut self, key: KpiKey, kpi: Kpi) {
        self.0[key.index()] = Some(kpi);
    }

    /// The KPIs present, in registry order.
    pub fn iter(&self) -> impl Iterator<Item = (KpiKey, &Kpi)> {
        KpiKey::ALL
            .iter()
            .zip(&self.0)
            .filter_map(|(key, kpi)| kpi.as_ref().map(|k| (*key, k)))
    }
}

impl Serialize for KpiValues {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (key, kpi) in self.iter() {
            map.serialize_entry(key.as_str(), kpi)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for KpiValues {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = KpiValues;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("KPIs by name")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<KpiValues, A::Error> {
                let mut values = KpiValues::default();
                while let Some(name) = map.next_key::<String>()? {
                    match KpiKey::parse(&name) {
                        Some(key) => values.set(key, map.next_value()?),
                        // Keys are the contract; more may be added.
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(values)
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// The counts a [`Kpis`] carries, by their board key, in field order.
pub const COUNT_KEYS: [&str; 17] = [
    "arrived",
    "blocked",
    "offered",
    "answered",
    "answered_in_sl",
    "abandoned",
    "short_abandoned",
    "handled",
    "surveys",
    "dispositions",
    "resolved",
    "complaints_on_time",
    "complaints_overdue",
    "abandoned_in_sl",
    "callbacks",
    "callbacks_in_sl",
    "callbacks_answered",
];

impl Kpis {
    /// The counts under [`COUNT_KEYS`] (`None`: not in this scope, or a
    /// count left out at 0).
    pub fn counts(&self) -> [Option<u64>; 17] {
        let unless_zero = |n: u64| (n > 0).then_some(n);
        [
            self.arrived,
            self.blocked,
            Some(self.offered),
            Some(self.answered),
            Some(self.answered_in_sl),
            Some(self.abandoned),
            Some(self.short_abandoned),
            Some(self.handled),
            Some(self.surveys),
            Some(self.dispositions),
            Some(self.resolved),
            Some(self.complaints_on_time),
            Some(self.complaints_overdue),
            unless_zero(self.abandoned_in_sl),
            unless_zero(self.callbacks),
            unless_zero(self.callbacks_in_sl),
            unless_zero(self.callbacks_answered),
        ]
    }

    /// The KPI under `key`, if this scope has it.
    pub fn get(&self, key: KpiKey) -> Option<&Kpi> {
        self.values.get(key)
    }
}

/// `kpis[key]`: the KPI under `key`; panics where the scope has none (the
/// totals-only KPIs in a queue) — use [`Kpis::get`] where that can happen.
impl std::ops::Index<KpiKey> for Kpis {
    type Output = Kpi;
    fn index(&self, key: KpiKey) -> &Kpi {
        self.get(key)
            .unwrap_or_else(|| panic!("{key} is not in this scope"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_state_keys_serialize_as_in_the_contract() {
        let mut map = BTreeMap::new();
        map.insert(Window::Min60, 1);
        map.insert(Window::Today, 2);
        map.insert(Window::Min15, 3);
        assert_eq!(
            serde_json::to_string(&map).unwrap(),
            r#"{"today":2,"15m":3,"60m":1}"#
        );
        let mut states = BTreeMap::new();
        states.insert(AgentState::WrapUp, 1u64);
        assert_eq!(serde_json::to_string(&states).unwrap(), r#"{"wrap_up":1}"#);
        assert_eq!(
            serde_json::to_string(&Status::Breach).unwrap(),
            r#""breach""#
        );
    }

    #[test]
    fn a_window_is_named_as_it_serializes() {
        for window in Window::ALL {
            let json = serde_json::to_string(&window).unwrap();
            assert_eq!(json, format!("\"{}\"", window.as_str()));
            assert_eq!(Window::parse(window.as_str()), Some(window));
        }
        assert_eq!(Window::parse("30m"), None);
        assert_eq!(Window::parse("Today"), None);
    }

    #[test]
    fn kpi_keys_match_the_board_fields() {
        let kpi = Kpi {
            value: None,
            target: None,
            status: Status::None,
            definition: None,
        };
        let mut values = KpiValues::default();
        for key in KpiKey::ALL {
            values.set(key, kpi);
        }
        let kpis = Kpis {
            values,
            arrived: Some(0),
            blocked: Some(0),
            offered: 0,
            answered: 0,
            answered_in_sl: 0,
            abandoned: 0,
            short_abandoned: 0,
            handled: 0,
            surveys: 0,
            dispositions: 0,
            resolved: 0,
            complaints_on_time: 0,
            complaints_overdue: 0,
            abandoned_in_sl: 0,
            callbacks: 0,
            callbacks_in_sl: 0,
            callbacks_answered: 0,
        };
        let json = serde_json::to_value(&kpis).unwrap();
        let counted = Kpis {
            offered: 3,
            handled: 5,
            complaints_overdue: 7,
            callbacks: 2,
            ..kpis.clone()
        };
        let counted_json = serde_json::to_value(&counted).unwrap();
        for (key, value) in COUNT_KEYS.iter().zip(counted.counts()) {
            assert_eq!(counted_json[key].as_u64(), value, "{key}");
        }
        let fields = json.as_object().unwrap().len();
        // The counts kept out at 0 are the four added with the definitions.
        assert_eq!(
            fields,
            KpiKey::ALL.len() + COUNT_KEYS.len() - 4,
            "every field listed"
        );
        for key in [
            "abandoned_in_sl",
            "callbacks",
            "callbacks_in_sl",
            "callbacks_answered",
        ] {
            assert!(json.get(key).is_none(), "{key} is absent at 0");
        }
        assert_eq!(counted_json["callbacks"], 2);
        for key in KpiKey::ALL {
            assert!(json.get(key.as_str()).is_some(), "{}", key.as_str());
            assert!(kpis.get(key).is_some());
        }
        let text = serde_json::to_string(&kpis).unwrap();
        let at: Vec<usize> = KpiKey::ALL
            .iter()
            .map(|k| text.find(&format!("\"{}\":", k.as_str())).unwrap())
            .collect();
        assert!(at.is_sorted(), "registry order: {text}");
        assert!(at[at.len() - 1] < text.find("\"arrived\"").unwrap());
        let back: Kpis = serde_json::from_value(json).unwrap();
        assert_eq!(back, kpis, "reads back what it wrote");
        let mut queue = kpis.clone();
        queue.values.0[KpiKey::SystemConnectRate.index()] = None;
        let json = serde_json::to_value(&queue).unwrap();
        assert!(
            json.get("system_connect_rate").is_none(),
            "absent, not null"
        );
        assert_eq!(serde_json::from_value::<Kpis>(json).unwrap(), queue);
    }
}
