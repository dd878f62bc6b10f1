//! Where an object stands at a given time: its end, the whole days left and the band it is in.
//!
//! Days left are whole days, rounded down: an end 29.5 days away has 29 days left. An object is
//! in the band of the smallest threshold that is at least its days left, so with 90/60/30/7 an
//! object 30 days from its end is in band 30 and one 31 days away in band 60. An object whose
//! end is not after `now` is expired.

use jiff::{Timestamp, tz::TimeZone};

use super::inventory::{Band, Object, Source, Trigger};

/// Seconds in a day, for whole days left.
const DAY: i64 = 86_400;

/// The band an object is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Position {
    /// Past its end.
    Expired,
    /// Inside the band of this threshold.
    Band(u32),
    /// Further away than the largest threshold.
    Clear,
}

impl Position {
    /// Where an object with `bands` (largest first) and end `end` stands at `now`.
    pub fn at(bands: &[Band], end: Timestamp, now: Timestamp) -> Position {
        if end <= now {
            return Position::Expired;
        }
        let days = days_left(end, now);
        bands
            .iter()
            .rev()
            .find(|band| i64::from(band.days) >= days)
            .map_or(Position::Clear, |band| Position::Band(band.days))
    }

    /// The band's name: the threshold in days, or `expired`; `None` outside every band.
    pub fn name(self) -> Option<String> {
        match self {
            Position::Expired => Some(String::from("expired")),
            Position::Band(days) => Some(days.to_string()),
            Position::Clear => None,
        }
    }

    /// Whether the object has reached `trigger`: its band or a later one.
    pub fn reached(self, trigger: Trigger) -> bool {
        match (self, trigger) {
            (Position::Expired, _) => true,
            (Position::Band(days), Trigger::Days(at)) => days <= at,
            _ => false,
        }
    }

    /// Whether the check fails for an object here: expired or in its last band.
    pub fn fails(self, object: &Object) -> bool {
        match self {
            Position::Expired => true,
            Position::Band(days) => object.last_band() == Some(days),
            Position::Clear => false,
        }
    }
}

/// Whole days from `now` to `end`, rounded down (negative once past).
pub fn days_left(end: Timestamp, now: Timestamp) -> i64 {
    end.duration_since(now).as_secs().div_euclid(DAY)
}

/// The end an inventory entry or the key register states (a key's activation plus its
/// cryptoperiod, a device's end of support), at 00:00 UTC of its day; `None` for certificates,
/// which must be read, and for a date custos cannot represent.
pub fn stated_end(object: &Object) -> Option<Timestamp> {
    let date = match &object.source {
        Source::Cryptoperiod { activated, period }
        | Source::Register {
            activated, period, ..
        } => activated.checked_add(*period).ok()?,
        Source::EndOfSupport(date) => *date,
        Source::File(_) | Source::Token { .. } => return None,
    };
    TimeZone::UTC.to_timestamp(date.at(0, 0, 0, 0)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::inventory::{Alert, Severity};

    fn bands(days: &[u32]) -> Vec<Band> {
        let alert = Alert {
            severity: Severity::Low,
            notify: String::from("operations"),
            template: String::from("expiry-notice"),
        };
        days.iter()
            .map(|&days| Band::new(days, alert.clone()))
            .collect()
    }

    fn at(end: &str, now: &str) -> Position {
        Position::at(
            &bands(&[90, 60, 30, 7]),
            end.parse().unwrap(),
            now.parse().unwrap(),
        )
    }

    #[test]
    fn an_object_exactly_on_a_threshold_is_inside_that_band() {
        assert_eq!(
            at("2027-03-31T00:00:00Z", "2027-03-01T00:00:00Z"),
            Position::Band(30)
        );
        assert_eq!(
            at("2027-04-01T00:00:00Z", "2027-03-01T00:00:00Z"),
            Position::Band(60)
        );
    }

    #[test]
    fn part_of_a_day_does_not_count_as_a_day_left() {
        assert_eq!(
            at("2027-03-08T12:00:00Z", "2027-03-01T00:00:00Z"),
            Position::Band(7)
        );
    }

    #[test]
    fn an_end_at_or_before_now_is_expired_and_far_away_is_clear() {
        assert_eq!(
            at("2027-03-01T00:00:00Z", "2027-03-01T00:00:00Z"),
            Position::Expired
        );
        assert_eq!(
            at("2028-03-01T00:00:00Z", "2027-03-01T00:00:00Z"),
            Position::Clear
        );
    }

    #[test]
    fn a_band_reaches_a_trigger_at_its_threshold_and_after() {
        assert!(Position::Band(7).reached(Trigger::Days(30)));
        assert!(Position::Band(30).reached(Trigger::Days(30)));
        assert!(!Position::Band(60).reached(Trigger::Days(30)));
        assert!(!Position::Band(7).reached(Trigger::Expired));
        assert!(Position::Expired.reached(Trigger::Expired));
    }
}
