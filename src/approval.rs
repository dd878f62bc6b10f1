//! Dual control: authenticated approvals by distinct people at an approval node.
//!
//! [`attempt`] checks one person's claim to approve against the roster and the log, and appends
//! exactly one event: `approval_granted` with the role that qualified, or `approval_refused`
//! with the reason. [`quorum`] reads the log to say who has approved the node's current visit
//! and whether enough people have. Only approvals after the latest `node_entered` of the node
//! count, so a node visited twice needs its quorum twice. Passphrases are checked here and go
//! nowhere else: no event, error or log line carries one. Moving the walk on after the quorum
//! (`approval_completed`) is the engine's part.

mod custody;
mod dual_control;
mod origin;

use std::fmt;

use jiff::Timestamp;

use crate::policy::roster::{Mismatch, Person, Roster, Standing, authenticate};
use crate::runbook::Requirement;
use crate::store::{
    Event, EventRecord, IncidentId, Origin, Store, StoreError, credential_fingerprint,
};

pub use custody::{check_participants, check_people};
pub use dual_control::{ApprovalEntry, SAME_TERMINAL_WINDOW, dual_control};
pub use origin::{NO_TERMINAL, origin, ssh_client, user};

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
    /// The roster's credential is not one approvals accept (not Argon2id, or weak).
    UnusableCredential { reason: String },
    /// The person was revoked on this date.
    Revoked { on: jiff::civil::Date },
    /// The person becomes active on this date.
    NotYetActive { from: jiff::civil::Date },
    /// The person holds none of the required roles.
    MissingRole { required: Vec<String> },
    /// The person opened the incident and the node excludes the initiator.
    Initiator,
    /// In a real incident, the approval comes from the operating-system account and host the
    /// initiator authenticated from, and the node excludes the initiator.
    InitiatorAccount { user: String, host: String },
    /// Each listed role must approve, and this person's roles are all covered already.
    RoleCovered { needed: Vec<String> },
    /// The person already approved this visit of the node.
    AlreadyApproved,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPerson => f.write_str("unknown person: not in the roster"),
            Self::WrongPassphrase => f.write_str("wrong passphrase"),
            Self::UnusableCredential { reason } => write!(
                f,
                "credential not accepted: it {reason}; set a new one with `custos roster passwd`"
            ),
            Self::Revoked { on } => write!(f, "revoked on {on}"),
            Self::NotYetActive { from } => write!(f, "not active until {from}"),
            Self::MissingRole { required } => {
                write!(f, "missing role: needs one of {}", required.join(", "))
            }
            Self::Initiator => f.write_str(
                "initiator excluded: the person who opened the incident may not approve here",
            ),
            Self::InitiatorAccount { user, host } => write!(
                f,
                "same account as the initiator: this approval comes from `{user}@{host}`, where \
                 the person who opened the incident authenticated; approve from your own account"
            ),
            Self::RoleCovered { needed } => write!(
                f,
                "role already covered: the remaining approvals must come from {}",
                needed.join(" and ")
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
    /// The roles of which each must be among the approvers' (`each_role`); empty otherwise.
    pub each_of: Vec<String>,
    /// Distinct approvers since the node was last entered, in the order they approved.
    pub approvers: Vec<Approver>,
    /// Whether the log shows the node entered at all.
    pub entered: bool,
    /// Whether the engine has already recorded `approval_completed` for this visit.
    pub completed: bool,
}

impl Quorum {
    /// Whether `required` distinct people have approved, covering every role of `each_of`.
    pub fn is_met(&self) -> bool {
        self.approvers.len() >= usize::try_from(self.required).unwrap_or(usize::MAX)
            && self.uncovered().is_empty()
    }

    /// The roles of `each_of` no approver has approved as yet.
    pub fn uncovered(&self) -> Vec<String> {
        let covered = |role: &String| self.approvers.iter().any(|a| &a.role == role);
        self.each_of
            .iter()
            .filter(|role| !covered(role))
            .cloned()
            .collect()
    }

    /// How many more approvals the quorum needs, at least.
    fn left(&self) -> usize {
        let required = usize::try_from(self.required).unwrap_or(usize::MAX);
        required.saturating_sub(self.approvers.len())
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
        )?;
        let uncovered = self.uncovered();
        if uncovered.is_empty() {
            return Ok(());
        }
        write!(f, " (still needs {})", uncovered.join(" and "))
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
/// The passphrase is compared with the roster's Argon2id hash and then dropped. An attempt at
/// a node the incident is not waiting at, or whose quorum is met, is refused and logged too,
/// then returned as an [`ApprovalError`].
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
    let credential = roster
        .person(person)
        .map(|entry| credential_fingerprint(&entry.credential));
    let refuse = |store: &mut Store, reason: String, origin: &Origin| {
        let event = Event::ApprovalRefused {
            node: node.to_owned(),
            person: person.to_owned(),
            reason,
            origin: origin.clone(),
            credential: credential.clone(),
        };
        store.append(incident, person, at, &[event])
    };

    let before = quorum(&records, node, require);
    let early = waiting_at(&records, incident, node).and_then(|()| {
        if before.is_met() || before.completed {
            return Err(ApprovalError::AlreadyMet {
                incident: *incident,
                node: node.to_owned(),
                required: before.required,
                people: before.people().join(", "),
            });
        }
        Ok(())
    });
    if let Err(error) = early {
        refuse(store, error.reason(), &origin)?;
        return Err(error);
    }

