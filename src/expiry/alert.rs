//! Raising an object's alerts and incidents in the log, each once.
//!
//! Every monitored object that has something to say gets a watch incident, opened from the
//! built-in `expiry-watch` runbook (`src/expiry/watch.yaml`) with the title `Expiry watch:
//! NAME` and never walked. An alert is a notification queued on it under the escalation key
//! `expiry:END:BAND` (end date, then band), so the outbox's uniqueness makes it go out once
//! per object, end and band, even when two checks race; a renewed certificate has a new end
//! and is alerted afresh. The queueing also appends `escalation_fired` to the watch, which is
//! the durable record of the alert.
//!
//! An incident from the object's runbook is found again by its title, `RUNBOOK TITLE: NAME,
//! ending DATE`, so it is opened once per object and end.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::inventory::{Band, Object};
use super::position::Position;
use crate::engine::fields::check_value;
use crate::notify::{NotifyError, Policy, queue_once};
use crate::runbook::{Loaded, Word};
use crate::store::{Event, IncidentId, Opening, Store, StoreError};

/// The source of the watch runbook.
pub const WATCH_RUNBOOK: &str = include_str!("watch.yaml");

/// The id the watch runbook declares.
pub const WATCH_ID: &str = "expiry-watch";

/// The actor of everything expiry monitoring writes to the log.
pub const ACTOR: &str = "custos-expiry";

/// What one object's alert is about, as the watch records it.
pub struct Due<'a> {
    pub object: &'a Object,
    /// Where the end date was read, as the table shows it.
    pub source: String,
    /// The effective end.
    pub end: Timestamp,
    /// The band the object is in at the check's `now`.
    pub position: Position,
    /// Whole days from `now` to `end`, negative once past.
    pub days_left: i64,
}

impl Due<'_> {
    /// The escalation key that makes this alert go out once.
    pub fn key(&self) -> String {
        let band = self.position.name().unwrap_or_default();
        format!("expiry:{}:{band}", self.end_date())
    }

    /// The rule name templates see as `escalation.rule`.
    pub fn rule(&self) -> String {
        match self.position {
            Position::Band(days) => format!("expiry-{days}-days"),
            Position::Expired | Position::Clear => String::from("expiry-expired"),
        }
    }

    /// The sentence templates see as `escalation.reason`.
    pub fn reason(&self) -> String {
        let what = format!(
            "{} `{}` ({})",
            self.object.kind, self.object.name, self.source
        );
        let end = self.end.strftime("%Y-%m-%d %H:%M UTC");
        match self.position {
            Position::Expired => format!("{what} ended {end}, {} ago", days(-self.days_left)),
            Position::Band(band) => format!(
                "{what} ends {end}: {} left, inside the {band}-day band",
                days(self.days_left)
            ),
            Position::Clear => format!("{what} ends {end}"),
        }
    }

    fn end_date(&self) -> String {
        self.end.strftime("%Y-%m-%d").to_string()
    }
}

/// `1 day`, `29 days`.
fn days(count: i64) -> String {
    if count == 1 {
        String::from("1 day")
    } else {
        format!("{count} days")
    }
}

/// The watch incident of `object`, if one was opened before.
pub fn find_watch(
    store: &Store,
    object: &Object,
    rehearsal: bool,
) -> Result<Option<IncidentId>, StoreError> {
    store.incident_titled(WATCH_ID, &watch_title(object), rehearsal)
}

/// Queues the alert of `band` (or of expiry) for `due` unless it went out before: the watch
/// incident it is queued on, and whether it was queued now.
pub fn raise(
    store: &mut Store,
    policy: &Policy,
    due: &Due<'_>,
    band: &super::inventory::Alert,
    rehearsal: bool,
    now: Timestamp,
) -> Result<(IncidentId, bool), NotifyError> {
    let watch = open_watch(store, due, rehearsal, now)?;

    let queued = queue_once(
        store,
        policy,
        &watch,
        &band.notify,
        &band.template,
        &due.key(),
        (&due.rule(), &due.reason()),
        now,
    )?;
    if queued.is_some() {
        tracing::debug!(object = %due.object.name, key = %due.key(), "expiry alert queued");
    }
    Ok((watch, queued.is_some()))
}

/// The object's watch incident, opened now if it has none.
// Known limit: a watch is never walked, but one someone walked to its end takes no more
// notifications; its object's alerts then fail with the store's error, loudly, rather than
// open a fresh watch that would send the earlier bands' alerts again.
fn open_watch(
    store: &mut Store,
    due: &Due<'_>,
    rehearsal: bool,
    now: Timestamp,
) -> Result<IncidentId, StoreError> {
    let mut inputs = Map::new();
    inputs.insert("object".into(), json!(due.object.name));
    inputs.insert("kind".into(), json!(due.object.kind.as_str()));
    inputs.insert("source".into(), json!(due.source));
    let opening = Opening {
        runbook_id: WATCH_ID.to_owned(),
        runbook_version: 1,
        runbook_source: WATCH_RUNBOOK.to_owned(),
        title: watch_title(due.object),
        severity: String::from("low"),
        rehearsal,
        initiator: ACTOR.to_owned(),
        inputs,
    };

    let entered = Event::NodeEntered {
        node: String::from("watch"),
    };
    let (watch, opened) = store.open_incident_once(&opening, now, vec![entered])?;
    if opened {
        tracing::debug!(object = %due.object.name, %watch, "expiry watch opened");
    }
    Ok(watch)
}

