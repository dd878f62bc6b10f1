//! The walk: from node to node, each move written to the log before the next question.
//!
//! Every move is one append of one transaction: what was decided at the node being left, and
//! the entry into the next node. So the log never holds half a move, and the walk can always
//! be rebuilt from it ([`WalkState::replay`]) and resumed where it stopped. An automated action
//! is the one exception: its start is written before it runs, so a crash while it runs is seen
//! on resume and the action is reported as interrupted instead of silently run twice.

use super::clock::Clock;
use super::responder::{ApprovalMove, Done, Responder, Stop, View, Waiting};
use super::state::WalkState;
use crate::catalog::{self, ParamKind};
use crate::runbook::{
    Edge, EdgeLabel, Input, Loaded, Node, NodeId, NodeKind, Runbook, Word, template,
};
use crate::store::signing::SigningKey;
use crate::store::{
    Event, EventRecord, IncidentId, Opening, Origin, Participant, Store, StoreError,
};
use jiff::Timestamp;
use serde_json::{Map, Value};
use std::time::Duration;

/// What went wrong in a walk that is not the responder's choice to stop.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("incident {0} is closed; `custos log {0}` shows its record")]
    AlreadyClosed(IncidentId),
    #[error("the log of incident {incident} names node `{node}`, which its runbook does not have")]
    UnknownNode { incident: IncidentId, node: String },
    #[error("the incident could not be opened: {0}")]
    NotOpened(String),
}

/// How a walk ended this time.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The incident reached an end node and was sealed.
    Closed { node: String, outcome: String },
    /// The walk stopped at a node; the incident stays open to resume.
    Paused {
        node: String,
        reason: String,
        stop: Stop,
    },
}

/// An automated step that failed, in words a person understands.
#[derive(Debug, Clone)]
pub struct ActionFailure {
    pub message: String,
    /// Whether trying again might help (a device error) or not (a locked PIN).
    pub retryable: bool,
}

/// Runs the automated actions of the catalog.
pub trait Actions {
    /// Runs `action` with rendered parameters; returns its outputs.
    fn run(
        &mut self,
        action: &str,
        params: &Map<String, Value>,
        rehearsal: bool,
        timeout: Duration,
    ) -> Result<Map<String, Value>, ActionFailure>;
}

/// How approval nodes and notify nodes are carried out; see [`super::gates`].
pub trait Gates {
    /// Tries one approval; appends the granted or refused event itself.
    fn attempt(
        &mut self,
        walk: &mut WalkContext<'_>,
        node: &Node,
        person: &str,
        passphrase: &str,
    ) -> Result<Result<(), String>, EngineError>;

    /// Who has approved at `node` since it was last entered, and whether that is enough.
    fn quorum(&self, records: &[EventRecord], node: &Node) -> (Vec<String>, bool);

    /// Queues and sends the notification of a notify node: what to tell the walker, or why it
    /// could not be queued (the walk goes on and records the reason).
    fn notify(
        &mut self,
        walk: &mut WalkContext<'_>,
        node: &Node,
    ) -> Result<Result<String, String>, EngineError>;

    /// Whether the values of a step's `person` fields may be recorded: people of the roster,
    /// and never one person for two components of one key; why not otherwise.
    fn people(
        &self,
        walk: &WalkContext<'_>,
        fields: &[Input],
        values: &Map<String, Value>,
    ) -> Result<(), String>;

    /// Whether a ceremony's participants may be recorded as they are given; why not otherwise.
    fn participants(&self, participants: &[Participant], at: Timestamp) -> Result<(), String>;

    /// Sends what has fallen due (escalations, retries); called between moves.
    fn tick(&mut self, walk: &mut WalkContext<'_>) -> Result<Vec<String>, EngineError> {
        let _ = walk;
        Ok(Vec::new())
    }
}

/// What a walk is doing, lent to [`Gates`] so they can read and append.
pub struct WalkContext<'a> {
    pub store: &'a mut Store,
    pub runbook: &'a Runbook,
    pub incident: IncidentId,
    pub actor: String,
    pub clock: Clock,
    pub state: WalkState,
}

/// Who is walking and how.
pub struct Walker<'a> {
    pub context: WalkContext<'a>,
    pub responder: &'a mut dyn Responder,
    pub actions: &'a mut dyn Actions,
    pub gates: &'a mut dyn Gates,
    pub key: &'a SigningKey,
    /// How often to look for approvals from other terminals while waiting.
    pub poll: Duration,
    /// How long to wait for them before pausing the walk.
    pub patience: Duration,
}

