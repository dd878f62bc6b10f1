//! The dual-control part of a report: every approval with who, which role, from where and
//! when, flagging approvals by different people that came from one place close together.
//!
//! Two approvals within [`SAME_TERMINAL_WINDOW`] of each other are flagged when they came from
//! the same host and terminal, from the same operating-system user on the same host (another
//! tty of one account), or from the same SSH client address. Each is the trace of one person
//! holding both secrets (or two people at one keyboard). Custos cannot tell which; it points
//! them out for an auditor. Approvals with no terminal (scripts, pipes) on one host are compared
//! the same way, so scripted drills show up too.

use jiff::{SignedDuration, Timestamp};

use crate::store::{Event, EventRecord, Origin};

/// How close two approvals from one terminal must be to be flagged.
pub const SAME_TERMINAL_WINDOW: SignedDuration = SignedDuration::from_mins(5);

/// One granted approval, as the dual-control part of a report lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalEntry {
    /// The event's place in the log.
    pub seq: u64,
    /// The approval node's id.
    pub node: String,
    /// The roster id of the approver.
    pub person: String,
    /// The role the approval qualified with.
    pub role: String,
    /// The `at` of the `approval_granted` event.
    pub at: Timestamp,
    /// Where the approval was typed.
    pub origin: Origin,
    /// Other people who approved from the same place (see the module) within the window.
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
                ..
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
                    && same_place(&other.origin, &entries[i].origin)
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

/// Whether two origins are one place: one host's terminal, one host's account, or one SSH
/// client.
fn same_place(a: &Origin, b: &Origin) -> bool {
    let same_host = a.host == b.host;
    let same_ssh_client = a.ssh_client.is_some() && a.ssh_client == b.ssh_client;
    (same_host && (a.terminal == b.terminal || a.user == b.user)) || same_ssh_client
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ChainHash, IncidentId};

    fn grant(seq: u64, person: &str, host: &str, terminal: &str, seconds: i64) -> EventRecord {
        grant_from(seq, person, (person, host, terminal, None), seconds)
    }

    /// A grant from (user, host, terminal, SSH client).
    fn grant_from(
        seq: u64,
        person: &str,
        (user, host, terminal, ssh): (&str, &str, &str, Option<&str>),
        seconds: i64,
    ) -> EventRecord {
        let start: Timestamp = "2026-12-03T19:00:00Z".parse().unwrap();
        let at = start + SignedDuration::from_secs(seconds);
        EventRecord {
            incident: IncidentId::new(1).unwrap(),
            seq,
            at,
            written_at: at,
            actor: person.into(),
            rehearsal: true,
            event: Event::ApprovalGranted {
                node: "approve".into(),
                person: person.into(),
                role: "custodian".into(),
                origin: Origin {
                    user: user.into(),
                    host: host.into(),
                    terminal: terminal.into(),
                    pid: 1,
                    ssh_client: ssh.map(str::to_owned),
                },
                credential: None,
            },
            prev_hash: ChainHash([0; 32]),
            hash: ChainHash([0; 32]),
        }
    }

    fn flags(records: &[EventRecord]) -> Vec<Vec<String>> {
        dual_control(records, SAME_TERMINAL_WINDOW)
            .into_iter()
            .map(|entry| entry.same_terminal_as)
            .collect()
    }

    #[test]
    fn approvals_exactly_five_minutes_apart_at_one_terminal_are_flagged_both_ways() {
        let records = [
            grant(1, "bob", "h", "pts/1", 0),
            grant(2, "erin", "h", "pts/1", 300),
        ];
        assert_eq!(flags(&records), [vec!["erin"], vec!["bob"]]);
    }

    #[test]
    fn approvals_further_apart_or_from_another_terminal_or_host_are_not_flagged() {
        let records = [
            grant(1, "bob", "h", "pts/1", 0),
            grant(2, "erin", "h", "pts/1", 301),
            grant(3, "carol", "h", "pts/2", 10),
            grant(4, "dave", "other", "pts/1", 10),
        ];
        let none: Vec<Vec<String>> = vec![vec![]; 4];
        assert_eq!(flags(&records), none);
    }

    #[test]
    fn one_person_approving_twice_from_one_terminal_is_not_a_pair() {
        let records = [
            grant(1, "bob", "h", "pts/1", 0),
            grant(2, "bob", "h", "pts/1", 10),
        ];
        let none: Vec<Vec<String>> = vec![vec![]; 2];
        assert_eq!(flags(&records), none);
    }

    #[test]
    fn one_account_on_one_host_at_two_terminals_is_flagged() {
        let records = [
            grant_from(1, "bob", ("ops", "h", "pts/1", None), 0),
            grant_from(2, "erin", ("ops", "h", "pts/7", None), 60),
            grant_from(3, "carol", ("ops", "other", "pts/7", None), 60),
        ];
        assert_eq!(flags(&records), [vec!["erin"], vec!["bob"], vec![]]);
    }

    #[test]
    fn one_ssh_client_is_flagged_across_hosts_and_accounts() {
        let records = [
            grant_from(1, "bob", ("bob", "h1", "pts/1", Some("10.0.0.5")), 0),
            grant_from(2, "erin", ("erin", "h2", "pts/2", Some("10.0.0.5")), 120),
            grant_from(3, "carol", ("carol", "h3", "pts/3", Some("10.0.0.9")), 120),
        ];
        assert_eq!(flags(&records), [vec!["erin"], vec!["bob"], vec![]]);
    }
}
