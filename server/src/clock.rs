//! The server's clock. Windows (`today`, `15m`, `60m`) are relative to it.
//!
//! Normally the system time; tests and demos can start it at a chosen
//! moment (`--clock-start`), after which it runs at real speed, so a
//! recorded scenario is judged at the time it was written for. In-process
//! tests can also stop it ([`Clock::fixed`]) or move it by hand while the
//! server runs ([`Clock::manual`]: midnight and DST changes with viewers
//! connected, in milliseconds of test time).

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    /// Added to the system time.
    offset: SignedDuration,
    /// A clock that does not run: always reads this.
    fixed: Option<Timestamp>,
    /// A clock a test sets: reads these nanoseconds since the epoch.
    manual: Option<&'static AtomicI64>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that reads `start` now and runs on from there.
    pub fn starting_at(start: Timestamp) -> Clock {
        Clock {
            offset: start.duration_since(Timestamp::now()),
            fixed: None,
            manual: None,
        }
    }

    /// A clock stopped at `at`: boards computed from the same events are
    /// identical however long a test takes.
    pub fn fixed(at: Timestamp) -> Clock {
        Clock {
            offset: SignedDuration::ZERO,
            fixed: Some(at),
            manual: None,
        }
    }

    /// A clock that reads `start` until [`Clock::set`] or
    /// [`Clock::advance`] moves it (copies share the hand). For tests:
    /// each one keeps a few bytes for the life of the process.
    pub fn manual(start: Timestamp) -> Clock {
        let hand = Box::leak(Box::new(AtomicI64::new(nanos(start))));
        Clock {
            offset: SignedDuration::ZERO,
            fixed: None,
            manual: Some(hand),
        }
    }

    /// Sets a manual clock to `at` (else does nothing and says so).
    pub fn set(&self, at: Timestamp) -> bool {
        self.manual
            .map(|hand| hand.store(nanos(at), Ordering::SeqCst))
            .is_some()
    }

    /// Moves a manual clock on by `by`.
    pub fn advance(&self, by: SignedDuration) -> bool {
        self.set(self.now().checked_add(by).unwrap_or(Timestamp::MAX))
    }

    pub fn now(&self) -> Timestamp {
        if let Some(at) = self.fixed {
            return at;
        }
        if let Some(hand) = self.manual {
            return Timestamp::from_nanosecond(i128::from(hand.load(Ordering::SeqCst)))
                .unwrap_or(Timestamp::MAX);
        }
        Timestamp::now()
            .checked_add(self.offset)
            .unwrap_or(Timestamp::MAX)
    }
}

/// Nanoseconds since the epoch (an i64 holds 1678–2262).
fn nanos(at: Timestamp) -> i64 {
    i64::try_from(at.as_nanosecond()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_clock_reads_its_start_and_runs_on() {
        let start: Timestamp = "2026-11-23T01:59:50Z".parse().unwrap();
        let clock = Clock::starting_at(start);
        let read = clock.now();
        assert!(read >= start && read.duration_since(start) < SignedDuration::from_secs(5));
    }

    #[test]
    fn a_manual_clock_moves_only_when_told_and_its_copies_follow() {
        let start: Timestamp = "2026-11-23T15:59:58Z".parse().unwrap();
        let clock = Clock::manual(start);
        let copy = clock;
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(copy.now(), start);
        assert!(clock.advance(SignedDuration::from_secs(3)));
        assert_eq!(copy.now(), "2026-11-23T16:00:01Z".parse().unwrap());
        assert!(!Clock::system().set(start), "only a manual clock is set");
    }
}