/// Proof that the person opening an incident is who they say: recorded as
/// `initiator_authenticated` with the incident's first events.
#[derive(Clone, Debug)]
pub struct InitiatorProof {
    pub person: String,
    pub origin: Origin,
    /// The fingerprint of the credential they authenticated with.
    pub credential: String,
}

/// How an incident is opened.
pub struct Start<'a> {
    pub loaded: &'a Loaded,
    /// Who opens it: the actor of its first events.
    pub actor: &'a str,
    pub rehearsal: bool,
    /// The clock it runs on; a drill's set clock is recorded in `incident_opened`.
    pub clock: Clock,
    /// Set when the initiator authenticated.
    pub initiator: Option<InitiatorProof>,
}

/// Asks the inputs (and a ceremony's participants), opens the incident and enters the start
/// node.
pub fn open(
    store: &mut Store,
    start: &Start<'_>,
    responder: &mut dyn Responder,
    gates: &dyn Gates,
) -> Result<Result<IncidentId, Stop>, EngineError> {
    let Start {
        loaded,
        actor,
        rehearsal,
        clock,
        ..
    } = *start;
    let runbook = &loaded.runbook;
    let inputs = match responder.inputs(&runbook.inputs) {
        Ok(inputs) => inputs,
        Err(stop) => return Ok(Err(stop)),
    };
    let opening = Opening {
        runbook_id: runbook.id.clone(),
        runbook_version: runbook.version,
        runbook_source: loaded.source.clone(),
        title: runbook.title.clone(),
        severity: runbook.severity.name().to_owned(),
        rehearsal,
        initiator: actor.to_owned(),
        inputs,
    };
    let participants = if runbook.ceremony {
        match participants(responder, gates, clock) {
            Ok(participants) => participants,
            Err(stop) => return Ok(Err(stop)),
        }
    } else {
        Vec::new()
    };

    let incident = if rehearsal && clock.is_set() {
        store.open_drill_on_clock(&opening, clock.now(), clock.offset_ms())?
    } else {
        store.open_incident(&opening, clock.now())?
    };
    let mut first = Vec::new();
    if let Some(proof) = &start.initiator {
        first.push(Event::InitiatorAuthenticated {
            person: proof.person.clone(),
            origin: proof.origin.clone(),
            credential: proof.credential.clone(),
        });
    }
    if !participants.is_empty() {
        first.push(Event::ParticipantsRecorded { participants });
    }
    first.push(Event::NodeEntered {
        node: runbook.start.target.to_string(),
    });
    store.append(&incident, actor, clock.now(), &first)?;
    Ok(Ok(incident))
}

/// A ceremony's participants, once the roster accepts them; a person at a terminal is asked
/// again after a refusal.
fn participants(
    responder: &mut dyn Responder,
    gates: &dyn Gates,
    clock: Clock,
) -> Result<Vec<Participant>, Stop> {
    loop {
        let participants = responder.participants()?;
        match gates.participants(&participants, clock.now()) {
            Ok(()) => return Ok(participants),
            Err(reason) if responder.interactive() => responder.tell(&format!("refused: {reason}")),
            Err(reason) => {
                return Err(Stop::Invalid(format!(
                    "the participants cannot be recorded: {reason}"
                )));
            }
        }
    }
}

impl<'a> Walker<'a> {
    /// Walks from where the log says the incident is until it closes or stops.
    pub fn walk(&mut self) -> Result<Ending, EngineError> {
        let records = self.context.store.events(&self.context.incident)?;
        self.context.state = WalkState::replay(&records);
        if self.context.state.closed.is_some() {
            return Err(EngineError::AlreadyClosed(self.context.incident));
        }
        if self.context.state.current.is_none() {
            let start = self.context.runbook.start.target.clone();
            self.append(&[Event::NodeEntered {
                node: start.to_string(),
            }])?;
        }

        loop {
            for message in self.gates.tick(&mut self.context)? {
                self.responder.tell(&message);
            }
            let node = self.current()?;
            if let Some(ending) = self.step(node)? {
                return Ok(ending);
            }
        }
    }

