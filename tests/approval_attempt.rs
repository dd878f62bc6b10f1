//! Approvals through the library: each refusal, grants with the qualifying role, counting per
//! visit, and no passphrase anywhere in the log.

// The helpers stop the test at once on a failed fixture, as `unwrap` in a test does.
#![allow(clippy::unwrap_used)]

mod approval_common;

use approval_common::*;
use custos::approval::{ApprovalError, Attempt, Refusal, attempt, quorum};
use custos::policy::roster::Roster;
use custos::store::{Event, IncidentId, Store};

const GENERATION: &str = "approve_generation";

/// Alice's ceremony, waiting at `approve_generation` (two custodians, initiator excluded).
fn waiting() -> (tempfile::TempDir, Store, IncidentId) {
    let (dir, _, mut store) = temp_store();
    let incident = open_ceremony(&mut store);
    enter(&mut store, &incident, GENERATION, 1);
    (dir, store, incident)
}

fn try_as(
    store: &mut Store,
    roster: &Roster,
    incident: &IncidentId,
    person: &str,
    passphrase: &str,
    minutes: i64,
) -> Result<Attempt, ApprovalError> {
    let runbook = ceremony_runbook();
    attempt(
        store,
        roster,
        incident,
        GENERATION,
        requirement(&runbook, GENERATION),
        "alice",
        person,
        passphrase,
        origin("ops-1", "pts/1"),
        at(minutes),
    )
}

fn refusal(result: Result<Attempt, ApprovalError>) -> Refusal {
    match result.unwrap() {
        Attempt::Refused { refusal, .. } => refusal,
        granted => panic!("expected a refusal, got {granted:?}"),
    }
}

/// The last event of the incident.
fn last(store: &Store, incident: &IncidentId) -> Event {
    store.events(incident).unwrap().pop().unwrap().event
}

#[test]
fn a_custodian_with_the_right_passphrase_is_granted_with_the_role_that_qualified() {
    let (_dir, mut store, incident) = waiting();
    let result = try_as(
        &mut store,
        &roster(),
        &incident,
        "bob",
        &passphrase("bob"),
        2,
    );

    let Attempt::Granted { role, quorum } = result.unwrap() else {
        panic!("bob should be granted");
    };
    assert_eq!(role, "custodian");
    assert_eq!(quorum.people(), ["bob"]);
    assert!(!quorum.is_met());
    assert_eq!(
        last(&store, &incident),
        Event::ApprovalGranted {
            node: GENERATION.into(),
            person: "bob".into(),
            role: "custodian".into(),
            origin: origin("ops-1", "pts/1"),
        }
    );
}

#[test]
fn an_unknown_person_is_refused_and_the_refusal_is_logged() {
    let (_dir, mut store, incident) = waiting();
    let result = try_as(
        &mut store,
        &roster(),
        &incident,
        "mallory",
        "whatever-it-is",
        2,
    );

    assert_eq!(refusal(result), Refusal::UnknownPerson);
    assert_eq!(
        last(&store, &incident),
        Event::ApprovalRefused {
            node: GENERATION.into(),
            person: "mallory".into(),
            reason: "unknown person: not in the roster".into(),
            origin: origin("ops-1", "pts/1"),
        }
    );
}

#[test]
fn a_wrong_passphrase_is_refused() {
    let (_dir, mut store, incident) = waiting();
    let result = try_as(
        &mut store,
        &roster(),
        &incident,
        "bob",
        &passphrase("erin"),
        2,
    );
    assert_eq!(refusal(result), Refusal::WrongPassphrase);
}

#[test]
fn a_person_without_a_listed_role_is_refused() {
    let (_dir, mut store, incident) = waiting();
    let result = try_as(
        &mut store,
        &roster(),
        &incident,
        "carol",
        &passphrase("carol"),
        2,
    );

    assert_eq!(
        refusal(result),
        Refusal::MissingRole {
            required: vec!["custodian".into()]
        }
    );
    let Event::ApprovalRefused { reason, .. } = last(&store, &incident) else {
        panic!("a refusal is logged");
    };
    assert_eq!(reason, "missing role: needs one of custodian");
}

#[test]
fn a_revoked_person_is_refused_from_the_day_of_revocation() {
    let (_dir, mut store, incident) = waiting();
    let mut roster = roster();
    roster.person_mut("bob").unwrap().revoked_on = Some("2026-12-03".parse().unwrap());

    let result = try_as(&mut store, &roster, &incident, "bob", &passphrase("bob"), 2);
    assert_eq!(
        refusal(result),
        Refusal::Revoked {
            on: "2026-12-03".parse().unwrap()
        }
    );
}

#[test]
fn a_person_revoked_tomorrow_may_still_approve_today() {
    let (_dir, mut store, incident) = waiting();
    let mut roster = roster();
    roster.person_mut("bob").unwrap().revoked_on = Some("2026-12-04".parse().unwrap());

    let result = try_as(&mut store, &roster, &incident, "bob", &passphrase("bob"), 2);
    assert!(matches!(result.unwrap(), Attempt::Granted { .. }));
}

