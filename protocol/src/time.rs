//! The board's timestamps on the wire: RFC 3339, as the server writes them
//! (`2026-12-01T08:00:00Z`, `2026-12-01T08:00:00.125Z`; an offset such as
//! `+08:00` is read too), read back by a parser of that one form.
//!
//! The board is read in browsers, where every kilobyte of the UI is
//! downloaded by every screen: a general date parser (and its error
//! messages) would be a fifth of it. Events keep the general parser: what
//! a telephony platform sends is read on the server.

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serializer};

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, years 0001–9999; `None`
/// for anything else (never a panic).
pub fn parse(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let separators = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !separators
        || year == 0
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0i64;
    if b[at] == b'.' {
        let start = at + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end == start || end - start > 9 {
            return None;
        }
        nanos = num(start..end)? * 10i64.pow((9 - (end - start)) as u32);
        at = end;
    }
    let offset = match b.get(at..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let d = |i: usize| i64::from(digits[i] - b'0');
            let (oh, om) = (d(0) * 10 + d(1), d(2) * 10 + d(3));
            if oh > 23 || om > 59 {
                return None;
            }
            let minutes = oh * 60 + om;
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    // A leap second reads as the second before it (as jiff reads it).
    let second = second.min(59);
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset * 60;
    Timestamp::new(seconds, nanos as i32).ok()
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `#[serde(with = "crate::time::rfc3339")]`: written as jiff writes it,
/// read by [`parse`].
pub mod rfc3339 {
    use super::*;

    pub fn serialize<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(at)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format_args!(
                "invalid timestamp {text:?}: expected RFC 3339 such as 2026-12-01T08:00:00Z"
            ))
        })
    }
}

/// The same, for an optional timestamp (`null` for none).
pub mod rfc3339_option {
    use super::*;

    pub fn serialize<S: Serializer>(
        at: &Option<Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.collect_str(at),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "rfc3339")] Timestamp);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_server_writes() {
        for text in [
            "2026-12-01T08:00:00Z",
            "2026-12-01T08:00:00.125Z",
            "2026-12-01T08:00:00.000000001Z",
            "2024-02-29T23:59:59.999999999Z",
            "1970-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-30T21:59:59Z",
            "2026-12-01T16:00:00+08:00",
            "2026-12-01T03:30:00-04:30",
        ] {
            let ours = parse(text);
            let jiffs: Option<Timestamp> = text.parse().ok();
            assert_eq!(ours, jiffs, "{text}");
            assert!(ours.is_some(), "{text}");
        }
        assert_eq!(
            parse("2026-12-01T16:00:00+08:00"),
            parse("2026-12-01T08:00:00Z")
        );
    }

    #[test]
    fn refuses_what_is_not_a_timestamp() {
        for text in [
            "",
            "2026-12-01",
            "2026-12-01T08:00:00",
            "2026-13-01T08:00:00Z",
            "2026-02-29T08:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T08:60:00Z",
            "2026-12-01T08:00:00.Z",
            "2026-12-01T08:00:00.1234567890Z",
            "2026-12-01T08:00:00+0800",
            "2026-12-01T08:00:00Zjunk",
            "0000-01-01T00:00:00Z",
            "２０２６-12-01T08:00:00Z",
            "2026-12-01T08:00:00+24:00",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static WRITTEN: AtomicUsize = AtomicUsize::new(0);
    static ACCEPTED: AtomicUsize = AtomicUsize::new(0);

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any instant of years 1–9999, written by jiff in UTC or at any
        /// offset, reads back as jiff reads it.
        #[test]
        fn reads_every_instant_jiff_writes(
            seconds in -62_135_596_800i64..253_402_300_799,
            nanos in prop_oneof![Just(0i32), 0i32..1_000_000_000, (0i32..1000).prop_map(|ms| ms * 1_000_000)],
            offset_minutes in -(23 * 60 + 59)..(23 * 60 + 59i32),
        ) {
            let at = Timestamp::new(seconds, nanos).unwrap();
            let offset = jiff::tz::Offset::from_seconds(offset_minutes * 60).unwrap();
            for text in [at.to_string(), at.display_with_offset(offset).to_string()] {
                let jiffs: Option<Timestamp> = text.parse().ok();
                // Outside jiff's range once shifted by the offset: no claim.
                if jiffs.is_none() {
                    continue;
                }
                WRITTEN.fetch_add(1, Ordering::Relaxed);
                prop_assert_eq!(parse(&text), jiffs, "{}", text);
            }
        }

        /// Any text at all: no panic, and what this accepts jiff reads as
        /// the same instant.
        #[test]
        fn accepts_nothing_jiff_reads_differently(
            (year, month, day) in (0u32..10_000, 0u32..14, 0u32..33),
            (hour, minute, second) in (0u32..25, 0u32..61, 0u32..62),
            separator in prop_oneof![Just("T"), Just("t"), Just(" "), Just("_")],
            fraction in prop_oneof![Just(String::new()), "\\.[0-9]{0,10}"],
            zone in prop_oneof![Just("Z".to_string()), Just("z".to_string()), Just(String::new()), "[+-][0-9]{2}:[0-9]{2}", "[+-][0-9]{4}"],
            junk in ".{0,24}",
        ) {
            let text = format!("{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}{fraction}{zone}");
            for text in [text.as_str(), junk.as_str()] {
                if let Some(ours) = parse(text) {
                    ACCEPTED.fetch_add(1, Ordering::Relaxed);
                    prop_assert_eq!(Some(ours), text.parse::<Timestamp>().ok(), "{}", text);
                }
            }
        }
    }

    #[test]
    fn zz_cases_reached_the_assertions() {
        // Run after the properties (test names sort; one thread or not,
        // the counts only grow): report how many cases were compared.
        reads_every_instant_jiff_writes();
        accepts_nothing_jiff_reads_differently();
        let (written, accepted) = (
            WRITTEN.load(Ordering::Relaxed),
            ACCEPTED.load(Ordering::Relaxed),
        );
        println!("timestamps compared with jiff: {written} written, {accepted} accepted");
        assert!(written >= 512, "{written}");
        assert!(accepted >= 100, "{accepted}");
    }
}
