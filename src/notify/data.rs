//! What the log says about an incident, as escalation rules and templates need it.
//!
//! [`History`] reads an incident's events once and answers questions about them (when was a
//! node entered, is the walk stuck, when was a template sent). [`template_data`] turns it into
//! the data templates render with; the names are listed in [`crate::notify`].

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::error::NotifyError;
use super::escalation::Anchor;
use super::policy::Policy;
use crate::runbook::{NodeId, Runbook};
use crate::store::{Event, EventRecord, Incident, IncidentId, IncidentState, Store, StoreError};

/// An incident with its events and, when its pinned source still parses, its runbook.
pub(crate) struct History {
    pub incident: Incident,
    pub runbook: Option<Runbook>,
    pub events: Vec<EventRecord>,
}

impl History {
    /// Reads incident `id` from the log.
    pub fn read(store: &Store, id: &IncidentId) -> Result<History, StoreError> {
        let incident = store.incident(id)?;
        let events = store.events(id)?;
        let runbook = crate::runbook::parse_pinned(&incident.runbook_source)
            .map_err(|problems| {
                tracing::debug!(%id, problems = problems.len(), "pinned runbook does not parse");
            })
            .ok();
        Ok(History {
            incident,
            runbook,
            events,
        })
    }

    /// The title of a node, or its id when the runbook is not at hand.
    pub fn title(&self, node: &str) -> String {
        self.runbook
            .as_ref()
            .and_then(|runbook| runbook.node(&NodeId(node.to_owned())))
            .map_or_else(|| node.to_owned(), |n| n.title.clone())
    }

    /// The `within` limit of a node.
    pub fn within(&self, node: &str) -> Option<SignedDuration> {
        let runbook = self.runbook.as_ref()?;
        runbook.node(&NodeId(node.to_owned()))?.within
    }

    /// The node the walk is at and when it was entered, if the walk has not finished it.
    pub fn current_unfinished(&self) -> Option<(&str, Timestamp)> {
        let (index, node) = self
            .events
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, record)| match &record.event {
                Event::NodeEntered { node } => Some((i, node.as_str())),
                _ => None,
            })?;
        let finished = self.events[index + 1..].iter().any(|record| {
            matches!(
                &record.event,
                Event::AnswerGiven { node: n, .. }
                | Event::StepCompleted { node: n, .. }
                | Event::ActionFinished { node: n, .. }
                | Event::ApprovalCompleted { node: n, .. }
                | Event::IncidentClosed { node: n, .. } if n == node
            ) || matches!(
                &record.event,
                Event::NotificationQueued { node: Some(n), .. } if n == node
            )
        });
        (!finished).then_some((node, self.events[index].at))
    }

    /// When `anchor` first happened in this incident.
    pub fn anchor(&self, anchor: &Anchor) -> Option<Timestamp> {
        match anchor {
            Anchor::Opened => Some(self.incident.opened_at),
            Anchor::Entered(wanted) => {
                self.first(|event| matches!(event, Event::NodeEntered { node } if node == wanted))
            }
            Anchor::Answered { node, option } => self.first(|event| {
                matches!(event, Event::AnswerGiven { node: n, option: o, .. }
                    if n == node && o == option)
            }),
            Anchor::Notified(template) => {
                let mut queued: HashMap<&str, &str> = HashMap::new();
                self.events.iter().find_map(|record| match &record.event {
                    Event::NotificationQueued {
                        notification,
                        template,
                        ..
                    } => {
                        queued.insert(notification, template);
                        None
                    }
                    Event::NotificationSent { notification, .. }
                        if queued.get(notification.as_str()) == Some(&template.as_str()) =>
                    {
                        Some(record.at)
                    }
                    _ => None,
                })
            }
        }
    }

    fn first(&self, matches: impl Fn(&Event) -> bool) -> Option<Timestamp> {
        self.events
            .iter()
            .find(|record| matches(&record.event))
            .map(|record| record.at)
    }
}

