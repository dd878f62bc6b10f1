//! The time a walk runs on: the real clock, or a drill's clock set to another moment.
//!
//! A drill started with `--now` runs from that moment at the real pace, so time-based
//! escalations replay the same way every time the drill is run.

use jiff::{SignedDuration, Timestamp};

/// A clock that may run shifted from the real one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock {
    offset: SignedDuration,
}

impl Clock {
    /// The real clock.
    pub fn real() -> Self {
        Self::default()
    }

    /// A clock that reads `start` now and runs on from there.
    pub fn starting_at(start: Timestamp) -> Self {
        Self {
            offset: start.duration_since(Timestamp::now()),
        }
    }

    /// The time on this clock.
    pub fn now(&self) -> Timestamp {
        Timestamp::now()
            .checked_add(self.offset)
            .unwrap_or_else(|_| Timestamp::now())
    }

    /// Whether this clock was set away from the real one.
    pub fn is_set(&self) -> bool {
        !self.offset.is_zero()
    }
}
