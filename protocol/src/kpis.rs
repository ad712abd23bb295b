//! The KPI registry: every KPI's key, unit, good direction, default
//! targets, scope, place on the floor and formula inputs, declared once.
//!
//! Everything else reads it: the board's field names and order, config
//! keys and their validation, statuses, `/metrics` labels, the tiles and
//! how a value is formatted. Adding a KPI is a [`KpiKey`] variant, its row
//! in [`REGISTRY`], its formula (the server's `kpi::value`), its labels (the
//! UI's `i18n`) and its test; every `match` over [`KpiKey`] is exhaustive,
//! so the compiler names the places a new key is still missing from.

use std::fmt;

use crate::board::Status;

/// The KPI keys, as they appear in the board and in Prometheus labels, in
/// the registry's order (which is the order of the floor's tiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KpiKey {
    SystemConnectRate,
    AgentConnectRate,
    Fcr,
    Satisfaction,
    ComplaintResponseRate,
    ServiceLevel,
    AbandonRate,
    AsaSeconds,
    AhtSeconds,
    Occupancy,
}

/// Which side of the target is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// What a KPI's value measures; it decides how a target is checked and how
/// the value reads on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A fraction within 0..=1, shown as a percentage.
    Ratio,
    /// Satisfaction points within 0..=100.
    Points,
    /// A duration in seconds, 0 or more.
    Seconds,
}

impl Unit {
    /// Whether `value` is a possible target in this unit.
    pub fn admits(self, value: f64) -> bool {
        match self {
            Unit::Ratio => (0.0..=1.0).contains(&value),
            Unit::Points => (0.0..=100.0).contains(&value),
            Unit::Seconds => value.is_finite() && value >= 0.0,
        }
    }

    /// The rule [`Unit::admits`] checks, in words, for error messages.
    pub fn rule(self) -> &'static str {
        match self {
            Unit::Ratio => "is a ratio and must be within 0..=1",
            Unit::Points => "is in points and must be within 0..=100",
            Unit::Seconds => "must be 0 or more seconds",
        }
    }
}

/// Where a KPI exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The totals and every queue.
    Everywhere,
    /// The totals only (e.g. arrivals reach the system before any queue).
    TotalsOnly,
}

/// A VIP queue's target for a KPI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VipTarget {
    /// The ordinary target applies.
    Same,
    /// A target of its own, set in the config as `KEY_vip`, with this default.
    Own(Option<f64>),
}

/// One KPI's declaration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KpiSpec {
    pub key: KpiKey,
    /// The board key, config key and Prometheus `kpi` label.
    pub name: &'static str,
    pub unit: Unit,
    pub direction: Direction,
    /// The default target; `None` = informational (status `none`).
    pub target: Option<f64>,
    pub vip_target: VipTarget,
    pub scope: Scope,
    /// Shown as a tile on the floor by default.
    pub tile: bool,
    /// The server's counters (`Counters` field names) the formula reads; a
    /// test checks the formula moves with exactly these.
    pub inputs: &'static [&'static str],
}

/// How a queue's `service_level` is counted (DESIGN.md "Definitions").
/// Each is exact over the same kept counts, so switching a queue's
/// definition re-evaluates every window at once. Short abandons (waits
/// under `short_abandon_seconds`, default 0 = none) are out of every one.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ServiceLevelDefinition {
    /// Answered within the threshold ÷ (answered + abandoned): the hotline
    /// standard, and the default.
    #[default]
    Hotline,
    /// Answered within the threshold ÷ answered: abandons do not count.
    AnsweredOnly,
    /// (Answered + abandoned) within the threshold ÷ (answered +
    /// abandoned): Asterisk's `ServiceLevelPerf2`.
    AbandonsInThresholdMet,
    /// Removed from the queue within the threshold ÷ removed from the
    /// queue, where answered, abandoned and callback requests remove a
    /// contact: Amazon Connect's "service level X seconds".
    Connect,
}

