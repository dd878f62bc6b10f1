//! Which incidents an export holds: a time window on the opening, runbook, severity, ids, and
//! whether drills are in.

use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::ExportError;
use crate::store::{Incident, IncidentId};

/// A `--since` or `--until` bound as typed, with the instant it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    /// The text given, kept for the manifest.
    pub text: String,
    /// A date alone: it covers the whole day (UTC) at either end of the window.
    pub date: Option<Date>,
    pub at: Timestamp,
}

impl FromStr for Bound {
    type Err = ExportError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Ok(at) = text.parse::<Timestamp>() {
            return Ok(Self {
                text: text.to_owned(),
                date: None,
                at,
            });
        }

        let invalid = || ExportError::InvalidTime {
            text: text.to_owned(),
        };
        let date: Date = text.parse().map_err(|_| invalid())?;
        let at = midnight(date).ok_or_else(invalid)?;
        Ok(Self {
            text: text.to_owned(),
            date: Some(date),
            at,
        })
    }
}

impl Bound {
    /// The first instant after the bound, for `--until`: the next midnight for a date.
    fn end(&self) -> Timestamp {
        let next_day = self.date.and_then(|date| date.tomorrow().ok());
        next_day.and_then(midnight).unwrap_or(self.at)
    }
}

/// The start of `date` in UTC.
fn midnight(date: Date) -> Option<Timestamp> {
    format!("{date}T00:00:00Z").parse().ok()
}

/// The filters of an export; an incident is in when it passes every one given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Opened at or after this.
    pub since: Option<Bound>,
    /// Opened at or before this (through the end of the day for a date).
    pub until: Option<Bound>,
    pub runbook: Option<String>,
    pub severity: Option<String>,
    /// Only these incidents, when not empty.
    pub incidents: Vec<IncidentId>,
    /// Drills are left out unless this is set.
    pub include_drills: bool,
}

impl Filter {
    /// Whether `incident` belongs in the export.
    pub fn admits(&self, incident: &Incident) -> bool {
        self.refusal(&Candidate {
            id: incident.id,
            opened_at: incident.opened_at,
            runbook_id: &incident.runbook_id,
            severity: &incident.severity,
            rehearsal: incident.rehearsal,
        })
        .is_none()
    }

    /// The first filter that leaves `candidate` out, named as a verifier reports it, or `None`
    /// when every filter lets it in.
    pub(crate) fn refusal(&self, candidate: &Candidate<'_>) -> Option<&'static str> {
        let opened = candidate.opened_at;
        if self.since.as_ref().is_some_and(|since| opened < since.at) {
            return Some("it was opened before `since`");
        }
        let after_until = self.until.as_ref().is_some_and(|until| match until.date {
            Some(_) => opened >= until.end(),
            None => opened > until.at,
        });
        if after_until {
            return Some("it was opened after `until`");
        }
        if self
            .runbook
            .as_ref()
            .is_some_and(|id| *id != candidate.runbook_id)
        {
            return Some("its runbook is not the `runbook` filter's");
        }
        let severity = self.severity.as_ref();
        if severity.is_some_and(|s| !s.eq_ignore_ascii_case(candidate.severity)) {
            return Some("its severity is not the `severity` filter's");
        }
        if !self.incidents.is_empty() && !self.incidents.contains(&candidate.id) {
            return Some("the `incidents` filter does not list it");
        }
        if candidate.rehearsal && !self.include_drills {
            return Some("it is a drill and `include_drills` is false");
        }
        None
    }

    /// The filters as the manifest records them.
    pub fn record(&self) -> FilterRecord {
        FilterRecord {
            since: self.since.as_ref().map(|bound| bound.text.clone()),
            until: self.until.as_ref().map(|bound| bound.text.clone()),
            runbook: self.runbook.clone(),
            severity: self.severity.clone(),
            incidents: self.incidents.iter().map(ToString::to_string).collect(),
            include_drills: self.include_drills,
        }
    }
}

/// What the filters look at in an incident.
pub(crate) struct Candidate<'a> {
    pub id: IncidentId,
    pub opened_at: Timestamp,
    pub runbook_id: &'a str,
    pub severity: &'a str,
    pub rehearsal: bool,
}

/// The filters of an export as written in its manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterRecord {
    pub since: Option<String>,
    pub until: Option<String>,
    pub runbook: Option<String>,
    pub severity: Option<String>,
    pub incidents: Vec<String>,
    pub include_drills: bool,
}

impl FilterRecord {
    /// The filters this record describes, read back as a verifier does; the error names the
    /// filter that does not parse.
    pub(crate) fn filter(&self) -> Result<Filter, String> {
        let bound = |name: &str, text: &Option<String>| {
            text.as_deref()
                .map(str::parse::<Bound>)
                .transpose()
                .map_err(|e| format!("the manifest's `{name}` filter: {e}"))
        };
        let incidents = self
            .incidents
            .iter()
            .map(|id| {
                id.parse::<IncidentId>()
                    .map_err(|e| format!("the manifest's `incidents` filter: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;

        Ok(Filter {
            since: bound("since", &self.since)?,
            until: bound("until", &self.until)?,
            runbook: self.runbook.clone(),
            severity: self.severity.clone(),
            incidents,
            include_drills: self.include_drills,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_as_until_covers_the_whole_day() {
        let until: Bound = "2026-12-03".parse().unwrap();
        assert_eq!(until.end().to_string(), "2026-12-04T00:00:00Z");
        let exact: Bound = "2026-12-03T10:00:00Z".parse().unwrap();
        assert_eq!(exact.end(), exact.at);
    }

    #[test]
    fn a_bound_that_is_neither_a_time_nor_a_date_is_refused_with_the_text() {
        let error = "yesterday".parse::<Bound>().unwrap_err();
        assert!(
            error.to_string().starts_with("`yesterday` is not a time"),
            "{error}"
        );
    }
}
