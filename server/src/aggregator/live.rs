//! Aggregates kept up to date as events apply, so that a step reads what
//! changed in time proportional to it, never to the size of the floor:
//! - [`Rolling`]: the rolling windows' counters as running sums (an outcome
//!   is added when it lands, its minute subtracted when it leaves);
//! - [`SinceIndex`]: for one scope and one working state, the `since` of
//!   every agent in it, so the time still running toward occupancy in any
//!   window is a formula over a few minute buckets, not a walk over agents;
//! - [`DueIndex`]: the due times of a scope's open complaints, so the ones
//!   past due in a window are a range count.
//!
//! None of these is checkpointed: each is rebuilt from what is (the minute
//! buckets, the agents, the complaints) when a checkpoint is restored. The
//! KPI oracle (`kpi::board`) computes the same figures the plain way; the
//! property test holds the two equal.

use std::collections::BTreeMap;

use super::{Buckets, Counters};

const MINUTE_MS: i64 = 60_000;

/// The rolling windows kept as running sums, and the first minute each sum
/// holds: `sums[i]` = Σ of the minute buckets from `from[i]` on.
#[derive(Debug, Default, Clone)]
pub struct Rolling {
    sums: [Counters; 2],
    from: [i64; 2],
    /// Whether `from` has been set (by [`Buckets::advance`] or a rebuild).
    started: bool,
}

/// The rolling windows' lengths in minutes, in the order of [`Rolling`]'s sums.
pub const ROLLING: [i64; 2] = [15, 60];

impl Rolling {
    /// Adds what was just counted into minute `minute` to the sums that hold it.
    pub fn add(&mut self, minute: i64, delta: &Counters) {
        if !self.started {
            return;
        }
        for i in 0..ROLLING.len() {
            if minute >= self.from[i] {
                self.sums[i].add(delta);
            }
        }
    }
}

impl Buckets {
    /// Moves the rolling sums to windows ending in minute `now`: minutes
    /// that left a window are subtracted; a move backwards (the clock
    /// stepped back) sums the window again.
    pub fn advance(&mut self, now: i64) {
        for (i, len) in ROLLING.iter().enumerate() {
            let target = now - len + 1;
            if !self.rolling.started || target < self.rolling.from[i] {
                self.rolling.sums[i] = self.span(target, i64::MAX);
                self.rolling.from[i] = target;
            } else {
                self.let_go(i, target);
            }
        }
        self.rolling.started = true;
        for sub in self.channels.values_mut() {
            sub.advance(now);
        }
    }

    /// Before minutes older than `oldest` are dropped: the sums let go of
    /// them first, so they never subtract a minute that is gone.
    pub(super) fn release_before(&mut self, oldest: i64) {
        if !self.rolling.started {
            return;
        }
        for i in 0..ROLLING.len() {
            self.let_go(i, oldest);
        }
        for sub in self.channels.values_mut() {
            sub.release_before(oldest);
        }
    }

    /// Takes the minutes before `from` out of running sum `i` (none when
    /// it starts at or after `from` already).
    fn let_go(&mut self, i: usize, from: i64) {
        let rolling = &mut self.rolling;
        if rolling.from[i] < from {
            for (_, c) in self.minutes.range(rolling.from[i]..from) {
                rolling.sums[i].sub(c);
            }
            rolling.from[i] = from;
        }
    }

    /// The counters of the rolling window of `len` minutes (15 or 60)
    /// ending in the minute last given to [`Buckets::advance`]. Survey
    /// points (the one fractional count) are summed again from the minutes
    /// in window order, so they equal the oracle's to the last bit.
    pub fn rolling_sum(&self, len: i64) -> Counters {
        let i = ROLLING.iter().position(|l| *l == len).unwrap_or(0);
        let mut c = self.rolling.sums[i].clone();
        c.survey_points = 0.0;
        if c.surveys > 0 {
            for (_, m) in self.minutes.range(self.rolling.from[i]..) {
                c.survey_points += m.survey_points;
            }
        }
        c
    }

    /// Whether the 15-minute window holds offers: the queue's forecast
    /// then moves with the clock (the arrivals still expected in its
    /// interval shrink every second).
    pub fn has_recent_offers(&self) -> bool {
        self.rolling.sums[0].offered > 0
    }

    /// Keeps the slot indexes of this scope and its channels exactly from
    /// minute `cut` on; `reset` empties them first (to index afresh).
    pub(super) fn cut_slots(&mut self, cut: i64, reset: bool) {
        if reset {
            self.slots_staffed = SinceIndex::default();
            self.slots_busy = SinceIndex::default();
        }
        self.slots_staffed.advance_cut(cut);
        self.slots_busy.advance_cut(cut);
        for sub in self.channels.values_mut() {
            sub.cut_slots(cut, reset);
        }
    }