impl ServiceLevelDefinition {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The definition named `name` in the config, settings and the board.
    pub fn parse(name: &str) -> Option<ServiceLevelDefinition> {
        name.parse().ok()
    }

    /// Every definition's name, for error messages.
    pub fn names() -> Vec<&'static str> {
        names_of::<Self>()
    }

    /// The counters (the server's `Counters` field names) this definition
    /// reads; a test checks its formula moves with exactly these.
    pub fn inputs(self) -> &'static [&'static str] {
        match self {
            Self::Hotline => &["answered", "answered_in_sl", "abandoned"],
            Self::AnsweredOnly => &["answered", "answered_in_sl"],
            Self::AbandonsInThresholdMet => {
                &["answered", "answered_in_sl", "abandoned", "abandoned_in_sl"]
            }
            Self::Connect => &[
                "answered",
                "answered_in_sl",
                "abandoned",
                "abandoned_in_sl",
                "callbacks",
                "callbacks_in_sl",
            ],
        }
    }
}

/// The wire names of every variant of a named enum, in order (for error
/// messages that list what is known).
pub fn names_of<T: strum::VariantArray + Copy + Into<&'static str>>() -> Vec<&'static str> {
    T::VARIANTS.iter().map(|v| (*v).into()).collect()
}

/// Fraction of a target, on its bad side, that is `warn` rather than
/// `breach`, unless the config says otherwise (the same for every KPI).
pub const DEFAULT_WARN_BAND: f64 = 0.05;

const fn spec(
    key: KpiKey,
    name: &'static str,
    unit: Unit,
    direction: Direction,
    target: Option<f64>,
    inputs: &'static [&'static str],
) -> KpiSpec {
    KpiSpec {
        key,
        name,
        unit,
        direction,
        target,
        vip_target: VipTarget::Same,
        scope: Scope::Everywhere,
        tile: true,
        inputs,
    }
}

use Direction::{HigherIsBetter, LowerIsBetter};

/// Every KPI, in [`KpiKey`] order. Default targets are the hotline service
/// standards (DESIGN.md "The KPIs and their default targets").
pub const REGISTRY: [KpiSpec; 10] = [
    KpiSpec {
        scope: Scope::TotalsOnly,
        ..spec(
            KpiKey::SystemConnectRate,
            "system_connect_rate",
            Unit::Ratio,
            HigherIsBetter,
            Some(0.99),
            &["arrived", "blocked"],
        )
    },
    KpiSpec {
        vip_target: VipTarget::Own(Some(0.90)),
        ..spec(
            KpiKey::AgentConnectRate,
            "agent_connect_rate",
            Unit::Ratio,
            HigherIsBetter,
            Some(0.85),
            &["answered", "abandoned"],
        )
    },
    spec(
        KpiKey::Fcr,
        "fcr",
        Unit::Ratio,
        HigherIsBetter,
        Some(0.90),
        &["dispositions", "resolved"],
    ),
    spec(
        KpiKey::Satisfaction,
        "satisfaction",
        Unit::Points,
        HigherIsBetter,
        Some(85.0),
        &["surveys", "survey_points"],
    ),
    spec(
        KpiKey::ComplaintResponseRate,
        "complaint_response_rate",
        Unit::Ratio,
        HigherIsBetter,
        Some(1.0),
        &["complaints_on_time", "complaints_overdue"],
    ),
    spec(
        KpiKey::ServiceLevel,
        "service_level",
        Unit::Ratio,
        HigherIsBetter,
        Some(0.80),
        &["answered", "answered_in_sl", "abandoned"],
    ),
    spec(
        KpiKey::AbandonRate,
        "abandon_rate",
        Unit::Ratio,
        LowerIsBetter,
        Some(0.05),
        &["answered", "abandoned"],
    ),
    spec(
        KpiKey::AsaSeconds,
        "asa_seconds",
        Unit::Seconds,
        LowerIsBetter,
        Some(20.0),
        &["answered", "wait_ms"],
    ),
    KpiSpec {
        tile: false,
        ..spec(
            KpiKey::AhtSeconds,
            "aht_seconds",
            Unit::Seconds,
            LowerIsBetter,
            None,
            &["handled", "handle_ms"],
        )
    },
    KpiSpec {
        tile: false,
        ..spec(
            KpiKey::Occupancy,
            "occupancy",
            Unit::Ratio,
            HigherIsBetter,
            None,
            &["available_ms", "on_contact_ms", "wrap_up_ms"],
        )
    },
];

