//! Dual control: authenticated approvals by distinct people at an approval node.
//!
//! [`attempt`] checks one person's claim to approve against the roster and the log, and appends
//! exactly one event: `approval_granted` with the role that qualified, or `approval_refused`
//! with the reason. [`quorum`] reads the log to say who has approved the node's current visit
//! and whether enough people have. Only approvals after the latest `node_entered` of the node
//! count, so a node visited twice needs its quorum twice. Passphrases are checked here and go
//! nowhere else: no event, error or log line carries one. Moving the walk on after the quorum
//! (`approval_completed`) is the engine's part.

mod dual_control;
mod origin;

use std::fmt;

use jiff::Timestamp;

use crate::policy::roster::{Roster, Standing, verify_passphrase};
use crate::runbook::Requirement;
use crate::store::{Event, EventRecord, IncidentId, Origin, Store, StoreError};

pub use dual_control::{ApprovalEntry, SAME_TERMINAL_WINDOW, dual_control};
pub use origin::{NO_TERMINAL, origin, user};

/// The environment variable a scripted drill (`--answers`) reads `person`'s passphrase from:
/// `CUSTOS_PASSPHRASE_` and the id in capitals, with `-` and `.` as `_` (`erin` gives
/// `CUSTOS_PASSPHRASE_ERIN`).
pub fn passphrase_variable(person: &str) -> String {
    let suffix: String = person
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            other => other.to_ascii_uppercase(),
        })
        .collect();
    format!("CUSTOS_PASSPHRASE_{suffix}")
}

/// Why an approval was refused; its text is the `reason` of the `approval_refused` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The roster has nobody with this id.
    UnknownPerson,
    /// The passphrase does not match the roster's hash.
    WrongPassphrase,
    /// The person was revoked on this date.
    Revoked { on: jiff::civil::Date },
    /// The person becomes active on this date.
    NotYetActive { from: jiff::civil::Date },
    /// The person holds none of the required roles.
    MissingRole { required: Vec<String> },
    /// The person opened the incident and the node excludes the initiator.
    Initiator,
    /// The person already approved this visit of the node.
    AlreadyApproved,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPerson => f.write_str("unknown person: not in the roster"),
            Self::WrongPassphrase => f.write_str("wrong passphrase"),
            Self::Revoked { on } => write!(f, "revoked on {on}"),
            Self::NotYetActive { from } => write!(f, "not active until {from}"),
            Self::MissingRole { required } => {
                write!(f, "missing role: needs one of {}", required.join(", "))
            }
            Self::Initiator => f.write_str(
                "initiator excluded: the person who opened the incident may not approve here",
            ),
            Self::AlreadyApproved => f.write_str("already approved this visit of the node"),
        }
    }
}

/// One approval counted towards a quorum.
#[derive(Clone, Debug, PartialEq)]
pub struct Approver {
    /// The roster id of the approver.
    pub person: String,
    /// The required role they qualified with.
    pub role: String,
    /// The `at` of the `approval_granted` event.
    pub at: Timestamp,
    /// The user, host, terminal and process the approval came from.
    pub origin: Origin,
}

/// Who has approved the current visit of an approval node, and how many are needed.
#[derive(Clone, Debug, PartialEq)]
pub struct Quorum {
    /// The approval node's id.
    pub node: String,
    /// How many distinct people the node requires.
    pub required: u32,
    /// Distinct approvers since the node was last entered, in the order they approved.
    pub approvers: Vec<Approver>,
    /// Whether the log shows the node entered at all.
    pub entered: bool,
    /// Whether the engine has already recorded `approval_completed` for this visit.
    pub completed: bool,
}

impl Quorum {
    /// Whether `required` distinct people have approved.
    pub fn is_met(&self) -> bool {
        self.approvers.len() >= usize::try_from(self.required).unwrap_or(usize::MAX)
    }