    /// Sums the rolling windows again from the minute buckets (after a restore).
    pub(super) fn rebuild_rolling(&mut self) {
        self.rolling = Rolling::default();
        for sub in self.channels.values_mut() {
            sub.rebuild_rolling();
        }
    }
}

/// Count and sum of `since` (ms) of a set of agents.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Acc {
    n: u64,
    sum: i128,
}

impl Acc {
    fn add(&mut self, since: i64) {
        self.n += 1;
        self.sum += i128::from(since);
    }
    fn remove(&mut self, since: i64) {
        self.n -= 1;
        self.sum -= i128::from(since);
    }
}

/// The `since` (ms) of the agents of one scope in one working state.
/// Entries from minute `cut` on are kept exactly, by minute; older ones
/// only as a count and a sum. Queries never reach before `cut` (the
/// caller keeps it at or before the start of every window it asks for).
#[derive(Debug, Default, Clone)]
pub struct SinceIndex {
    minutes: BTreeMap<i64, Vec<i64>>,
    all: Acc,
    before: Acc,
    cut: i64,
}

impl SinceIndex {
    pub fn is_empty(&self) -> bool {
        self.all.n == 0
    }

    /// How many are indexed.
    pub fn len(&self) -> u64 {
        self.all.n
    }

    pub fn cut(&self) -> i64 {
        self.cut
    }

    pub fn insert(&mut self, since: i64) {
        self.all.add(since);
        let minute = since.div_euclid(MINUTE_MS);
        if minute < self.cut {
            self.before.add(since);
        } else {
            let entries = self.minutes.entry(minute).or_default();
            let at = entries.partition_point(|s| *s < since);
            entries.insert(at, since);
        }
    }

    /// Enters `since` `n` times (an agent's slots, each one's time counted).
    pub fn insert_n(&mut self, since: i64, n: u32) {
        for _ in 0..n {
            self.insert(since);
        }
    }

    pub fn remove_n(&mut self, since: i64, n: u32) {
        for _ in 0..n {
            self.remove(since);
        }
    }

    pub fn remove(&mut self, since: i64) {
        let minute = since.div_euclid(MINUTE_MS);
        if minute < self.cut {
            self.before.remove(since);
        } else if let Some(entries) = self.minutes.get_mut(&minute) {
            let Ok(at) = entries.binary_search(&since) else {
                debug_assert!(false, "removing a since that is not indexed");
                return;
            };
            entries.remove(at);
            if entries.is_empty() {
                self.minutes.remove(&minute);
            }
        }
        self.all.remove(since);
    }

    /// Keeps entries exactly from minute `cut` on (only ever moves forward).
    pub fn advance_cut(&mut self, cut: i64) {
        if cut <= self.cut {
            return;
        }
        let kept = self.minutes.split_off(&cut);
        for since in self.minutes.values().flatten() {
            self.before.add(*since);
        }
        self.minutes = kept;
        self.cut = cut;
    }

    /// Entries with `since` > `t` (`t` at or after the cut).
    fn after(&self, t: i64) -> Acc {
        let minute = t.div_euclid(MINUTE_MS);
        debug_assert!(minute >= self.cut, "a query before the index's cut");
        let fold = |entries: &[i64]| {
            entries.iter().fold(Acc::default(), |mut a, s| {
                a.add(*s);
                a
            })
        };
        if minute <= self.cut {
            // Everything after the cut but the cut minute's entries up to
            // `t`, without walking the minutes that follow.
            let upto = self.minutes.get(&minute).map_or(Acc::default(), |e| {
                fold(&e[..e.partition_point(|s| *s <= t)])
            });
            return Acc {
                n: self.all.n - self.before.n - upto.n,
                sum: self.all.sum - self.before.sum - upto.sum,
            };
        }
        let mut acc = Acc::default();
        for (&m, entries) in self.minutes.range(minute..) {
            let skip = if m == minute {
                entries.partition_point(|s| *s <= t)
            } else {
                0
            };
            let part = fold(&entries[skip..]);
            acc.n += part.n;
            acc.sum += part.sum;
        }
        acc
    }