impl KpiKey {
    /// Every key, in registry order.
    pub const ALL: [KpiKey; REGISTRY.len()] = {
        let mut all = [KpiKey::SystemConnectRate; REGISTRY.len()];
        let mut i = 0;
        while i < REGISTRY.len() {
            all[i] = REGISTRY[i].key;
            i += 1;
        }
        all
    };

    /// This KPI's declaration.
    pub fn spec(self) -> &'static KpiSpec {
        &REGISTRY[self.index()]
    }

    /// Position in [`REGISTRY`] and [`KpiKey::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    pub fn direction(self) -> Direction {
        self.spec().direction
    }

    pub fn unit(self) -> Unit {
        self.spec().unit
    }

    /// Whether VIP queues have a target of their own for this KPI.
    pub fn has_own_vip_target(self) -> bool {
        matches!(self.spec().vip_target, VipTarget::Own(_))
    }

    /// The key named `name` on the board and in the config.
    pub fn parse(name: &str) -> Option<KpiKey> {
        REGISTRY.iter().find(|s| s.name == name).map(|s| s.key)
    }
}

/// A value against its target: `ok` on the good side (or on it), `warn`
/// within `band × target` on the bad side, `breach` beyond; `none` without
/// a value or a target. The server's statuses come from here.
pub fn status(direction: Direction, value: Option<f64>, target: Option<f64>, band: f64) -> Status {
    let (Some(value), Some(target)) = (value, target) else {
        return Status::None;
    };
    let margin = target.abs() * band;
    // Ratios like 17/20 are not exact in binary; a hair's breadth is not a miss.
    const EPSILON: f64 = 1e-9;
    match direction {
        Direction::HigherIsBetter if value >= target - EPSILON => Status::Ok,
        Direction::HigherIsBetter if value >= target - margin - EPSILON => Status::Warn,
        Direction::LowerIsBetter if value <= target + EPSILON => Status::Ok,
        Direction::LowerIsBetter if value <= target + margin + EPSILON => Status::Warn,
        _ => Status::Breach,
    }
}

/// How far past a boundary, as a fraction of the target, a value must be
/// before a screen changes the status it shows.
pub const HYSTERESIS: f64 = 0.005;

fn rank(status: Status) -> u8 {
    match status {
        Status::Ok => 0,
        Status::Warn => 1,
        Status::Breach => 2,
        Status::None => 3,
    }
}

/// The status a screen shows for a value whose status it showed as
/// `shown`: it changes only once the value is past the boundary by
/// [`HYSTERESIS`] × the target, so a figure sitting on its target (FCR
/// 90.0% against 90%) does not flip colour every second. Without a shown
/// status, or without data, it is [`status`].
pub fn held_status(
    shown: Option<Status>,
    direction: Direction,
    value: Option<f64>,
    target: Option<f64>,
    band: f64,
) -> Status {
    let now = status(direction, value, target, band);
    let (Some(shown), Some(v), Some(t)) = (shown, value, target) else {
        return now;
    };
    if now == shown || now == Status::None || shown == Status::None {
        return now;
    }
    let toward_good = match direction {
        Direction::HigherIsBetter => 1.0,
        Direction::LowerIsBetter => -1.0,
    };
    let h = HYSTERESIS * t.abs() * toward_good;
    let worse = rank(now) > rank(shown);
    // Moving to a worse status, the value gets the margin's benefit of the
    // doubt; to a better one, it must clear the boundary by the margin.
    let candidate = status(
        direction,
        Some(if worse { v + h } else { v - h }),
        target,
        band,
    );
    let moved = if worse {
        rank(candidate) > rank(shown)
    } else {
        rank(candidate) < rank(shown)
    };
    if moved { candidate } else { shown }
}

