//! What happens during an incident, as the typed events the log records.
//!
//! Every variant is data a person or an auditor reads later, so fields are named for them and
//! never carry a secret: a PIN, a passphrase or key material has no field to go into. The
//! serialised form (`{"type": "...", ...}`) is part of the hash chain, so renaming a field or a
//! variant changes what old records mean: add new variants, never edit old ones.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One thing that happened in an incident, as recorded in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The incident was opened from a runbook, pinned by its SHA-256.
    IncidentOpened {
        runbook_id: String,
        runbook_version: u32,
        runbook_sha256: String,
        title: String,
        severity: String,
        rehearsal: bool,
        inputs: Map<String, Value>,
        /// A drill opened with its clock set: the clock reads real time plus this many
        /// milliseconds, on every event of the drill, across resumes and approvals.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock_offset_ms: Option<i64>,
    },
    /// The walk arrived at a node.
    NodeEntered { node: String },
    /// A decision was answered: the option chosen and where it leads.
    AnswerGiven {
        node: String,
        option: String,
        next: String,
    },
    /// A manual step was done, with the value of each field it records.
    StepCompleted {
        node: String,
        fields: Map<String, Value>,
        next: String,
    },
    /// A free-text note at a node.
    NoteAdded { node: String, text: String },
    /// An automated action began, with its parameters after templates were rendered.
    ActionStarted {
        node: String,
        action: String,
        params: Map<String, Value>,
    },
    /// An automated action ended; `error` is set when it failed.
    ActionFinished {
        node: String,
        action: String,
        ok: bool,
        outputs: Map<String, Value>,
        error: Option<String>,
        next: String,
    },
    /// A person approved at an approval node. `credential` is the fingerprint of the roster
    /// credential that was in force ([`credential_fingerprint`]); absent in older records.
    ApprovalGranted {
        node: String,
        person: String,
        role: String,
        origin: Origin,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<String>,
    },
    /// An approval attempt was refused, and why; `credential` as for `approval_granted`, absent
    /// when the person is not in the roster.
    ApprovalRefused {
        node: String,
        person: String,
        reason: String,
        origin: Origin,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<String>,
    },
    /// The quorum of an approval node was met and the walk moves on.
    ApprovalCompleted {
        node: String,
        people: Vec<String>,
        next: String,
    },
    /// A notification was written to the outbox.
    NotificationQueued {
        node: Option<String>,
        notification: String,
        group: String,
        template: String,
    },
    /// A notification was handed to the mail server.
    NotificationSent {
        notification: String,
        message_id: String,
        response: String,
    },
    /// A notification could not be sent; it will be retried.
    NotificationFailed { notification: String, error: String },
    /// The walk stopped before the end: answers ran out, the responder quit, or a step failed.
    WalkPaused { node: String, reason: String },
    /// A paused or interrupted walk continued.
    WalkResumed { node: String },
    /// The incident reached an `end` node.
    IncidentClosed { node: String, outcome: String },
    /// The people present at a ceremony and the role each one plays, recorded at its start.
    ParticipantsRecorded { participants: Vec<Participant> },
    /// The person who opened the incident proved who they are with their roster passphrase,
    /// from this origin, with the credential of this fingerprint.
    InitiatorAuthenticated {
        person: String,
        origin: Origin,
        credential: String,
    },
    /// An escalation rule fell due and queued `notification`; each rule fires once per incident.
    /// `rule` is the rule's id, with `:NODE` for a rule on nodes that overran their `within`.
    EscalationFired {
        rule: String,
        reason: String,
        notification: String,
    },
}

/// One person present at a ceremony, with the role they play there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// A roster id, or the name of someone outside the roster (an external witness).
    pub person: String,
    /// The role played at the ceremony: `custodian`, `witness`, `ceremony-master`...
    pub role: String,
}

/// Where an approval came from, so an auditor can tell two terminals from one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub user: String,
    pub host: String,
    pub terminal: String,
    pub pid: u32,
    /// The address of the SSH client the session came from, when it came over SSH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_client: Option<String>,
}

/// The fingerprint of a credential recorded with an approval: the first 8 hex digits of the
/// SHA-256 of its PHC string. It tells which passphrase was in force, never what it was.
pub fn credential_fingerprint(phc: &str) -> String {
    use sha2::{Digest, Sha256};

    hex::encode(&Sha256::digest(phc.as_bytes())[..4])
}

impl Event {
    /// The short name of the variant, as stored in the `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::IncidentOpened { .. } => "incident_opened",
            Self::NodeEntered { .. } => "node_entered",
            Self::AnswerGiven { .. } => "answer_given",
            Self::StepCompleted { .. } => "step_completed",
            Self::NoteAdded { .. } => "note_added",
            Self::ActionStarted { .. } => "action_started",
            Self::ActionFinished { .. } => "action_finished",
            Self::ApprovalGranted { .. } => "approval_granted",
            Self::ApprovalRefused { .. } => "approval_refused",
            Self::ApprovalCompleted { .. } => "approval_completed",
            Self::NotificationQueued { .. } => "notification_queued",
            Self::NotificationSent { .. } => "notification_sent",
            Self::NotificationFailed { .. } => "notification_failed",
            Self::WalkPaused { .. } => "walk_paused",
            Self::WalkResumed { .. } => "walk_resumed",
            Self::IncidentClosed { .. } => "incident_closed",
            Self::ParticipantsRecorded { .. } => "participants_recorded",
            Self::EscalationFired { .. } => "escalation_fired",
            Self::InitiatorAuthenticated { .. } => "initiator_authenticated",
        }
    }
}