    /// Σ over the entries of the time from `max(since, from)` to `to`
    /// (none when `since` is after `to`): the running time of these agents
    /// inside `[from, to]`, in ms.
    pub fn running_ms(&self, from: i64, to: i64) -> i64 {
        if self.all.n == 0 || to <= from {
            return 0;
        }
        let after_from = self.after(from);
        let after_to = self.after(to);
        let at_start = self.all.n - after_from.n;
        let inside_n = after_from.n - after_to.n;
        let inside_sum = after_from.sum - after_to.sum;
        let ms = i128::from(at_start) * i128::from(to - from)
            + i128::from(inside_n) * i128::from(to)
            - inside_sum;
        i64::try_from(ms).unwrap_or(i64::MAX)
    }
}

/// The due times (ms) of a scope's open complaints.
#[derive(Debug, Default, Clone)]
pub struct DueIndex {
    dues: BTreeMap<i64, u32>,
    open: u64,
}

impl DueIndex {
    pub fn insert(&mut self, due: i64) {
        *self.dues.entry(due).or_default() += 1;
        self.open += 1;
    }

    pub fn remove(&mut self, due: i64) {
        if let Some(n) = self.dues.get_mut(&due) {
            *n -= 1;
            if *n == 0 {
                self.dues.remove(&due);
            }
            self.open -= 1;
        }
    }

    pub fn open(&self) -> u64 {
        self.open
    }

    /// Open complaints due in `[from, to]`.
    pub fn due_between(&self, from: i64, to: i64) -> u64 {
        if to < from {
            return 0;
        }
        self.dues.range(from..=to).map(|(_, n)| u64::from(*n)).sum()
    }

    /// Whether any falls due in `(after, to]`.
    pub fn any_due_in(&self, after: i64, to: i64) -> bool {
        to > after && self.dues.range(after + 1..=to).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain sum the index stands for.
    fn plain(sinces: &[i64], from: i64, to: i64) -> i64 {
        sinces.iter().map(|s| (to - (*s).max(from)).max(0)).sum()
    }

    #[test]
    fn running_time_equals_the_plain_sum_at_every_cut() {
        let m = MINUTE_MS;
        let sinces = [
            0,
            5,
            m - 1,
            m,
            3 * m + 7,
            3 * m + 7,
            10 * m,
            61 * m + 30_000,
            62 * m,
        ];
        let mut checked = 0;
        for cut in [0, 1, 3, 10] {
            let mut index = SinceIndex::default();
            for s in sinces {
                index.insert(s);
            }
            index.advance_cut(cut);
            for from_minute in cut..=62 {
                for to in [
                    from_minute * m,
                    from_minute * m + 1,
                    61 * m + 29_999,
                    63 * m,
                ] {
                    let from = from_minute * m;
                    assert_eq!(
                        index.running_ms(from, to),
                        plain(&sinces, from, to),
                        "cut {cut}, from {from}, to {to}"
                    );
                    checked += 1;
                }
            }
            index.remove(3 * m + 7);
            index.remove(0);
            let left: Vec<i64> = sinces
                .iter()
                .copied()
                .enumerate()
                .filter(|(i, _)| *i != 0 && *i != 4)
                .map(|(_, s)| s)
                .collect();
            assert_eq!(
                index.running_ms(cut * m, 70 * m),
                plain(&left, cut * m, 70 * m)
            );
        }
        assert!(checked > 200);
    }

    #[test]
    fn rolling_sums_follow_the_window() {
        let mut b = Buckets::default();
        let one = Counters {
            offered: 1,
            ..Counters::default()
        };
        for minute in 0..=20 {
            b.minutes.insert(minute, one.clone());
        }
        b.advance(20);
        assert_eq!(b.rolling_sum(15).offered, 15);
        assert_eq!(b.rolling_sum(60).offered, 21, "minutes 0..=20");
        // Counted as it lands (the bucket and the sums), then left behind.
        for minute in 21..=80 {
            b.minutes.insert(minute, one.clone());
            b.rolling.add(minute, &one);
        }
        assert_eq!(b.rolling_sum(60).offered, 81, "not advanced yet");
        b.advance(80);
        assert_eq!(b.rolling_sum(15).offered, 15);
        assert_eq!(b.rolling_sum(60).offered, 60);
        b.release_before(70);
        assert_eq!(b.rolling_sum(60).offered, 11, "minutes 70..=80 are left");
        b.advance(10);
        assert_eq!(b.rolling_sum(15).offered, 81, "back in time: summed again");
    }

    #[test]
    fn due_index_counts_ranges() {
        let mut d = DueIndex::default();
        for due in [5, 5, 10, 20] {
            d.insert(due);
        }
        d.remove(10);
        assert_eq!(d.open(), 3);
        assert_eq!(d.due_between(5, 20), 3);
        assert_eq!(d.due_between(6, 19), 0);
        assert!(d.any_due_in(4, 5));
        assert!(!d.any_due_in(5, 19));
    }
}
