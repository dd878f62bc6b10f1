//! The time a walk runs on: the real clock, or a drill's clock set to another moment.
//!
//! A drill started with `--now` runs from that moment at the real pace, so time-based
//! escalations replay the same way every time the drill is run. The drill records the offset
//! from real time in `incident_opened` (`clock_offset_ms`), so a resume or an approval from
//! another terminal runs on the drill's clock too ([`Clock::of_incident`]); a real incident
//! always runs on the real clock.

use crate::store::{Event, EventRecord};
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

    /// A clock `offset` ahead of the real one (behind, when negative).
    pub fn with_offset(offset: SignedDuration) -> Self {
        Self { offset }
    }

    /// The clock an incident runs on, from its log: a drill's recorded offset, else real.
    pub fn of_incident(records: &[EventRecord]) -> Self {
        let offset = records.first().and_then(|first| match first.event {
            Event::IncidentOpened {
                rehearsal: true,
                clock_offset_ms: Some(offset),
                ..
            } => Some(SignedDuration::from_millis(offset)),
            _ => None,
        });
        offset.map_or_else(Self::real, Self::with_offset)
    }

    /// How far this clock runs from the real one, in whole milliseconds.
    pub fn offset_ms(&self) -> i64 {
        i64::try_from(self.offset.as_millis()).unwrap_or(0)
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
