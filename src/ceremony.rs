//! The signed record of a key ceremony, built from the sealed log of a closed incident.
//!
//! [`record`] gathers what an auditor files under dual custody: when, who with which role,
//! every step with who did it and when, every key check value with its method, the deviations
//! (notes, failed actions, refused approvals), the dual-control listing, and the seal with the
//! result of verifying it. [`CeremonyRecord::markdown`] and [`CeremonyRecord::html`] print it
//! with lines for wet signatures. Nothing here writes to the log.

mod html;
mod markdown;

use ed25519_dalek::VerifyingKey;
use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::approval::{ApprovalEntry, SAME_TERMINAL_WINDOW, dual_control};
use crate::policy::roster::Roster;
use crate::runbook::{InputKind, NodeId, NodeKind, Runbook};
use crate::store::{
    Event, EventRecord, Incident, IncidentId, IncidentState, Seal, Store, StoreError, Verification,
};

/// Why a ceremony record cannot be produced.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    #[error(transparent)]
    Store(#[from] StoreError),

    /// Only a closed and sealed incident has a record to sign.
    #[error("incident `{0}` is still open; a ceremony record is made once it is closed and sealed")]
    StillOpen(IncidentId),

    /// The pinned runbook is not marked `ceremony: true`.
    #[error(
        "incident `{incident}` follows runbook `{runbook}`, which is not a ceremony \
         (`ceremony: true`); it has no ceremony record"
    )]
    NotACeremony {
        incident: IncidentId,
        runbook: String,
    },

    /// The runbook source pinned in the log no longer parses.
    #[error("the runbook pinned in incident `{0}` cannot be read back")]
    RunbookUnreadable(IncidentId),
}

/// Everything the printed record of a ceremony holds.
#[derive(Clone, Debug)]
pub struct CeremonyRecord {
    /// The incident's summary, as the log holds it.
    pub incident: Incident,
    /// The `at` of the closing event.
    pub closed_at: Timestamp,
    /// Who took part, signed in first.
    pub participants: Vec<ParticipantLine>,
    /// Everything done, in log order.
    pub steps: Vec<StepLine>,
    /// Every key check value produced.
    pub kcvs: Vec<KcvLine>,
    /// Notes, failed actions and refused approvals.
    pub deviations: Vec<StepLine>,
    /// The dual-control listing.
    pub approvals: Vec<ApprovalEntry>,
    /// The seal as stored; `None` only if it was removed.
    pub seal: Option<Seal>,
    /// The result of verifying the chain and the seal.
    pub verification: Verification,
    /// When the record was printed.
    pub produced_at: Timestamp,
}

/// A participant and the roles they played.
#[derive(Clone, Debug, PartialEq)]
pub struct ParticipantLine {
    /// The roster id, or the name given for someone outside the roster.
    pub person: String,
    /// The full name from the roster, when the person is in it.
    pub name: Option<String>,
    /// The roles played at the ceremony.
    pub roles: Vec<String>,
    /// Whether `participants_recorded` named them; `false` for someone who only acted.
    pub recorded: bool,
}

/// One thing done during the ceremony.
#[derive(Clone, Debug, PartialEq)]
pub struct StepLine {
    /// The event's place in the log.
    pub seq: u64,
    /// The time the event records.
    pub at: Timestamp,
    /// Who did it.
    pub actor: String,
    /// The node's id.
    pub node: String,
    /// The node's title in the pinned runbook.
    pub title: String,
    /// What was done, as one line.
    pub what: String,
}

/// A key check value produced during the ceremony.
#[derive(Clone, Debug, PartialEq)]
pub struct KcvLine {
    /// The event's place in the log.
    pub seq: u64,
    /// The node that produced it.
    pub node: String,
    /// The check value in hex, as recorded.
    pub value: String,
    /// `ecb`, `cmac`, or how a hand-written value was labelled.
    pub method: String,
    /// Where it comes from: `action hsm.kcv` or `field kcv_cmac typed by bob`.
    pub source: String,
}