/// The data templates render with for incident `id` at `now`, built from the log; `node` is
/// the node the walk is at. See [`crate::notify`] for the names.
pub fn template_data(
    store: &Store,
    policy: &Policy,
    id: &IncidentId,
    now: Timestamp,
) -> Result<Value, NotifyError> {
    let history = History::read(store, id)?;
    Ok(data(&history, policy, now))
}

pub(crate) fn data(history: &History, policy: &Policy, now: Timestamp) -> Value {
    let incident = &history.incident;
    let mut inputs = Map::new();
    if let Some(runbook) = &history.runbook {
        for input in &runbook.inputs {
            inputs.insert(input.name.clone(), Value::Null);
        }
    }
    let mut path = Vec::new();
    let mut outputs = Map::new();
    let mut fields = Map::new();
    let mut answers = Map::new();
    let mut approvals = Vec::new();

    for record in &history.events {
        let at = when(record.at);
        match &record.event {
            Event::IncidentOpened { inputs: given, .. } => {
                inputs.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Event::NodeEntered { node } => {
                path.push(json!({"node": node, "title": history.title(node), "at": at}));
            }
            Event::ActionFinished {
                node,
                outputs: values,
                ..
            } => {
                outputs.insert(node.clone(), Value::Object(values.clone()));
            }
            Event::StepCompleted {
                node,
                fields: values,
                ..
            } => {
                fields.insert(node.clone(), Value::Object(values.clone()));
            }
            Event::AnswerGiven { node, option, .. } => {
                answers.insert(node.clone(), json!(option));
            }
            Event::ApprovalGranted {
                node, person, role, ..
            } => {
                approvals.push(json!({"node": node, "who": person, "role": role, "when": at}));
            }
            _ => {}
        }
    }

    let deadlines: Vec<Value> = policy
        .escalation
        .deadlines(history)
        .into_iter()
        .map(|state| {
            let status = state.status(now);
            json!({
                "name": state.name,
                "title": state.title,
                "due": when(state.due),
                "status": status,
                "met": status == "met",
                "missed": status == "missed",
            })
        })
        .collect();

    let node = history
        .current_unfinished()
        .map(|(node, _)| node.to_owned())
        .or_else(|| {
            path.last()
                .and_then(|p| p["node"].as_str().map(str::to_owned))
        })
        .unwrap_or_default();
    let state = match incident.state {
        IncidentState::Open => "open",
        IncidentState::Closed => "closed",
    };

    json!({
        "incident": {
            "id": incident.id.to_string(),
            "title": incident.title,
            "runbook": incident.runbook_id,
            "severity": incident.severity,
            "rehearsal": incident.rehearsal,
            "opened": when(incident.opened_at),
            "initiator": incident.initiator,
            "elapsed": clock(now.duration_since(incident.opened_at)),
            "state": state,
        },
        "inputs": inputs,
        "path": path,
        "outputs": outputs,
        "fields": fields,
        "answers": answers,
        "approvals": approvals,
        "deadlines": deadlines,
        "node": {"id": node, "title": history.title(&node)},
    })
}

/// A time as messages write it: `2026-12-03 19:00 UTC`.
pub(crate) fn when(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// A duration as messages write it: `4 h 05 min`, `2 d 3 h 00 min`, `12 min`, and `40 s`
/// under a minute.
pub(crate) fn clock(duration: SignedDuration) -> String {
    let seconds = duration.as_secs().max(0);
    let minutes = seconds / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) if minutes == 0 => format!("{seconds} s"),
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes:02} min"),
        _ => format!("{days} d {hours} h {minutes:02} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_hours_and_minutes() {
        assert_eq!(clock(SignedDuration::from_secs(40)), "40 s");
        assert_eq!(clock(SignedDuration::from_mins(12)), "12 min");
        assert_eq!(clock(SignedDuration::from_mins(245)), "4 h 05 min");
        assert_eq!(clock(SignedDuration::from_hours(51)), "2 d 3 h 00 min");
    }

    #[test]
    fn times_read_in_utc_to_the_minute() {
        let at: Timestamp = "2026-12-03T19:00:42Z".parse().unwrap();
        assert_eq!(when(at), "2026-12-03 19:00 UTC");
    }
}