    /// The approvers' ids, in order.
    pub fn people(&self) -> Vec<String> {
        self.approvers.iter().map(|a| a.person.clone()).collect()
    }

    /// Whether `person` is among the approvers.
    pub fn has(&self, person: &str) -> bool {
        self.approvers.iter().any(|a| a.person == person)
    }
}

impl fmt::Display for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .approvers
            .iter()
            .map(|a| format!("{} ({})", a.person, a.role))
            .collect();
        let names = if names.is_empty() {
            "nobody yet".to_owned()
        } else {
            names.join(", ")
        };
        let state = if self.is_met() { "met" } else { "not met" };
        write!(
            f,
            "{} of {} approvals at `{}`: {names}; quorum {state}",
            self.approvers.len(),
            self.required,
            self.node
        )
    }
}

/// What an attempt to approve came to; either way one event was appended.
#[derive(Clone, Debug, PartialEq)]
pub enum Attempt {
    Granted { role: String, quorum: Quorum },
    Refused { refusal: Refusal, quorum: Quorum },
}

impl Attempt {
    /// The quorum after the attempt.
    pub fn quorum(&self) -> &Quorum {
        match self {
            Self::Granted { quorum, .. } | Self::Refused { quorum, .. } => quorum,
        }
    }
}

/// An attempt that could not be judged, so no event was appended.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The incident is at another node (or none), so approving `node` means nothing now.
    #[error("incident `{incident}` is not waiting at node `{node}`; {current}")]
    NotWaiting {
        incident: IncidentId,
        node: String,
        current: String,
    },

    /// The quorum of this visit is already met.
    #[error(
        "the approval at node `{node}` of incident `{incident}` already has its {required} \
         approvals ({people}); nothing is left to approve"
    )]
    AlreadyMet {
        incident: IncidentId,
        node: String,
        required: u32,
        people: String,
    },
}

/// Checks `person`'s approval at `node` and appends `approval_granted` or `approval_refused`.
///
/// `initiator` is the person who opened the incident; `at` is the time recorded in the event.
/// The passphrase is compared with the roster's Argon2id hash and then dropped.
// Each argument is a separate fact of the attempt, and the engine and `custos approve` both
// have them at hand; a struct to carry them would only move the list elsewhere.
#[allow(clippy::too_many_arguments)]
pub fn attempt(
    store: &mut Store,
    roster: &Roster,
    incident: &IncidentId,
    node: &str,
    require: &Requirement,
    initiator: &str,
    person: &str,
    passphrase: &str,
    origin: Origin,
    at: Timestamp,
) -> Result<Attempt, ApprovalError> {
    let records = store.events(incident)?;
    waiting_at(&records, incident, node)?;
    let before = quorum(&records, node, require);
    if before.is_met() || before.completed {
        return Err(ApprovalError::AlreadyMet {
            incident: *incident,
            node: node.to_owned(),
            required: before.required,
            people: before.people().join(", "),
        });
    }

    let verdict = judge(roster, require, &before, initiator, person, passphrase, at);
    let event = match &verdict {
        Ok(role) => Event::ApprovalGranted {
            node: node.to_owned(),
            person: person.to_owned(),
            role: role.clone(),
            origin,
        },
        Err(refusal) => Event::ApprovalRefused {
            node: node.to_owned(),
            person: person.to_owned(),
            reason: refusal.to_string(),
            origin,
        },
    };
    tracing::debug!(incident = %incident, node, person, granted = verdict.is_ok(), "approval");
    store.append(incident, person, at, &[event])?;

    let after = quorum(&store.events(incident)?, node, require);
    Ok(match verdict {
        Ok(role) => Attempt::Granted {
            role,
            quorum: after,
        },
        Err(refusal) => Attempt::Refused {
            refusal,
            quorum: after,
        },
    })
}