impl CeremonyRecord {
    /// Whether the chain verified and the seal holds.
    pub fn verified(&self) -> bool {
        self.verification.is_ok()
    }

    /// The approvals flagged as given from one terminal close together.
    pub fn flagged(&self) -> impl Iterator<Item = &ApprovalEntry> {
        self.approvals.iter().filter(|entry| entry.is_flagged())
    }
}

/// The record of the closed ceremony `incident`; `roster` supplies full names, `trusted` the
/// installation's published key to check the seal against.
pub fn record(
    store: &Store,
    incident: &IncidentId,
    roster: Option<&Roster>,
    trusted: Option<&VerifyingKey>,
) -> Result<CeremonyRecord, CeremonyError> {
    let summary = store.incident(incident)?;
    if summary.state == IncidentState::Open {
        return Err(CeremonyError::StillOpen(*incident));
    }
    let runbook = crate::runbook::parse_pinned(&summary.runbook_source)
        .map_err(|_| CeremonyError::RunbookUnreadable(*incident))?;
    if !runbook.ceremony {
        return Err(CeremonyError::NotACeremony {
            incident: *incident,
            runbook: summary.runbook_id.clone(),
        });
    }

    let records = store.events(incident)?;
    let verification = store.verify(incident, trusted)?;
    let seal = store.seal(incident)?;

    Ok(CeremonyRecord {
        closed_at: summary.closed_at.unwrap_or(summary.last_activity),
        participants: participants(&records, roster),
        steps: steps(&records, &runbook),
        kcvs: kcvs(&records, &runbook),
        deviations: deviations(&records, &runbook),
        approvals: dual_control(&records, SAME_TERMINAL_WINDOW),
        seal,
        verification,
        produced_at: Timestamp::now(),
        incident: summary,
    })
}

/// Those named by `participants_recorded`, in its order, then everyone else who acted or
/// approved (with the roles their approvals named): someone acting without being signed in is
/// itself worth seeing.
fn participants(records: &[EventRecord], roster: Option<&Roster>) -> Vec<ParticipantLine> {
    let mut lines: Vec<ParticipantLine> = Vec::new();
    let mut add = |person: &str, role: Option<&str>, recorded: bool| {
        let index = match lines.iter().position(|line| line.person == person) {
            Some(index) => index,
            None => {
                lines.push(ParticipantLine {
                    person: person.to_owned(),
                    name: roster
                        .and_then(|roster| roster.person(person))
                        .map(|entry| entry.name.clone()),
                    roles: Vec::new(),
                    recorded,
                });
                lines.len() - 1
            }
        };
        let line = &mut lines[index];
        if let Some(role) = role
            && !line.roles.iter().any(|held| held == role)
        {
            line.roles.push(role.to_owned());
        }
    };

    for record in records {
        if let Event::ParticipantsRecorded { participants } = &record.event {
            for participant in participants {
                add(&participant.person, Some(&participant.role), true);
            }
        }
    }
    for record in records {
        match &record.event {
            Event::ApprovalGranted { person, role, .. } => add(person, Some(role), false),
            Event::ApprovalRefused { .. } => {}
            _ => add(&record.actor, None, false),
        }
    }
    lines
}

fn title(runbook: &Runbook, node: &str) -> String {
    runbook
        .node(&NodeId(node.to_owned()))
        .map_or_else(String::new, |node| node.title.clone())
}

/// Every event that records something done, in log order.
fn steps(records: &[EventRecord], runbook: &Runbook) -> Vec<StepLine> {
    records
        .iter()
        .filter_map(|record| {
            let (node, what) = describe(&record.event)?;
            Some(StepLine {
                seq: record.seq,
                at: record.at,
                actor: record.actor.clone(),
                title: title(runbook, &node),
                node,
                what,
            })
        })
        .collect()
}