    let facts = Facts {
        initiator,
        initiator_origin: initiator_origin(&records),
        rehearsal: records.first().is_some_and(|first| first.rehearsal),
        origin: &origin,
        at,
    };
    let verdict = judge(roster, require, &before, &facts, person, passphrase);
    tracing::debug!(incident = %incident, node, person, granted = verdict.is_ok(), "approval");
    match &verdict {
        Ok(role) => {
            let event = Event::ApprovalGranted {
                node: node.to_owned(),
                person: person.to_owned(),
                role: role.clone(),
                origin,
                credential: credential.clone(),
            };
            store.append(incident, person, at, &[event])?;
        }
        Err(refusal) => {
            refuse(store, refusal.to_string(), &origin)?;
        }
    }

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

impl ApprovalError {
    /// The `reason` recorded in the `approval_refused` event of an attempt refused this way.
    fn reason(&self) -> String {
        match self {
            Self::Store(error) => error.to_string(),
            Self::NotWaiting { node, current, .. } => {
                format!("not waiting: the incident is not at `{node}`; {current}")
            }
            Self::AlreadyMet {
                required, people, ..
            } => {
                format!("quorum already met: {required} approvals ({people})")
            }
        }
    }
}

/// What the log says about the attempt besides the approver's claim.
struct Facts<'a> {
    initiator: &'a str,
    /// Where the initiator authenticated from, when they did.
    initiator_origin: Option<Origin>,
    rehearsal: bool,
    origin: &'a Origin,
    at: Timestamp,
}

/// The origin recorded by `initiator_authenticated`, if the initiator authenticated.
fn initiator_origin(records: &[EventRecord]) -> Option<Origin> {
    records.iter().find_map(|record| match &record.event {
        Event::InitiatorAuthenticated { origin, .. } => Some(origin.clone()),
        _ => None,
    })
}

/// The role that qualifies `person`, or why they may not approve. Authentication comes first,
/// so that someone without the passphrase learns nothing about the person's roles or state.
fn judge(
    roster: &Roster,
    require: &Requirement,
    so_far: &Quorum,
    facts: &Facts<'_>,
    person: &str,
    passphrase: &str,
) -> Result<String, Refusal> {
    let entry = signed_in(roster, person, passphrase, facts.at)?;

    let held: Vec<&str> = require
        .roles
        .iter()
        .map(|role| role.name.as_str())
        .filter(|role| entry.has_role(role))
        .collect();
    let Some(&first) = held.first() else {
        return Err(Refusal::MissingRole {
            required: require.roles.iter().map(|r| r.name.clone()).collect(),
        });
    };

    if require.exclude_initiator {
        if person == facts.initiator {
            return Err(Refusal::Initiator);
        }
        let same_account = facts.initiator_origin.as_ref().is_some_and(|initiator| {
            initiator.user == facts.origin.user && initiator.host == facts.origin.host
        });
        if same_account && !facts.rehearsal {
            return Err(Refusal::InitiatorAccount {
                user: facts.origin.user.clone(),
                host: facts.origin.host.clone(),
            });
        }
    }
    if so_far.has(person) {
        return Err(Refusal::AlreadyApproved);
    }
    role_for(so_far, &held, first)
}

/// The role to record for an approver holding the required roles `held`: with `each_role`,
/// one no approver has covered yet; refused when every approval left must cover another role.
fn role_for(so_far: &Quorum, held: &[&str], first: &str) -> Result<String, Refusal> {
    let uncovered = so_far.uncovered();
    if let Some(role) = held
        .iter()
        .find(|role| uncovered.iter().any(|u| u == *role))
    {
        return Ok((*role).to_owned());
    }
    if so_far.left() > uncovered.len() {
        return Ok(first.to_owned());
    }
    Err(Refusal::RoleCovered { needed: uncovered })
}

/// Checks that `person`, who is opening an incident, is an active person of the roster and
/// knows their passphrase; returns the fingerprint of their credential for the log.
pub fn authenticate_initiator(
    roster: &Roster,
    person: &str,
    passphrase: &str,
    at: Timestamp,
) -> Result<String, Refusal> {
    let entry = signed_in(roster, person, passphrase, at)?;
    Ok(credential_fingerprint(&entry.credential))
}

/// `person`'s entry in the roster, once their passphrase matches and they are active at `at`.
fn signed_in<'r>(
    roster: &'r Roster,
    person: &str,
    passphrase: &str,
    at: Timestamp,
) -> Result<&'r Person, Refusal> {
    let Some(entry) = roster.person(person) else {
        return Err(Refusal::UnknownPerson);
    };
    match authenticate(&entry.credential, passphrase) {
        Ok(()) => {}
        Err(Mismatch::Wrong) => return Err(Refusal::WrongPassphrase),
        Err(Mismatch::Unusable(reason)) => return Err(Refusal::UnusableCredential { reason }),
    }
    match entry.standing(at) {
        Standing::Active => Ok(entry),
        Standing::Revoked => Err(Refusal::Revoked {
            on: entry.revoked_on.unwrap_or(entry.active_from),
        }),
        Standing::NotYetActive => Err(Refusal::NotYetActive {
            from: entry.active_from,
        }),
    }
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
    let each_of = if require.each_role {
        require.roles.iter().map(|role| role.name.clone()).collect()
    } else {
        Vec::new()
    };
    let mut quorum = Quorum {
        node: node.to_owned(),
        required: require.count,
        each_of,
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
                ..
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