#[test]
fn the_same_person_twice_in_one_visit_is_refused_and_counts_once() {
    let (_dir, mut store, incident) = waiting();
    let roster = roster();
    try_as(&mut store, &roster, &incident, "bob", &passphrase("bob"), 2).unwrap();

    let again = try_as(&mut store, &roster, &incident, "bob", &passphrase("bob"), 3);
    let Attempt::Refused { refusal, quorum } = again.unwrap() else {
        panic!("bob twice must be refused");
    };
    assert_eq!(refusal, Refusal::AlreadyApproved);
    assert_eq!(quorum.people(), ["bob"]);
}

#[test]
fn the_initiator_is_refused_where_the_node_excludes_the_initiator() {
    let (_dir, mut store, incident) = waiting();
    let result = try_as(
        &mut store,
        &roster(),
        &incident,
        "alice",
        &passphrase("alice"),
        2,
    );
    assert_eq!(refusal(result), Refusal::Initiator);
}

#[test]
fn the_initiator_may_approve_where_the_node_does_not_exclude_the_initiator() {
    let (_dir, mut store, incident) = waiting();
    enter(&mut store, &incident, "approve_record", 5);
    let runbook = ceremony_runbook();
    let result = attempt(
        &mut store,
        &roster(),
        &incident,
        "approve_record",
        requirement(&runbook, "approve_record"),
        "alice",
        "alice",
        &passphrase("alice"),
        origin("ops-1", "pts/1"),
        at(6),
    );
    assert!(matches!(result.unwrap(), Attempt::Granted { .. }));
}

#[test]
fn two_distinct_custodians_meet_the_quorum_and_a_third_is_told_it_is_met() {
    let (_dir, mut store, incident) = waiting();
    let roster = roster();
    try_as(&mut store, &roster, &incident, "bob", &passphrase("bob"), 2).unwrap();
    let second = try_as(
        &mut store,
        &roster,
        &incident,
        "erin",
        &passphrase("erin"),
        3,
    )
    .unwrap();
    assert!(second.quorum().is_met());
    assert_eq!(second.quorum().people(), ["bob", "erin"]);

    let events_before = store.events(&incident).unwrap().len();
    let third = try_as(
        &mut store,
        &roster,
        &incident,
        "alice",
        &passphrase("alice"),
        4,
    );
    assert_eq!(
        third.unwrap_err().to_string(),
        "the approval at node `approve_generation` of incident `INC-1` already has its 2 \
         approvals (bob, erin); nothing is left to approve"
    );
    assert_eq!(store.events(&incident).unwrap().len(), events_before);
}

#[test]
fn approvals_count_only_for_the_latest_visit_of_the_node() {
    let (_dir, mut store, incident) = waiting();
    let roster = roster();
    try_as(&mut store, &roster, &incident, "bob", &passphrase("bob"), 2).unwrap();
    enter(&mut store, &incident, "health", 3);
    enter(&mut store, &incident, GENERATION, 4);

    let runbook = ceremony_runbook();
    let require = requirement(&runbook, GENERATION);
    let fresh = quorum(&store.events(&incident).unwrap(), GENERATION, require);
    assert!(fresh.entered);
    assert!(fresh.approvers.is_empty());

    let again = try_as(&mut store, &roster, &incident, "bob", &passphrase("bob"), 5);
    assert!(matches!(again.unwrap(), Attempt::Granted { .. }));
}

#[test]
fn approving_a_node_the_incident_is_not_waiting_at_appends_nothing() {
    let (_dir, mut store, incident) = waiting();
    enter(&mut store, &incident, "generate_key", 2);
    let before = store.events(&incident).unwrap().len();

    let error = try_as(
        &mut store,
        &roster(),
        &incident,
        "bob",
        &passphrase("bob"),
        3,
    );
    assert_eq!(
        error.unwrap_err().to_string(),
        "incident `INC-1` is not waiting at node `approve_generation`; it is at `generate_key`"
    );
    assert_eq!(store.events(&incident).unwrap().len(), before);
}

#[test]
fn no_passphrase_reaches_the_log_whatever_the_outcome() {
    let (_dir, mut store, incident) = waiting();
    let roster = roster();
    try_as(&mut store, &roster, &incident, "bob", &passphrase("bob"), 2).unwrap();
    try_as(
        &mut store,
        &roster,
        &incident,
        "erin",
        "erin-wrong-passphrase",
        3,
    )
    .unwrap();
    try_as(
        &mut store,
        &roster,
        &incident,
        "nobody",
        "nobody-secret-words",
        3,
    )
    .unwrap();

    let log = format!("{:?}", store.events(&incident).unwrap());
    for secret in [
        passphrase("bob").as_str(),
        "erin-wrong-passphrase",
        "nobody-secret-words",
    ] {
        assert!(!log.contains(secret), "`{secret}` leaked into the log");
    }
}
