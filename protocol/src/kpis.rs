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

    /// The key named `name` on the board and in the config.
    pub fn parse(name: &str) -> Option<KpiKey> {
        REGISTRY.iter().find(|s| s.name == name).map(|s| s.key)
    }
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
    fn units_check_targets() {
        assert!(Unit::Ratio.admits(1.0) && !Unit::Ratio.admits(1.01));
        assert!(Unit::Points.admits(85.0) && !Unit::Points.admits(850.0));
        assert!(Unit::Seconds.admits(3600.0) && !Unit::Seconds.admits(-1.0));
        assert!(!Unit::Seconds.admits(f64::INFINITY) && !Unit::Ratio.admits(f64::NAN));
    }
}
