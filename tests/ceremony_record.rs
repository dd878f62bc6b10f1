//! The ceremony record of a drill of the installation ceremony, built with the store API:
//! participants, steps, KCVs, deviations, the dual-control listing with a flagged same-terminal
//! pair, the seal and its verification, in Markdown and HTML, through the library and `custos`.

// The helpers stop the test at once on a failed fixture, as `unwrap` in a test does.
#![allow(clippy::unwrap_used)]

mod approval_common;
mod support;

use approval_common::*;
use custos::approval::{SAME_TERMINAL_WINDOW, dual_control};
use custos::ceremony::{self, CeremonyError};
use custos::store::signing::public_key_text;
use custos::store::{Event, IncidentId, Participant, Store};
use serde_json::{Map, Value, json};
use support::cli::custos;

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn granted(node: &str, person: &str, role: &str, host: &str, terminal: &str) -> Event {
    Event::ApprovalGranted {
        node: node.into(),
        person: person.into(),
        role: role.into(),
        origin: origin(host, terminal),
        credential: None,
    }
}

/// Appends `events` as `actor` at minute `minutes`.
fn log(store: &mut Store, incident: &IncidentId, actor: &str, minutes: i64, events: &[Event]) {
    store.append(incident, actor, at(minutes), events).unwrap();
}

/// A drill of the installation ceremony, closed and sealed. Bob and erin approve the key
/// generation from one terminal two minutes apart; carol and dave approve the script from their
/// own terminals; bob's first try at the record approval is refused.
fn drill(store: &mut Store) -> IncidentId {
    let id = open_ceremony(store);
    let participants = [
        "alice:ceremony-master",
        "bob:custodian",
        "erin:custodian",
        "carol:security-officer",
        "Ana Auditora (Audit SA):witness",
    ]
    .iter()
    .map(|pair| {
        let (person, role) = pair.split_once(':').unwrap();
        Participant {
            person: person.into(),
            role: role.into(),
        }
    })
    .collect();
    log(
        store,
        &id,
        "alice",
        1,
        &[Event::ParticipantsRecorded { participants }],
    );

    enter(store, &id, "approve_script", 2);
    log(
        store,
        &id,
        "carol",
        3,
        &[granted(
            "approve_script",
            "carol",
            "security-officer",
            "ops-1",
            "pts/1",
        )],
    );
    log(
        store,
        &id,
        "dave",
        4,
        &[granted(
            "approve_script",
            "dave",
            "operations-manager",
            "ops-2",
            "pts/7",
        )],
    );

    enter(store, &id, "approve_generation", 10);
    log(
        store,
        &id,
        "bob",
        11,
        &[granted(
            "approve_generation",
            "bob",
            "custodian",
            "ops-3",
            "pts/2",
        )],
    );
    log(
        store,
        &id,
        "erin",
        13,
        &[granted(
            "approve_generation",
            "erin",
            "custodian",
            "ops-3",
            "pts/2",
        )],
    );

    enter(store, &id, "generate_key", 14);
    log(
        store,
        &id,
        "alice",
        15,
        &[Event::ActionFinished {
            node: "generate_key".into(),
            action: "hsm.generate".into(),
            ok: true,
            outputs: map(json!({"handle": 12, "kcv": "7DF76B", "method": "ecb", "length": 3})),
            error: None,
            next: "kcv_cmac".into(),
        }],
    );
    log(
        store,
        &id,
        "alice",
        16,
        &[Event::ActionFinished {
            node: "kcv_cmac".into(),
            action: "hsm.kcv".into(),
            ok: false,
            outputs: Map::new(),
            error: Some("CKR_MECHANISM_INVALID".into()),
            next: "record_kcvs".into(),
        }],
    );
    log(
        store,
        &id,
        "bob",
        17,
        &[Event::StepCompleted {
            node: "record_kcvs".into(),
            fields: map(json!({"kcv_cmac": "7AD386C376", "kcv_ecb": "7DF76B"})),
            next: "backup".into(),
        }],
    );
    log(
        store,
        &id,
        "alice",
        18,
        &[Event::NoteAdded {
            node: "record_kcvs".into(),
            text: "CMAC computed by hand on the offline laptop: <AES> & done".into(),
        }],
    );

    enter(store, &id, "approve_record", 20);
    log(
        store,
        &id,
        "bob",
        21,
        &[Event::ApprovalRefused {
            node: "approve_record".into(),
            person: "bob".into(),
            reason: "wrong passphrase".into(),
            origin: origin("ops-3", "pts/2"),
            credential: None,
        }],
    );
    log(
        store,
        &id,
        "bob",
        30,
        &[granted(
            "approve_record",
            "bob",
            "custodian",
            "ops-3",
            "pts/2",
        )],
    );
    log(
        store,
        &id,
        "carol",
        31,
        &[granted(
            "approve_record",
            "carol",
            "security-officer",
            "ops-1",
            "pts/1",
        )],
    );
    log(
        store,
        &id,
        "alice",
        31,
        &[Event::ApprovalCompleted {
            node: "approve_record".into(),
            people: vec!["bob".into(), "carol".into()],
            next: "sign_record".into(),
        }],
    );

    let closing = Event::IncidentClosed {
        node: "end_completed".into(),
        outcome: "completed".into(),
    };
    store.close(&id, "alice", at(40), closing, &key()).unwrap();
    id
}

