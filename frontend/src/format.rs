//! How figures read on screen. The server computes every KPI; this only
//! formats what it sent.

use wallboard_protocol::{KpiKey, Unit};

/// A KPI value as shown on a tile: ratios as percent with one decimal,
/// satisfaction in points, times as m:ss; "—" when there is none.
pub fn kpi_value(key: KpiKey, value: Option<f64>) -> String {
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return "—".into();
    };
    match key.unit() {
        Unit::Points => format!("{v:.1}"),
        Unit::Seconds => duration(v),
        Unit::Ratio => percent(Some(v)),
    }
}

/// A ratio as percent with one decimal (a projected service level, a
/// chance of waiting); "—" when there is none.
pub fn percent(ratio: Option<f64>) -> String {
    match ratio.filter(|v| v.is_finite()) {
        Some(v) => format!("{:.1}%", v * 100.0),
        None => "—".into(),
    }
}

/// A wait in seconds as `m:ss` (an estimated wait); "—" when there is none.
pub fn wait(seconds: Option<f64>) -> String {
    seconds
        .filter(|s| s.is_finite())
        .map_or_else(|| "—".into(), duration)
}

/// Seconds as `m:ss`, or `h:mm:ss` from an hour on.
pub fn duration(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_on_the_floor() {
        assert_eq!(kpi_value(KpiKey::AgentConnectRate, Some(0.8)), "80.0%");
        assert_eq!(kpi_value(KpiKey::ServiceLevel, Some(2.0 / 3.0)), "66.7%");
        assert_eq!(kpi_value(KpiKey::Satisfaction, Some(86.26)), "86.3");
        assert_eq!(kpi_value(KpiKey::AsaSeconds, Some(65.4)), "1:05");
        assert_eq!(kpi_value(KpiKey::AhtSeconds, Some(185.0)), "3:05");
        assert_eq!(kpi_value(KpiKey::Occupancy, Some(0.5)), "50.0%");
        assert_eq!(kpi_value(KpiKey::Fcr, None), "—");
        assert_eq!(kpi_value(KpiKey::Fcr, Some(f64::NAN)), "—");
        assert_eq!(duration(3725.0), "1:02:05");
        assert_eq!(duration(-3.0), "0:00");
        assert_eq!(percent(Some(0.825)), "82.5%");
        assert_eq!(percent(None), "—");
        assert_eq!(wait(Some(65.0)), "1:05");
        assert_eq!(wait(Some(0.0)), "0:00", "a wait of 0 is not none");
        assert_eq!(wait(None), "—");
    }
}
