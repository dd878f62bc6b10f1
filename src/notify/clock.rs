//! The time notification work runs at: a real incident always on the real clock, a drill on
//! the clock its run was given.
//!
//! A drill replays a chosen moment (`--now`), but the outbox and the log it shares with real
//! incidents must not carry that moment on anything real: a real notification is stamped,
//! escalated and scheduled for retry with the real time, whatever clock the caller runs on.
//! This module only decides which time applies to which incident; it keeps no state.

use std::collections::BTreeSet;

use jiff::Timestamp;

use crate::store::IncidentId;

/// A set clock and the rehearsal incidents it applies to; everything else is on the real clock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    set: Option<Timestamp>,
    /// `None`: every rehearsal incident; otherwise only these.
    only: Option<BTreeSet<IncidentId>>,
}

impl Clock {
    /// The real clock for every incident.
    pub fn real() -> Clock {
        Clock::default()
    }

    /// `now` for every rehearsal incident, the real clock for real ones: what a command such
    /// as `custos escalate --now` that works through all drills at once runs on.
    pub fn rehearsals(now: Timestamp) -> Clock {
        Clock {
            set: Some(now),
            only: None,
        }
    }

    /// `now` for the rehearsal incidents in `incidents` only (the ones one drill run touches),
    /// the real clock for everything else.
    pub fn drill(now: Timestamp, incidents: impl IntoIterator<Item = IncidentId>) -> Clock {
        Clock {
            set: Some(now),
            only: Some(incidents.into_iter().collect()),
        }
    }

    /// The time for `incident`, which is a rehearsal or not.
    pub fn at(&self, incident: IncidentId, rehearsal: bool) -> Timestamp {
        match (&self.set, &self.only) {
            (Some(now), None) if rehearsal => *now,
            (Some(now), Some(only)) if rehearsal && only.contains(&incident) => *now,
            _ => Timestamp::now(),
        }
    }
}

/// A bare time is a drill's clock for every rehearsal incident (see [`Clock::rehearsals`]).
impl From<Timestamp> for Clock {
    fn from(now: Timestamp) -> Clock {
        Clock::rehearsals(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> IncidentId {
        text.parse().unwrap()
    }

    #[test]
    fn a_real_incident_is_on_the_real_clock_whatever_time_is_set() {
        let set: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let before = Timestamp::now();

        let real = Clock::rehearsals(set).at(id("INC-1"), false);

        assert!(real >= before && real < set, "{real}");
    }

    #[test]
    fn a_drill_clock_applies_only_to_the_rehearsals_it_names() {
        let set: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let clock = Clock::drill(set, [id("INC-2")]);

        assert_eq!(clock.at(id("INC-2"), true), set);
        assert_ne!(clock.at(id("INC-3"), true), set);
        assert_eq!(Clock::rehearsals(set).at(id("INC-3"), true), set);
    }
}