#[test]
fn the_dual_control_listing_flags_two_people_at_one_terminal_within_five_minutes() {
    let (_dir, _, mut store) = temp_store();
    let id = drill(&mut store);
    let entries = dual_control(&store.events(&id).unwrap(), SAME_TERMINAL_WINDOW);

    let flags: Vec<(String, Vec<String>)> = entries
        .iter()
        .map(|e| {
            (
                format!("{}@{}", e.person, e.node),
                e.same_terminal_as.clone(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [
            ("carol@approve_script".into(), vec![]),
            ("dave@approve_script".into(), vec![]),
            ("bob@approve_generation".into(), vec!["erin".to_owned()]),
            ("erin@approve_generation".into(), vec!["bob".to_owned()]),
            ("bob@approve_record".into(), vec![]),
            ("carol@approve_record".into(), vec![]),
        ]
    );
    assert_eq!(entries[2].place(), "ops@ops-3, pts/2, pid 4242");
}

#[test]
fn the_record_holds_participants_steps_kcvs_deviations_and_the_verified_seal() {
    let (_dir, _, mut store) = temp_store();
    let id = drill(&mut store);
    let trusted = key().verifying_key();
    let record = ceremony::record(&store, &id, Some(&roster()), Some(&trusted)).unwrap();

    assert!(record.verified());
    let people: Vec<(&str, Option<&str>, String, bool)> = record
        .participants
        .iter()
        .map(|p| {
            (
                p.person.as_str(),
                p.name.as_deref(),
                p.roles.join(","),
                p.recorded,
            )
        })
        .collect();
    assert_eq!(
        people,
        [
            (
                "alice",
                Some("Alice Andrade"),
                "ceremony-master".into(),
                true
            ),
            ("bob", Some("Bob Benavides"), "custodian".into(), true),
            ("erin", Some("Erin Espinoza"), "custodian".into(), true),
            (
                "carol",
                Some("Carol Castillo"),
                "security-officer".into(),
                true
            ),
            ("Ana Auditora (Audit SA)", None, "witness".into(), true),
            (
                "dave",
                Some("Dave Delgado"),
                "operations-manager".into(),
                false
            ),
        ]
    );

    let kcvs: Vec<(String, String, String)> = record
        .kcvs
        .iter()
        .map(|k| (k.value.clone(), k.method.clone(), k.source.clone()))
        .collect();
    assert_eq!(
        kcvs,
        [
            ("7DF76B".into(), "ecb".into(), "action hsm.generate".into()),
            (
                "7AD386C376".into(),
                "by hand; see the field name".into(),
                "field kcv_cmac typed by bob".into()
            ),
            (
                "7DF76B".into(),
                "by hand; see the field name".into(),
                "field kcv_ecb typed by bob".into()
            ),
        ]
    );

    let deviations: Vec<&str> = record.deviations.iter().map(|d| d.what.as_str()).collect();
    assert_eq!(
        deviations,
        [
            "hsm.kcv FAILED: CKR_MECHANISM_INVALID",
            "note: CMAC computed by hand on the offline laptop: <AES> & done",
            "approval by bob REFUSED: wrong passphrase",
        ]
    );
    let step = record
        .steps
        .iter()
        .find(|s| s.node == "record_kcvs")
        .unwrap();
    assert_eq!(step.actor, "bob");
    assert_eq!(step.title, "Write down the check values by hand");
    assert_eq!(step.what, "done; kcv_cmac: 7AD386C376; kcv_ecb: 7DF76B");
    assert_eq!(record.flagged().count(), 2);
}

#[test]
fn the_markdown_record_is_printable_with_seal_flags_and_signature_lines() {
    let (_dir, _, mut store) = temp_store();
    let id = drill(&mut store);
    let record = ceremony::record(&store, &id, Some(&roster()), None).unwrap();
    let seal = store.seal(&id).unwrap().unwrap();
    let text = record.markdown();

    for expected in [
        "# Ceremony record: HSM installation and key ceremony\n",
        "**DRILL: a rehearsal, not a record of a production ceremony.**",
        "| Started | 2026-12-03T19:00:00Z by alice |",
        "| Ended | 2026-12-03T19:40:00Z, outcome completed |",
        "## Participants",
        "| bob | Bob Benavides | custodian | yes |",
        "| 12 | 2026-12-03T19:17:00Z | bob | Write down the check values by hand (record_kcvs) | \
         done; kcv_cmac: 7AD386C376; kcv_ecb: 7DF76B |",
        "| 10 | generate_key | `7DF76B` | ecb | action hsm.generate |",
        "| 2026-12-03T19:11:00Z | approve_generation | bob | custodian | ops@ops-3, pts/2, pid \
         4242 | SAME TERMINAL as erin |",
        "**2 approval(s) were given from the same terminal as another person's within 5 \
         minutes.**",
        "## Deviations",
        "approval by bob REFUSED: wrong passphrase",
        &format!(
            "- Chain head: event {}, `{}`",
            seal.head_seq, seal.head_hash
        ),
        &format!("- Public key: `{}`", public_key_text(&seal.public_key)),
        &format!(
            "- Signature (Ed25519): `{}`",
            hex::encode(seal.signature.to_bytes())
        ),
        "- Verification: VERIFIED: 19 event(s) read; sealed by ed25519:",
        "Erin Espinoza (erin), as custodian\n\nSignature: ______________________________  \
         Date and time: ____________________",
        "Ana Auditora (Audit SA), as witness",
        "| dave | Dave Delgado | operations-manager | no: acted without being signed in |",
        "Filed under dual custody in tamper-evident bag serial",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn the_html_record_escapes_text_and_says_the_seal_is_trusted() {
    let (_dir, _, mut store) = temp_store();
    let id = drill(&mut store);
    let trusted = key().verifying_key();
    let html = ceremony::record(&store, &id, None, Some(&trusted))
        .unwrap()
        .html();

    assert!(html.starts_with("<!DOCTYPE html>\n"));
    assert!(html.contains("offline laptop: &lt;AES&gt; &amp; done"));
    assert!(!html.contains("<AES>"));
    assert!(html.contains(&format!(
        "Verification: VERIFIED: 19 event(s) read; sealed by the trusted key {}",
        public_key_text(&trusted)
    )));
    assert!(html.contains("<td>SAME TERMINAL as erin</td>"));
    assert!(html.ends_with("</body></html>\n"));
}

#[test]
fn an_open_ceremony_or_a_runbook_that_is_not_a_ceremony_has_no_record() {
    let (_dir, _, mut store) = temp_store();
    let open = open_ceremony(&mut store);
    let error = ceremony::record(&store, &open, None, None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "incident `INC-1` is still open; a ceremony record is made once it is closed and sealed"
    );

    let source = std::fs::read_to_string(repo().join("runbooks/zmk-compromise.yaml")).unwrap();
    let opening = custos::store::Opening {
        runbook_id: "zmk-compromise".into(),
        runbook_version: 1,
        runbook_source: source,
        title: "ZMK compromise".into(),
        severity: "critical".into(),
        rehearsal: true,
        initiator: "alice".into(),
        inputs: Map::new(),
    };
    let other = store.open_incident(&opening, at(0)).unwrap();
    let closing = Event::IncidentClosed {
        node: "done".into(),
        outcome: "resolved".into(),
    };
    store
        .close(&other, "alice", at(1), closing, &key())
        .unwrap();
    let error = ceremony::record(&store, &other, None, None).unwrap_err();
    assert!(matches!(error, CeremonyError::NotACeremony { .. }));
    assert_eq!(
        error.to_string(),
        "incident `INC-2` follows runbook `zmk-compromise`, which is not a ceremony \
         (`ceremony: true`); it has no ceremony record"
    );
}

#[test]
fn custos_ceremony_record_prints_the_record_and_exits_0_when_the_seal_verifies() {
    let (dir, path, mut store) = temp_store();
    let id = drill(&mut store);
    drop(store);

    let run = custos()
        .args(["--store", &path.display().to_string()])
        .args(["--policies", &repo().join("policies").display().to_string()])
        .args(["ceremony", "record", &id.to_string()])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("| erin | Erin Espinoza | custodian | yes |")
    );
    assert!(run.stdout.contains("SAME TERMINAL as bob"));

    let out = dir.path().join("record.html");
    let run = custos()
        .args(["--store", &path.display().to_string()])
        .args(["ceremony", "record", "1", "--format", "html", "--output"])
        .args([&out])
        .args(["--trusted-key", &public_key_text(&key().verifying_key())])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("sealed by the trusted key"));
}

#[test]
fn custos_ceremony_record_exits_1_when_the_seal_was_made_by_another_key() {
    let (_dir, path, mut store) = temp_store();
    drill(&mut store);
    drop(store);

    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key();
    let run = custos()
        .args(["--store", &path.display().to_string()])
        .args([
            "ceremony",
            "record",
            "INC-1",
            "--trusted-key",
            &public_key_text(&other),
        ])
        .run();
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "custos: the log of INC-1 does not verify; the record says why\n"
    );
    assert!(
        run.stdout
            .contains("- Verification: FAILED: 19 event(s) read; the seal was made by")
    );
}

#[test]
fn custos_ceremony_record_exits_2_for_an_open_incident_or_a_malformed_key() {
    let (_dir, path, mut store) = temp_store();
    open_ceremony(&mut store);
    drop(store);

    let run = custos()
        .args(["--store", &path.display().to_string()])
        .args(["ceremony", "record", "INC-1"])
        .run();
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: incident `INC-1` is still open; a ceremony record is made once it is closed \
         and sealed\n"
    );

    let run = custos()
        .args(["--store", &path.display().to_string()])
        .args(["ceremony", "record", "INC-1", "--trusted-key", "ed25519:zz"])
        .run();
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: `ed25519:zz` is not a custos public key (not 64 hex digits); expected \
         `ed25519:` and 64 hex digits\n"
    );
}
