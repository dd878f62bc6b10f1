//! The dual-control part of a report: every approval with who, which role, from where and
//! when, flagging approvals by different people typed at one terminal close together.
//!
//! Two approvals from the same host and terminal within [`SAME_TERMINAL_WINDOW`] are the trace
//! of one person holding both secrets (or two people at one keyboard). Custos cannot tell which;
//! it points them out for an auditor. Approvals with no terminal (scripts, pipes) on one host
//! are compared the same way, so scripted drills show up too.

use jiff::{SignedDuration, Timestamp};

use crate::store::{Event, EventRecord, Origin};

/// How close two approvals from one terminal must be to be flagged.
pub const SAME_TERMINAL_WINDOW: SignedDuration = SignedDuration::from_mins(5);

/// One granted approval, as the dual-control part of a report lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalEntry {
    /// The event's place in the log.
    pub seq: u64,
    pub node: String,
    pub person: String,
    pub role: String,
    pub at: Timestamp,
    pub origin: Origin,
    /// Other people who approved from the same host and terminal within the window.
    pub same_terminal_as: Vec<String>,
}

impl ApprovalEntry {
    /// Whether this approval shares a terminal with another person's, close in time.
    pub fn is_flagged(&self) -> bool {
        !self.same_terminal_as.is_empty()
    }

    /// `user@host, terminal, pid N`, the origin as one line.
    pub fn place(&self) -> String {
        let origin = &self.origin;
        format!(
            "{}@{}, {}, pid {}",
            origin.user, origin.host, origin.terminal, origin.pid
        )
    }
}

/// Every `approval_granted` of `records`, in log order, each flagged with the other people who
/// approved from its host and terminal within `window` (before or after).
pub fn dual_control(records: &[EventRecord], window: SignedDuration) -> Vec<ApprovalEntry> {
    let mut entries: Vec<ApprovalEntry> = records
        .iter()
        .filter_map(|record| match &record.event {
            Event::ApprovalGranted {
                node,
                person,
                role,
                origin,
            } => Some(ApprovalEntry {
                seq: record.seq,
                node: node.clone(),
                person: person.clone(),
                role: role.clone(),
                at: record.at,
                origin: origin.clone(),
                same_terminal_as: Vec::new(),
            }),
            _ => None,
        })
        .collect();

    let window = window.abs();
    for i in 0..entries.len() {
        let mut others: Vec<String> = entries
            .iter()
            .filter(|other| {
                other.person != entries[i].person
                    && other.origin.host == entries[i].origin.host
                    && other.origin.terminal == entries[i].origin.terminal
                    && other.at.duration_since(entries[i].at).abs() <= window
            })
            .map(|other| other.person.clone())
            .collect();
        others.sort();
        others.dedup();
        entries[i].same_terminal_as = others;
    }
    entries
}
