//! What verification found: the problems of a chain, each at the event where it shows, and the
//! state of the seal, with the sentences a person reads in a report.

use std::fmt;

use super::{ChainHash, IncidentId};

/// The outcome of [`Store::verify`](super::Store::verify): every problem in the chain, and the
/// seal.
#[derive(Clone, Debug, PartialEq)]
pub struct Verification {
    pub incident: IncidentId,
    /// How many event rows were read.
    pub events: u64,
    /// The last event's seq and its hash recomputed from its stored link and body.
    pub head: Option<Head>,
    /// Problems in event order; the first names the first bad event.
    pub problems: Vec<Problem>,
    pub seal: SealStatus,
}

impl Verification {
    /// Whether the chain is whole and the seal, if the incident is closed, holds.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
            && matches!(self.seal, SealStatus::Unsealed | SealStatus::Valid { .. })
    }

    /// The first problem of the chain, if any.
    pub fn first_problem(&self) -> Option<&Problem> {
        self.problems.first()
    }
}

/// Incidents missing from the log: numbers `first..=last` were given out and their rows are
/// gone, incident, events and seal together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncidentGap {
    pub first: IncidentId,
    pub last: IncidentId,
}

impl fmt::Display for IncidentGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(
                f,
                "{}: missing; the incident was deleted from the log (its incident row, events \
                 and seal)",
                self.first
            )
        } else {
            write!(
                f,
                "{} to {}: missing; these incidents were deleted from the log (their incident \
                 rows, events and seals)",
                self.first, self.last
            )
        }
    }
}

/// The end of a chain: the seq of its last event and that event's hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: ChainHash,
}

/// One thing wrong with the chain, at the event where it shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub seq: u64,
    pub kind: ProblemKind,
}