/// The node an event belongs to and a sentence of what it records; `None` for bookkeeping.
fn describe(event: &Event) -> Option<(String, String)> {
    let line = match event {
        Event::AnswerGiven { node, option, .. } => (node, format!("answered \"{option}\"")),
        Event::StepCompleted { node, fields, .. } => {
            (node, format!("done; {}", fields_text(fields)))
        }
        Event::NoteAdded { node, text } => (node, format!("note: {text}")),
        Event::ActionFinished {
            node,
            action,
            ok: true,
            outputs,
            ..
        } => (
            node,
            format!("{action} succeeded; {}", fields_text(outputs)),
        ),
        Event::ActionFinished {
            node,
            action,
            error,
            ..
        } => (
            node,
            format!(
                "{action} FAILED: {}",
                error.as_deref().unwrap_or("no detail")
            ),
        ),
        Event::ApprovalGranted {
            node, person, role, ..
        } => (node, format!("approved by {person} as {role}")),
        Event::ApprovalRefused {
            node,
            person,
            reason,
            ..
        } => (node, format!("approval by {person} REFUSED: {reason}")),
        Event::ApprovalCompleted { node, people, .. } => {
            (node, format!("quorum met: {}", people.join(", ")))
        }
        Event::NotificationQueued {
            node: Some(node),
            group,
            template,
            ..
        } => (node, format!("notified {group} ({template})")),
        Event::IncidentClosed { node, outcome } => (node, format!("closed: {outcome}")),
        _ => return None,
    };
    Some((line.0.clone(), line.1))
}

/// `name: value; name: value`, strings without quotes; `no fields` when empty.
fn fields_text(fields: &Map<String, Value>) -> String {
    if fields.is_empty() {
        return "no fields".to_owned();
    }
    fields
        .iter()
        .map(|(name, value)| format!("{name}: {}", value_text(value)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Action outputs named `kcv` (with their `method`), and step fields of type `kcv`.
fn kcvs(records: &[EventRecord], runbook: &Runbook) -> Vec<KcvLine> {
    let mut lines = Vec::new();
    for record in records {
        match &record.event {
            Event::ActionFinished {
                node,
                action,
                ok: true,
                outputs,
                ..
            } => {
                let Some(value) = outputs.get("kcv") else {
                    continue;
                };
                let method = outputs
                    .get("method")
                    .map_or_else(|| "not stated".to_owned(), value_text);
                lines.push(KcvLine {
                    seq: record.seq,
                    node: node.clone(),
                    value: value_text(value),
                    method,
                    source: format!("action {action}"),
                });
            }
            Event::StepCompleted { node, fields, .. } => {
                for name in kcv_fields(runbook, node) {
                    let Some(value) = fields.get(&name) else {
                        continue;
                    };
                    lines.push(KcvLine {
                        seq: record.seq,
                        node: node.clone(),
                        value: value_text(value),
                        method: "by hand; see the field name".to_owned(),
                        source: format!("field {name} typed by {}", record.actor),
                    });
                }
            }
            _ => {}
        }
    }
    lines
}

/// The names of the `kcv` fields of step `node`.
fn kcv_fields(runbook: &Runbook, node: &str) -> Vec<String> {
    match runbook
        .node(&NodeId(node.to_owned()))
        .map(|node| &node.kind)
    {
        Some(NodeKind::Step { fields, .. }) => fields
            .iter()
            .filter(|field| field.kind == InputKind::Kcv)
            .map(|field| field.name.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// Notes, failed actions and refused approvals.
fn deviations(records: &[EventRecord], runbook: &Runbook) -> Vec<StepLine> {
    steps(records, runbook)
        .into_iter()
        .zip(
            records
                .iter()
                .filter(|record| describe(&record.event).is_some()),
        )
        .filter(|(_, record)| {
            matches!(
                record.event,
                Event::NoteAdded { .. }
                    | Event::ApprovalRefused { .. }
                    | Event::ActionFinished { ok: false, .. }
            )
        })
        .map(|(line, _)| line)
        .collect()
}
