//! Where a walk stands, rebuilt from nothing but its events.
//!
//! The log is the only state: a walk that resumes after a crash reads the events back and
//! arrives at exactly the node, visit counts and values it had. The same replay gives the data
//! that guidance templates are rendered with.

use crate::runbook::{NodeId, Runbook};
use crate::store::{Event, EventRecord, IncidentId};
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// What the log says about an incident's walk so far.
#[derive(Debug, Default)]
pub struct WalkState {
    pub inputs: Map<String, Value>,
    /// The node the walk is at: the last one entered. `None` before the first node.
    pub current: Option<NodeId>,
    /// How many times each node has been entered.
    pub visits: HashMap<String, u32>,
    /// Every node entered, in order, with the time it was entered.
    pub path: Vec<(String, Timestamp)>,
    pub fields: Map<String, Value>,
    pub outputs: Map<String, Value>,
    pub answers: Map<String, Value>,
    /// An action at the current node was started and never finished: the process stopped.
    pub interrupted_action: Option<String>,
    /// The notification the current visit of a notify node has queued, if it has: a walk that
    /// stopped after queueing must deliver that one, not queue another.
    pub queued_here: Option<String>,
    pub closed: Option<String>,
    pub opened: Option<Timestamp>,
    pub initiator: String,
    pub rehearsal: bool,
}

impl WalkState {
    /// Replays `records`, which are the events of one incident in order.
    pub fn replay(records: &[EventRecord]) -> Self {
        let mut state = Self::default();
        for record in records {
            state.apply(record);
        }
        state
    }

    /// Takes one more event into account.
    pub fn apply(&mut self, record: &EventRecord) {
        match &record.event {
            Event::IncidentOpened {
                inputs, rehearsal, ..
            } => {
                self.inputs = inputs.clone();
                self.opened = Some(record.at);
                self.initiator = record.actor.clone();
                self.rehearsal = *rehearsal;
            }
            Event::NodeEntered { node } => {
                *self.visits.entry(node.clone()).or_default() += 1;
                self.path.push((node.clone(), record.at));
                self.current = Some(NodeId(node.clone()));
                self.interrupted_action = None;
                self.queued_here = None;
            }
            Event::NotificationQueued {
                node: Some(node),
                notification,
                ..
            } if self
                .current
                .as_ref()
                .is_some_and(|current| current.as_str() == node) =>
            {
                self.queued_here = Some(notification.clone());
            }
            Event::StepCompleted { node, fields, .. } => {
                self.fields
                    .insert(node.clone(), Value::Object(fields.clone()));
            }
            Event::AnswerGiven { node, option, .. } => {
                self.answers
                    .insert(node.clone(), Value::String(option.clone()));
            }
            Event::ActionStarted { node, .. } => self.interrupted_action = Some(node.clone()),
            Event::ActionFinished {
                node, outputs, ok, ..
            } => {
                self.interrupted_action = None;
                if *ok {
                    self.outputs
                        .insert(node.clone(), Value::Object(outputs.clone()));
                }
            }
            Event::IncidentClosed { outcome, .. } => self.closed = Some(outcome.clone()),
            _ => {}
        }
    }

    /// How many times `node` has been entered.
    pub fn visits_of(&self, node: &NodeId) -> u32 {
        self.visits.get(node.as_str()).copied().unwrap_or(0)
    }

    /// The data templates are rendered with at this point of the walk.
    pub fn template_data(&self, id: &IncidentId, runbook: &Runbook) -> Value {
        json!({
            "inputs": self.inputs,
            "fields": self.fields,
            "outputs": self.outputs,
            "answers": self.answers,
            "incident": {
                "id": id.to_string(),
                "opened": self.opened.map(|at| at.to_string()).unwrap_or_default(),
                "initiator": self.initiator,
                "rehearsal": self.rehearsal,
                "runbook": runbook.id,
                "title": runbook.title,
            },
        })
    }
}