impl fmt::Display for KpiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_in_key_order_with_unique_names() {
        for (i, spec) in REGISTRY.iter().enumerate() {
            assert_eq!(spec.key.index(), i, "{} is out of place", spec.name);
            assert_eq!(KpiKey::ALL[i], spec.key);
            assert_eq!(KpiKey::parse(spec.name), Some(spec.key));
            assert!(!spec.inputs.is_empty(), "{} reads nothing", spec.name);
            if let Some(t) = spec.target {
                assert!(spec.unit.admits(t), "{}'s default target", spec.name);
            }
            if let VipTarget::Own(Some(t)) = spec.vip_target {
                assert!(spec.unit.admits(t), "{}'s VIP target", spec.name);
            }
        }
        let mut names: Vec<_> = REGISTRY.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
        assert_eq!(KpiKey::parse("speed"), None);
    }

    #[test]
    fn a_shown_status_holds_near_its_boundary() {
        use Direction::*;
        let fcr = |shown, v| held_status(shown, HigherIsBetter, Some(v), Some(0.90), 0.05);
        // On the target: ok, the server's way.
        assert_eq!(
            status(HigherIsBetter, Some(0.90), Some(0.90), 0.05),
            Status::Ok
        );
        assert_eq!(fcr(None, 0.90), Status::Ok);
        // Shown warn, now exactly on target: stays warn until clearly above.
        assert_eq!(fcr(Some(Status::Warn), 0.90), Status::Warn);
        assert_eq!(fcr(Some(Status::Warn), 0.904), Status::Warn);
        assert_eq!(fcr(Some(Status::Warn), 0.905), Status::Ok);
        // Shown ok, a hair below: stays ok; clearly below: warn.
        assert_eq!(fcr(Some(Status::Ok), 0.8999), Status::Ok);
        assert_eq!(fcr(Some(Status::Ok), 0.895), Status::Warn);
        // A fall past both boundaries goes straight to breach.
        assert_eq!(fcr(Some(Status::Ok), 0.50), Status::Breach);
        // The warn/breach boundary (0.855) holds the same way.
        assert_eq!(fcr(Some(Status::Breach), 0.856), Status::Breach);
        assert_eq!(fcr(Some(Status::Breach), 0.86), Status::Warn);
        // Lower is better: ASA 20 s.
        let asa = |shown, v| held_status(shown, LowerIsBetter, Some(v), Some(20.0), 0.05);
        assert_eq!(asa(Some(Status::Ok), 20.05), Status::Ok);
        assert_eq!(asa(Some(Status::Ok), 20.2), Status::Warn);
        assert_eq!(asa(Some(Status::Warn), 19.95), Status::Warn);
        assert_eq!(asa(Some(Status::Warn), 19.8), Status::Ok);
        // No data is shown at once, and data after none too.
        assert_eq!(
            held_status(Some(Status::Ok), HigherIsBetter, None, Some(0.9), 0.05),
            Status::None
        );
        assert_eq!(fcr(Some(Status::None), 0.7), Status::Breach);
    }

    #[test]
    fn units_check_targets() {
        assert!(Unit::Ratio.admits(1.0) && !Unit::Ratio.admits(1.01));
        assert!(Unit::Points.admits(85.0) && !Unit::Points.admits(850.0));
        assert!(Unit::Seconds.admits(3600.0) && !Unit::Seconds.admits(-1.0));
        assert!(!Unit::Seconds.admits(f64::INFINITY) && !Unit::Ratio.admits(f64::NAN));
    }
}