/// What is wrong with an event.
#[derive(Clone, Debug, PartialEq)]
pub enum ProblemKind {
    /// The body no longer hashes to the stored hash: it was edited after it was written.
    BodyChanged {
        stored: ChainHash,
        computed: ChainHash,
    },
    /// The body is not JSON of a known event.
    UnparsableBody { error: String },
    /// Events `first..=last` (as written) are gone.
    Missing { first: u64, last: u64 },
    /// The event stored at this seq was written as event `written_as`.
    Reordered { written_as: u64 },
    /// The events stored at `first..=last` are not part of the chain as written.
    Inserted { first: u64, last: u64 },
    /// The event does not link to the one before it, and the evidence says no more: the event
    /// before was rewritten with a new hash, or this event's link was edited.
    BrokenLink {
        expected: ChainHash,
        stored: ChainHash,
    },
    /// A column holds a value other than the hashed body's.
    ColumnDisagrees {
        column: &'static str,
        column_value: String,
        body_value: String,
    },
    /// A column cannot be read as what it should hold.
    MalformedColumn { column: &'static str, value: String },
    /// The body was written for another incident.
    WrongIncident { written_for: String },
    /// The `incidents` row disagrees with what the events recorded.
    IncidentDisagrees {
        field: &'static str,
        incident_value: String,
        event_value: String,
    },
    /// The pinned runbook source no longer hashes to the recorded SHA-256.
    RunbookChanged { recorded: String, computed: String },
    /// An event sits where it cannot be: `incident_opened` after event 1, events after
    /// `incident_closed`.
    OutOfPlace { reason: &'static str },
    /// The incident has no events at all.
    NoEvents,
}

impl ProblemKind {
    /// Whether the problem is about the order of events rather than one event's content; at
    /// one seq it says more, so it is listed first.
    pub(crate) fn is_structural(&self) -> bool {
        matches!(
            self,
            Self::Missing { .. } | Self::Reordered { .. } | Self::Inserted { .. }
        )
    }
}

/// The state of a closed incident's seal.
#[derive(Clone, Debug, PartialEq)]
pub enum SealStatus {
    /// The incident is open, so there is no seal; its tail is not protected.
    Unsealed,
    /// The signature holds; `trusted` says whether the key was also checked against a
    /// trusted key given by the caller.
    Valid { public_key: String, trusted: bool },
    /// The incident ends with `incident_closed` but has no seal.
    Missing,
    /// The seal row cannot be read.
    Unreadable { reason: String },
    /// The seal signs another head than the chain has now.
    HeadMismatch { sealed: Head, actual: Option<Head> },
    /// The seal was made by another key than the trusted one.
    UntrustedKey { stored: String, trusted: String },
    /// The signature does not verify with the stored public key.
    BadSignature,
}

fn short(hash: &ChainHash) -> String {
    hash.to_string()[..12].to_owned()
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seq = self.seq;
        match &self.kind {
            ProblemKind::BodyChanged { stored, computed } => write!(
                f,
                "event {seq}: its body was changed after it was written (it hashes to {}..., \
                 the stored hash is {}...)",
                short(computed),
                short(stored)
            ),
            ProblemKind::UnparsableBody { error } => {
                write!(f, "event {seq}: its body is not a readable event: {error}")
            }
            ProblemKind::Missing { first, last } if first == last => {
                write!(f, "event {first}: missing; it was removed from the log")
            }
            ProblemKind::Missing { first, last } => {
                write!(
                    f,
                    "events {first} to {last}: missing; they were removed from the log"
                )
            }
            ProblemKind::Reordered { written_as } => write!(
                f,
                "event {seq}: out of order; the event stored here was written as event {written_as}"
            ),
            ProblemKind::Inserted { first, last } if first == last => write!(
                f,
                "event {first}: inserted; it is not part of the chain as written"
            ),
            ProblemKind::Inserted { first, last } => write!(
                f,
                "events {first} to {last}: inserted; they are not part of the chain as written"
            ),
            ProblemKind::BrokenLink { expected, stored } => write!(
                f,
                "event {seq}: does not link to the event before it (it links to {}..., not \
                 {}...); that event was rewritten, or this link was edited",
                short(stored),
                short(expected)
            ),
            ProblemKind::ColumnDisagrees {
                column,
                column_value,
                body_value,
            } => write!(
                f,
                "event {seq}: the `{column}` column says `{column_value}` but the hashed body \
                 says `{body_value}`"
            ),
            ProblemKind::MalformedColumn { column, value } => {
                write!(
                    f,
                    "event {seq}: the `{column}` column holds `{value}`, which is not valid"
                )
            }
            ProblemKind::WrongIncident { written_for } => {
                write!(
                    f,
                    "event {seq}: it was written for incident `{written_for}`"
                )
            }
            ProblemKind::IncidentDisagrees {
                field,
                incident_value,
                event_value,
            } => write!(
                f,
                "event {seq}: the incident's `{field}` is `{incident_value}` but the event \
                 recorded `{event_value}`"
            ),
            ProblemKind::RunbookChanged { recorded, computed } => write!(
                f,
                "event {seq}: the pinned runbook source was changed; it hashes to {computed}, \
                 not the recorded {recorded}"
            ),
            ProblemKind::OutOfPlace { reason } => write!(f, "event {seq}: out of place: {reason}"),
            ProblemKind::NoEvents => write!(f, "the incident has no events; all were removed"),
        }
    }
}

impl fmt::Display for SealStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsealed => {
                write!(
                    f,
                    "open, not sealed: events cut from its end would not show"
                )
            }
            Self::Valid {
                public_key,
                trusted: true,
            } => {
                write!(f, "sealed by the trusted key {public_key}")
            }
            Self::Valid {
                public_key,
                trusted: false,
            } => write!(
                f,
                "sealed by {public_key}; compare it with the installation's published key"
            ),
            Self::Missing => write!(f, "closed, but its seal is missing"),
            Self::Unreadable { reason } => write!(f, "the seal is unreadable: {reason}"),
            Self::HeadMismatch { sealed, actual } => {
                write!(
                    f,
                    "the seal covers event {} ({}...), ",
                    sealed.seq,
                    short(&sealed.hash)
                )?;
                match actual {
                    Some(head) => write!(
                        f,
                        "but the chain now ends at event {} ({}...)",
                        head.seq,
                        short(&head.hash)
                    ),
                    None => write!(f, "but the chain has no events"),
                }
            }
            Self::UntrustedKey { stored, trusted } => {
                write!(
                    f,
                    "the seal was made by {stored}, not by the trusted key {trusted}"
                )
            }
            Self::BadSignature => write!(
                f,
                "the seal's signature does not verify: the chain or the seal was rewritten"
            ),
        }
    }
}