    fn current(&self) -> Result<&'a Node, EngineError> {
        let state = &self.context.state;
        let id = state
            .current
            .clone()
            .unwrap_or_else(|| self.context.runbook.start.target.clone());
        let runbook: &'a Runbook = self.context.runbook;
        runbook.node(&id).ok_or_else(|| EngineError::UnknownNode {
            incident: self.context.incident,
            node: id.to_string(),
        })
    }

    /// Does what `node` asks and moves on; `Some` when the walk ends here.
    fn step(&mut self, node: &'a Node) -> Result<Option<Ending>, EngineError> {
        let view = self.view(node);
        self.responder.arrive(&view);

        let result = match &node.kind {
            NodeKind::End { outcome } => return self.close(node, outcome.name()).map(Some),
            NodeKind::Step { fields, next } => match self.complete(&view, fields) {
                Ok(done) => {
                    let mut events = notes(node, done.notes);
                    let next_id = next.target.to_string();
                    events.push(Event::StepCompleted {
                        node: node.id.to_string(),
                        fields: done.fields,
                        next: next_id,
                    });
                    self.move_to(events, &next.target)
                }
                Err(stop) => Err(stop.into()),
            },
            NodeKind::Decision { options } => match self.responder.decide(&view, options) {
                Ok(choice) => {
                    let edge = chosen(options, &choice.option);
                    let mut events = notes(node, choice.notes);
                    events.push(Event::AnswerGiven {
                        node: node.id.to_string(),
                        option: choice.option,
                        next: edge.target.to_string(),
                    });
                    self.move_to(events, &edge.target)
                }
                Err(stop) => Err(stop.into()),
            },
            NodeKind::Action(_) => self.act(node, &view),
            NodeKind::Approval { next, .. } => self.approve(node, &view, next),
            NodeKind::Notify { next, .. } => {
                let mut events = Vec::new();
                match self.gates.notify(&mut self.context, node)? {
                    Ok(message) => self.responder.tell(&message),
                    Err(reason) => {
                        let text = format!("the notification was not queued: {reason}");
                        self.responder.tell(&text);
                        events.push(Event::NoteAdded {
                            node: node.id.to_string(),
                            text,
                        });
                    }
                }
                events.extend(notes(node, self.responder.notes(&view)));
                self.move_to(events, &next.target)
            }
        };

        match result {
            Ok(()) => Ok(None),
            Err(Halt::Stop(stop)) => self.pause(node, stop).map(Some),
            Err(Halt::Error(error)) => Err(error),
        }
    }

    /// The step's fields, once the people they name may be recorded; a person at a terminal is
    /// asked again after a refusal, a script stops.
    fn complete(&mut self, view: &View<'_>, fields: &[Input]) -> Result<Done, Stop> {
        loop {
            let done = self.responder.complete(view, fields)?;
            let Err(reason) = self.gates.people(&self.context, fields, &done.fields) else {
                return Ok(done);
            };
            let reason = format!("the step `{}` cannot be recorded: {reason}", view.node.id);
            if !self.responder.interactive() {
                return Err(Stop::Invalid(reason));
            }
            self.responder.tell(&format!("refused: {reason}"));
        }
    }

    fn view<'n>(&self, node: &'n Node) -> View<'n> {
        let state = &self.context.state;
        let guidance = node.guidance.as_ref().map(|guidance| {
            let data = state.template_data(&self.context.incident, self.context.runbook);
            let registry = template::registry();
            template::render(&registry, &guidance.text, &data).unwrap_or_else(|error| {
                format!(
                    "{}\n(custos could not fill in this guidance: {error})",
                    guidance.text
                )
            })
        });
        let skip = state.path.len().saturating_sub(super::responder::RECENT);
        let recent = state.path[skip..]
            .iter()
            .map(|(node, _)| node.clone())
            .collect();
        View {
            incident: self.context.incident,
            node,
            guidance,
            visit: state.visits_of(&node.id).max(1),
            step: state.path.len(),
            recent,
            rehearsal: state.rehearsal,
        }
    }

    /// Appends `events` and the entry into `target`, or into where its visit limit sends.
    fn move_to(&mut self, mut events: Vec<Event>, target: &NodeId) -> Result<(), Halt> {
        let mut target = target.clone();
        let limit = self.context.runbook.nodes.len();
        for _ in 0..=limit {
            let Some(node) = self.context.runbook.node(&target) else {
                break;
            };
            let (Some(max), Some(exhausted)) = (node.max_visits, &node.on_exhausted) else {
                break;
            };
            if self.context.state.visits_of(&target) < max {
                break;
            }
            events.push(Event::NoteAdded {
                node: target.to_string(),
                text: format!(
                    "`{target}` has been visited {max} times, its limit; going to `{}` instead",
                    exhausted.target
                ),
            });
            target = exhausted.target.clone();
        }
        events.push(Event::NodeEntered {
            node: target.to_string(),
        });
        self.append(&events)?;
        Ok(())
    }

    fn append(&mut self, events: &[Event]) -> Result<Vec<EventRecord>, StoreError> {
        let context = &mut self.context;
        let records = context.store.append(
            &context.incident,
            &context.actor,
            context.clock.now(),
            events,
        )?;
        for record in &records {
            context.state.apply(record);
        }
        Ok(records)
    }

    fn act(&mut self, node: &Node, view: &View<'_>) -> Result<(), Halt> {
        let NodeKind::Action(action) = &node.kind else {
            return Ok(());
        };
        let name = action.run.name.clone();
        let id = node.id.to_string();

        if self.context.state.interrupted_action.as_deref() == Some(id.as_str()) {
            let error =
                "interrupted: custos stopped while the action ran, so its effect on the HSM is \
                         unknown; check by hand before going on"
                    .to_owned();
            self.responder.tell(&format!(
                "{name} was interrupted; taking the failure branch"
            ));
            return self.finish_action(
                node,
                &name,
                Err(ActionFailure {
                    message: error,
                    retryable: false,
                }),
                view,
            );
        }

        let params = match self.params(node) {
            Ok(params) => params,
            Err(message) => {
                return self.finish_action(
                    node,
                    &name,
                    Err(ActionFailure {
                        message,
                        retryable: false,
                    }),
                    view,
                );
            }
        };
        let started = Event::ActionStarted {
            node: id,
            action: name.clone(),
            params: params.clone(),
        };
        self.append(&[started])?;

        let timeout = action
            .timeout
            .and_then(|timeout| Duration::try_from(timeout).ok())
            .unwrap_or(DEFAULT_TIMEOUT);
        self.responder.working(&format!("{name} ({})", node.title));
        let result = self
            .actions
            .run(&name, &params, self.context.state.rehearsal, timeout);
        self.responder.finished();
        self.finish_action(node, &name, result, view)
    }

    fn finish_action(
        &mut self,
        node: &Node,
        name: &str,
        result: Result<Map<String, Value>, ActionFailure>,
        view: &View<'_>,
    ) -> Result<(), Halt> {
        let NodeKind::Action(action) = &node.kind else {
            return Ok(());
        };
        let (ok, outputs, error, edge) = match result {
            Ok(outputs) => {
                self.responder.tell(&summary(name, &outputs));
                (true, outputs, None, &action.on_success)
            }
            Err(failure) => {
                let retry = if failure.retryable {
                    " (trying again may help)"
                } else {
                    ""
                };
                self.responder
                    .tell(&format!("{name} failed: {}{retry}", failure.message));
                (false, Map::new(), Some(failure.message), &action.on_failure)
            }
        };
        let mut events = notes(node, self.responder.notes(view));
        events.push(Event::ActionFinished {
            node: node.id.to_string(),
            action: name.to_owned(),
            ok,
            outputs,
            error,
            next: edge.target.to_string(),
        });
        self.move_to(events, &edge.target)
    }

    /// The action's parameters with templates filled in from the walk so far.
    fn params(&self, node: &Node) -> Result<Map<String, Value>, String> {
        let NodeKind::Action(action) = &node.kind else {
            return Ok(Map::new());
        };
        let spec = catalog::action(&action.run.name);
        let data = self
            .context
            .state
            .template_data(&self.context.incident, self.context.runbook);
        let registry = template::registry();
        let mut params = Map::new();

        for param in &action.params {
            let value = match param.value.as_str().filter(|text| text.contains("{{")) {
                Some(text) => {
                    let rendered = template::render(&registry, text, &data).map_err(|error| {
                        format!("parameter `{}` could not be filled in: {error}", param.name)
                    })?;
                    let integer = spec
                        .and_then(|spec| spec.param(&param.name))
                        .is_some_and(|p| p.kind == ParamKind::Integer);
                    match rendered.trim().parse::<u64>() {
                        Ok(number) if integer => Value::from(number),
                        _ if integer => {
                            return Err(format!(
                                "parameter `{}` is `{rendered}`, not a whole number",
                                param.name
                            ));
                        }
                        _ => Value::String(rendered),
                    }
                }
                None => param.value.clone(),
            };
            params.insert(param.name.clone(), value);
        }
        Ok(params)
    }

    fn approve(&mut self, node: &Node, view: &View<'_>, next: &Edge) -> Result<(), Halt> {
        let NodeKind::Approval { require, .. } = &node.kind else {
            return Ok(());
        };
        let mut waited = Duration::ZERO;
        loop {
            let records = self.context.store.events(&self.context.incident)?;
            let (people, met) = self.gates.quorum(&records, node);
            if met {
                let mut events = notes(node, self.responder.notes(view));
                events.push(Event::ApprovalCompleted {
                    node: node.id.to_string(),
                    people,
                    next: next.target.to_string(),
                });
                return self.move_to(events, &next.target);
            }

            match self.responder.approve(view, require, &people)? {
                ApprovalMove::Approve(approver) => {
                    let outcome = self.gates.attempt(
                        &mut self.context,
                        node,
                        &approver.person,
                        &approver.passphrase,
                    )?;
                    match outcome {
                        Ok(()) => self
                            .responder
                            .tell(&format!("approved by {}", approver.person)),
                        Err(reason) => self.responder.tell(&format!("refused: {reason}")),
                    }
                }
                ApprovalMove::Wait => self.wait(node, view, &mut waited)?,
            }
        }
    }

    /// Waits for approvals from other terminals until the quorum is met or the person goes
    /// back to the approval menu; stops the walk after [`Walker::patience`] of waiting.
    fn wait(&mut self, node: &Node, view: &View<'_>, waited: &mut Duration) -> Result<(), Halt> {
        loop {
            let records = self.context.store.events(&self.context.incident)?;
            let (people, met) = self.gates.quorum(&records, node);
            if met {
                self.responder.finished();
                return Ok(());
            }
            if *waited >= self.patience {
                self.responder.finished();
                return Err(Halt::Stop(Stop::Invalid(format!(
                    "still waiting for approvals at `{}` after {} s; `custos approve {} {}` adds \
                     one, then `custos resume {}`",
                    node.id,
                    waited.as_secs(),
                    self.context.incident,
                    node.id,
                    self.context.incident
                ))));
            }
            match self.responder.waiting(view, &people, self.poll) {
                Ok(Waiting::Still) => *waited += self.poll,
                Ok(Waiting::Back) => {
                    self.responder.finished();
                    return Ok(());
                }
                Err(stop) => {
                    self.responder.finished();
                    return Err(Halt::Stop(stop));
                }
            }
        }
    }

    fn pause(&mut self, node: &Node, stop: Stop) -> Result<Ending, EngineError> {
        let reason = match &stop {
            Stop::Unanswered { node, visit } => {
                format!("the answers file has no answer for node `{node}` (visit {visit})")
            }
            Stop::Paused => "paused by the responder".to_owned(),
            Stop::Invalid(reason) => reason.clone(),
        };
        self.append(&[Event::WalkPaused {
            node: node.id.to_string(),
            reason: reason.clone(),
        }])?;
        Ok(Ending::Paused {
            node: node.id.to_string(),
            reason,
            stop,
        })
    }

    fn close(&mut self, node: &Node, outcome: &str) -> Result<Ending, EngineError> {
        let context = &mut self.context;
        let closing = Event::IncidentClosed {
            node: node.id.to_string(),
            outcome: outcome.to_owned(),
        };
        context.store.close(
            &context.incident,
            &context.actor,
            context.clock.now(),
            closing,
            self.key,
        )?;
        Ok(Ending::Closed {
            node: node.id.to_string(),
            outcome: outcome.to_owned(),
        })
    }
}

