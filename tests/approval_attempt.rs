//! Approvals through the library: each refusal, grants with the qualifying role, counting per
//! visit, and no passphrase anywhere in the log.

// The helpers stop the test at once on a failed fixture, as `unwrap` in a test does.
#![allow(clippy::unwrap_used)]

mod approval_common;

use approval_common::*;
use custos::approval::{ApprovalError, Attempt, Refusal, attempt, quorum};
use custos::policy::roster::Roster;
use custos::runbook::{Named, Pos, Requirement};
use custos::store::{Event, IncidentId, Opening, Store, credential_fingerprint};

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

/// The fingerprint the log records for `person`'s credential in the shipped roster.
fn fingerprint(person: &str) -> Option<String> {
    Some(credential_fingerprint(
        &roster().person(person).unwrap().credential,
    ))
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
            credential: fingerprint("bob"),
        }
    );
    assert_eq!(fingerprint("bob").unwrap().len(), 8);
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
            credential: None,
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
    let Event::ApprovalRefused { person, reason, .. } = last(&store, &incident) else {
        panic!("the late attempt is logged as a refusal");
    };
    assert_eq!(person, "alice");
    assert_eq!(reason, "quorum already met: 2 approvals (bob, erin)");
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
fn approving_a_node_the_incident_is_not_waiting_at_is_refused_and_logged() {
    let (_dir, mut store, incident) = waiting();
    enter(&mut store, &incident, "generate_key", 2);

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
    assert_eq!(
        last(&store, &incident),
        Event::ApprovalRefused {
            node: GENERATION.into(),
            person: "bob".into(),
            reason: "not waiting: the incident is not at `approve_generation`; it is at \
                     `generate_key`"
                .into(),
            origin: origin("ops-1", "pts/1"),
            credential: fingerprint("bob"),
        }
    );
}

#[test]
fn a_weak_or_argon2i_credential_is_refused_even_with_the_right_passphrase() {
    use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};

    let (_dir, mut store, incident) = waiting();
    let hash = |algorithm, params| {
        Argon2::new(algorithm, Version::V0x13, params)
            .hash_password(passphrase("bob").as_bytes())
            .unwrap()
            .to_string()
    };
    let mut roster = roster();
    roster.person_mut("bob").unwrap().credential =
        hash(Algorithm::Argon2id, Params::new(64, 1, 1, None).unwrap());
    let result = try_as(&mut store, &roster, &incident, "bob", &passphrase("bob"), 2);
    assert_eq!(
        refusal(result).to_string(),
        "credential not accepted: it is weaker (m=64, t=1) than the m=19456 KiB, t=2 that \
         `custos roster add` uses; set a new one with `custos roster passwd`"
    );

    roster.person_mut("bob").unwrap().credential = hash(Algorithm::Argon2i, Params::DEFAULT);
    let result = try_as(&mut store, &roster, &incident, "bob", &passphrase("bob"), 3);
    assert_eq!(
        refusal(result),
        Refusal::UnusableCredential {
            reason: "uses `argon2i`; only `argon2id` is accepted".into()
        }
    );
}

/// A requirement of one custodian and one security officer (`each_role`).
fn custodian_and_officer() -> Requirement {
    let named = |name: &str| Named {
        name: name.into(),
        at: Pos::default(),
    };
    Requirement {
        roles: vec![named("custodian"), named("security-officer")],
        count: 2,
        exclude_initiator: true,
        each_role: true,
    }
}

#[test]
fn with_each_role_two_custodians_are_not_enough_and_the_officer_completes_the_quorum() {
    let (_dir, mut store, incident) = waiting();
    let roster = roster();
    let require = custodian_and_officer();
    let mut approve = |person: &str, minutes| {
        attempt(
            &mut store,
            &roster,
            &incident,
            GENERATION,
            &require,
            "alice",
            person,
            &passphrase(person),
            origin("ops-1", "pts/1"),
            at(minutes),
        )
        .unwrap()
    };

    let Attempt::Granted { role, quorum } = approve("bob", 2) else {
        panic!("bob approves as the custodian");
    };
    assert_eq!(role, "custodian");
    assert_eq!(
        quorum.to_string(),
        "1 of 2 approvals at `approve_generation`: bob (custodian); quorum not met (still needs \
         security-officer)"
    );

    let Attempt::Refused { refusal, quorum } = approve("erin", 3) else {
        panic!("a second custodian must be refused");
    };
    assert_eq!(
        refusal.to_string(),
        "role already covered: the remaining approvals must come from security-officer"
    );
    assert!(!quorum.is_met());

    let Attempt::Granted { role, quorum } = approve("carol", 4) else {
        panic!("carol approves as the security officer");
    };
    assert_eq!(role, "security-officer");
    assert!(quorum.is_met());
}

#[test]
fn in_a_real_incident_an_approval_from_the_initiators_account_is_refused() {
    let (_dir, _, mut store) = temp_store();
    let opening = Opening {
        runbook_id: "hsm-key-ceremony".into(),
        runbook_version: 1,
        runbook_source: ceremony_source(),
        title: "HSM installation and key ceremony".into(),
        severity: "medium".into(),
        rehearsal: false,
        initiator: "alice".into(),
        inputs: serde_json::Map::new(),
    };
    let incident = store.open_incident(&opening, at(0)).unwrap();
    let authenticated = Event::InitiatorAuthenticated {
        person: "alice".into(),
        origin: origin("ops-1", "pts/1"),
        credential: fingerprint("alice").unwrap(),
    };
    store
        .append(&incident, "alice", at(0), &[authenticated])
        .unwrap();
    enter(&mut store, &incident, GENERATION, 1);

    // `origin` gives every host the OS user `ops`: bob at another terminal of alice's account.
    let result = try_as(
        &mut store,
        &roster(),
        &incident,
        "bob",
        &passphrase("bob"),
        2,
    );
    assert_eq!(
        refusal(result).to_string(),
        "same account as the initiator: this approval comes from `ops@ops-1`, where the person \
         who opened the incident authenticated; approve from your own account"
    );

    let mut own = origin("ops-1", "pts/4");
    own.user = "bob".into();
    let runbook = ceremony_runbook();
    let granted = attempt(
        &mut store,
        &roster(),
        &incident,
        GENERATION,
        requirement(&runbook, GENERATION),
        "alice",
        "bob",
        &passphrase("bob"),
        own,
        at(3),
    );
    assert!(matches!(granted.unwrap(), Attempt::Granted { .. }));
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