/// The role that qualifies `person`, or why they may not approve. Authentication comes first,
/// so that someone without the passphrase learns nothing about the person's roles or state.
fn judge(
    roster: &Roster,
    require: &Requirement,
    so_far: &Quorum,
    initiator: &str,
    person: &str,
    passphrase: &str,
    at: Timestamp,
) -> Result<String, Refusal> {
    let Some(entry) = roster.person(person) else {
        return Err(Refusal::UnknownPerson);
    };
    if !verify_passphrase(&entry.credential, passphrase) {
        return Err(Refusal::WrongPassphrase);
    }

    match entry.standing(at) {
        Standing::Active => {}
        Standing::Revoked => {
            return Err(Refusal::Revoked {
                on: entry.revoked_on.unwrap_or(entry.active_from),
            });
        }
        Standing::NotYetActive => {
            return Err(Refusal::NotYetActive {
                from: entry.active_from,
            });
        }
    }

    let role = require
        .roles
        .iter()
        .map(|role| role.name.as_str())
        .find(|role| entry.has_role(role));
    let Some(role) = role else {
        return Err(Refusal::MissingRole {
            required: require.roles.iter().map(|r| r.name.clone()).collect(),
        });
    };

    if require.exclude_initiator && person == initiator {
        return Err(Refusal::Initiator);
    }
    if so_far.has(person) {
        return Err(Refusal::AlreadyApproved);
    }
    Ok(role.to_owned())
}

/// Refuses unless the latest `node_entered` of the incident is `node`.
fn waiting_at(
    records: &[EventRecord],
    incident: &IncidentId,
    node: &str,
) -> Result<(), ApprovalError> {
    let current = records.iter().rev().find_map(|record| match &record.event {
        Event::NodeEntered { node } => Some(node.as_str()),
        _ => None,
    });
    if current == Some(node) {
        return Ok(());
    }

    let current = match current {
        Some(other) => format!("it is at `{other}`"),
        None => "it has not entered any node".to_owned(),
    };
    Err(ApprovalError::NotWaiting {
        incident: *incident,
        node: node.to_owned(),
        current,
    })
}

/// Who approved `node` since it was last entered, and whether `require.count` is reached.
pub fn quorum(records: &[EventRecord], node: &str, require: &Requirement) -> Quorum {
    let entered_at = records.iter().rposition(
        |record| matches!(&record.event, Event::NodeEntered { node: entered } if entered == node),
    );
    let mut quorum = Quorum {
        node: node.to_owned(),
        required: require.count,
        approvers: Vec::new(),
        entered: entered_at.is_some(),
        completed: false,
    };
    let Some(entered_at) = entered_at else {
        return quorum;
    };

    for record in records.iter().skip(entered_at + 1) {
        match &record.event {
            Event::ApprovalGranted {
                node: granted,
                person,
                role,
                origin,
            } if granted == node && !quorum.has(person) => {
                quorum.approvers.push(Approver {
                    person: person.clone(),
                    role: role.clone(),
                    at: record.at,
                    origin: origin.clone(),
                });
            }
            Event::ApprovalCompleted { node: done, .. } if done == node => {
                quorum.completed = true;
            }
            _ => {}
        }
    }
    quorum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_passphrase_variable_is_the_id_in_capitals_with_underscores() {
        assert_eq!(passphrase_variable("erin"), "CUSTOS_PASSPHRASE_ERIN");
        assert_eq!(passphrase_variable("ana-m.r"), "CUSTOS_PASSPHRASE_ANA_M_R");
    }

    #[test]
    fn refusal_reasons_read_as_the_log_records_them() {
        let missing = Refusal::MissingRole {
            required: vec!["custodian".into(), "security-officer".into()],
        };
        assert_eq!(
            missing.to_string(),
            "missing role: needs one of custodian, security-officer"
        );
        let revoked = Refusal::Revoked {
            on: "2026-06-01".parse().unwrap(),
        };
        assert_eq!(revoked.to_string(), "revoked on 2026-06-01");
    }
}