fn watch_title(object: &Object) -> String {
    format!("Expiry watch: {}", object.name)
}

/// The incident opened from `loaded` for `due`, and whether it was opened now.
pub fn open_incident(
    store: &mut Store,
    loaded: &Loaded,
    due: &Due<'_>,
    rehearsal: bool,
    now: Timestamp,
) -> Result<(IncidentId, bool), IncidentError> {
    let runbook = &loaded.runbook;
    if let Some(found) = find_incident(store, loaded, due, rehearsal)? {
        return Ok((found, false));
    }
    let title = incident_title(loaded, due);

    let inputs = inputs(loaded, due.object)?;
    let opening = Opening {
        runbook_id: runbook.id.clone(),
        runbook_version: runbook.version,
        runbook_source: loaded.source.clone(),
        title,
        severity: runbook.severity.name().to_owned(),
        rehearsal,
        initiator: ACTOR.to_owned(),
        inputs,
    };
    let entered = Event::NodeEntered {
        node: runbook.start.target.to_string(),
    };
    let (incident, opened) = store.open_incident_once(&opening, now, vec![entered])?;
    if !opened {
        return Ok((incident, false));
    }

    if let Some(watch) = find_watch(store, due.object, rehearsal)? {
        let note = Event::NoteAdded {
            node: String::from("watch"),
            text: format!(
                "{incident} opened from runbook `{}`: {}",
                runbook.id,
                due.reason()
            ),
        };
        store.append(&watch, ACTOR, now, &[note])?;
    }
    Ok((incident, true))
}

/// The incident opened from `loaded` for `due` before, if one was.
pub fn find_incident(
    store: &Store,
    loaded: &Loaded,
    due: &Due<'_>,
    rehearsal: bool,
) -> Result<Option<IncidentId>, StoreError> {
    let title = incident_title(loaded, due);
    store.incident_titled(&loaded.runbook.id, &title, rehearsal)
}

fn incident_title(loaded: &Loaded, due: &Due<'_>) -> String {
    format!(
        "{}: {}, ending {}",
        loaded.runbook.title,
        due.object.name,
        due.end_date()
    )
}

/// The runbook's inputs from the object's `inputs`, each checked against its type.
pub(crate) fn inputs(
    loaded: &Loaded,
    object: &Object,
) -> Result<Map<String, Value>, IncidentError> {
    let runbook = &loaded.runbook;
    if let Some(unknown) = object
        .inputs
        .keys()
        .find(|name| !runbook.inputs.iter().any(|input| &input.name == *name))
    {
        return Err(IncidentError::Input(format!(
            "runbook `{}` has no input `{unknown}`",
            runbook.id
        )));
    }

    let mut values = Map::new();
    for input in &runbook.inputs {
        match object.inputs.get(&input.name) {
            Some(value) => {
                let value = check_value(input, value).map_err(|reason| {
                    IncidentError::Input(format!("input `{}` {reason}", input.name))
                })?;
                values.insert(input.name.clone(), value);
            }
            None if input.required => {
                return Err(IncidentError::Input(format!(
                    "runbook `{}` needs the input `{}`; give it under the object's `inputs`",
                    runbook.id, input.name
                )));
            }
            None => {}
        }
    }
    Ok(values)
}

/// Why an incident could not be opened for an object.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    /// The object's inputs do not fit the runbook.
    #[error("{0}")]
    Input(String),

    /// The log refused the write.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The alert of the band an object is in: the band's own, or the inventory's for expiry.
pub fn alert_of<'a>(
    object: &'a Object,
    position: Position,
    expired: &'a super::inventory::Alert,
) -> Option<&'a super::inventory::Alert> {
    match position {
        Position::Expired => Some(expired),
        Position::Band(days) => object
            .bands
            .iter()
            .find(|band: &&Band| band.days == days)
            .map(|band| &band.alert),
        Position::Clear => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::Context;

    #[test]
    fn the_watch_runbook_is_a_valid_runbook_with_the_declared_id() {
        let runbook = crate::runbook::parse(WATCH_RUNBOOK, None, &Context::default()).unwrap();

        assert_eq!(runbook.id, WATCH_ID);
        assert_eq!(runbook.start.target.to_string(), "watch");
    }
}