/// Why a move did not happen: the responder stopped, or something broke.
enum Halt {
    Stop(Stop),
    Error(EngineError),
}

impl From<Stop> for Halt {
    fn from(stop: Stop) -> Self {
        Self::Stop(stop)
    }
}

impl From<EngineError> for Halt {
    fn from(error: EngineError) -> Self {
        Self::Error(error)
    }
}

impl From<StoreError> for Halt {
    fn from(error: StoreError) -> Self {
        Self::Error(error.into())
    }
}

/// How long an action may run when its node sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

fn notes(node: &Node, notes: Vec<String>) -> Vec<Event> {
    notes
        .into_iter()
        .filter(|text| !text.trim().is_empty())
        .map(|text| Event::NoteAdded {
            node: node.id.to_string(),
            text,
        })
        .collect()
}

/// The edge of the option taken; responders only offer options the decision has, and a
/// validated decision has at least two, so the fallback to the first is never used.
fn chosen<'e>(options: &'e [Edge], option: &str) -> &'e Edge {
    options
        .iter()
        .find(|edge| matches!(&edge.label, EdgeLabel::Option(label) if label == option))
        .unwrap_or(&options[0])
}

/// One line on what an action produced.
fn summary(name: &str, outputs: &Map<String, Value>) -> String {
    let shown: Vec<String> = outputs
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "objects" | "details" | "wrapped"))
        .map(|(key, value)| match value {
            Value::String(text) => format!("{key}={text}"),
            other => format!("{key}={other}"),
        })
        .collect();
    format!("{name}: {}", shown.join(", "))
}
