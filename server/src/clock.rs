//! The server's clock. Windows (`today`, `15m`, `60m`) are relative to it.
//!
//! Normally the system time; tests and demos can start it at a chosen
//! moment (`--clock-start`), after which it runs at real speed, so a
//! recorded scenario is judged at the time it was written for. In-process
//! tests can also stop it ([`Clock::fixed`]).

use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    /// Added to the system time.
    offset: SignedDuration,
    /// A clock that does not run: always reads this.
    fixed: Option<Timestamp>,
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
        }
    }

    /// A clock stopped at `at`: boards computed from the same events are
    /// identical however long a test takes.
    pub fn fixed(at: Timestamp) -> Clock {
        Clock {
            offset: SignedDuration::ZERO,
            fixed: Some(at),
        }
    }

    pub fn now(&self) -> Timestamp {
        if let Some(at) = self.fixed {
            return at;
        }
        Timestamp::now()
            .checked_add(self.offset)
            .unwrap_or(Timestamp::MAX)
    }
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
}
