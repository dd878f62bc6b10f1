//! Incident identifiers: `INC-42` on screen, the integer 42 in the log.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::StoreError;

/// The number of an incident, shown as `INC-42`; numbers start at 1 and are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncidentId(u64);

impl IncidentId {
    /// The id with number `number`, if it is one SQLite can hold (1 to 2^63 - 1).
    pub fn new(number: u64) -> Option<Self> {
        (1..=i64::MAX.unsigned_abs())
            .contains(&number)
            .then_some(Self(number))
    }

    /// The bare number, 42 for `INC-42`.
    pub fn number(self) -> u64 {
        self.0
    }

    /// The number as SQLite stores it.
    pub(crate) fn sql(self) -> i64 {
        // `new` is the only constructor and keeps the number within `i64`.
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// The id of a row id read from SQLite; ids below 1 are not incident ids.
    pub(crate) fn from_sql(rowid: i64) -> Option<Self> {
        u64::try_from(rowid).ok().and_then(Self::new)
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

impl FromStr for IncidentId {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || StoreError::InvalidIncidentId {
            text: text.to_owned(),
        };

        let digits = match text.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("inc-") => &text[4..],
            _ => text,
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }

        digits.parse().ok().and_then(Self::new).ok_or_else(invalid)
    }
}

impl Serialize for IncidentId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IncidentId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids_display_with_the_inc_prefix() {
        assert_eq!(IncidentId::new(42).unwrap().to_string(), "INC-42");
    }

    #[test]
    fn incident_ids_parse_with_or_without_the_prefix_in_any_case() {
        for text in ["INC-42", "inc-42", "Inc-42", "42"] {
            assert_eq!(text.parse::<IncidentId>().unwrap().number(), 42, "{text}");
        }
    }

    #[test]
    fn texts_that_are_not_incident_ids_are_rejected_with_the_text() {
        for text in [
            "",
            "INC-",
            "INC-0",
            "0",
            "-3",
            "+3",
            "INC-4x",
            "INC 4",
            "9223372036854775808",
        ] {
            let error = text.parse::<IncidentId>().unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("`{text}` is not an incident id; write it as `INC-42` or `42`")
            );
        }
    }
}
