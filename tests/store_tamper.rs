//! Tampering with the SQLite file behind custos's back, and verification naming the first bad
//! event and what is wrong with it.

// The helpers below fail their test the way `unwrap` inside a `#[test]` function does.
#![allow(clippy::unwrap_used)]

mod store_common;
mod support;

use custos::store::{
    ChainHash, IncidentGap, IncidentId, Problem, ProblemKind, SealStatus, Store, Verification,
};
use ed25519_dalek::Signer;
use rusqlite::params;
use store_common::{at, closing, key, raw, temp_store, walked_incident};

/// A log with one walked incident of five events, and its path.
fn walked() -> (tempfile::TempDir, std::path::PathBuf, Store, IncidentId) {
    let (dir, path, mut store) = temp_store();
    let id = walked_incident(&mut store);
    assert!(store.verify(&id, None).unwrap().is_ok());
    (dir, path, store, id)
}

fn first(verification: &Verification) -> &Problem {
    verification
        .first_problem()
        .unwrap_or_else(|| panic!("no problem in {verification:#?}"))
}

fn body(conn: &rusqlite::Connection, seq: i64) -> String {
    conn.query_row("SELECT body FROM events WHERE seq = ?1", [seq], |r| {
        r.get(0)
    })
    .unwrap()
}

fn hash(conn: &rusqlite::Connection, seq: i64) -> String {
    conn.query_row("SELECT hash FROM events WHERE seq = ?1", [seq], |r| {
        r.get(0)
    })
    .unwrap()
}

#[test]
fn changing_one_byte_of_a_body_is_reported_as_a_changed_body_at_that_event() {
    let (_dir, path, store, id) = walked();
    let conn = raw(&path);
    let edited = body(&conn, 4).replace("CISO called", "CISO calmed");
    conn.execute("UPDATE events SET body = ?1 WHERE seq = 4", [edited])
        .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert!(!verification.is_ok());
    assert_eq!(first(&verification).seq, 4);
    assert!(matches!(
        first(&verification).kind,
        ProblemKind::BodyChanged { .. }
    ));
    assert_eq!(
        verification.problems.len(),
        1,
        "{:#?}",
        verification.problems
    );
    assert!(
        first(&verification)
            .to_string()
            .starts_with("event 4: its body was changed after it was written (it hashes to ")
    );
}

#[test]
fn deleting_an_event_is_reported_as_that_event_missing() {
    let (_dir, path, store, id) = walked();
    raw(&path)
        .execute("DELETE FROM events WHERE seq = 3", [])
        .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(
        first(&verification),
        &Problem {
            seq: 3,
            kind: ProblemKind::Missing { first: 3, last: 3 }
        }
    );
    assert_eq!(
        verification.problems.len(),
        1,
        "{:#?}",
        verification.problems
    );
    assert_eq!(
        first(&verification).to_string(),
        "event 3: missing; it was removed from the log"
    );
}

#[test]
fn deleting_an_event_and_renumbering_the_rest_is_still_reported_as_missing() {
    let (_dir, path, store, id) = walked();
    let conn = raw(&path);
    conn.execute("DELETE FROM events WHERE seq = 2", [])
        .unwrap();
    for seq in 3..=5 {
        conn.execute("UPDATE events SET seq = ?1 WHERE seq = ?2", [seq - 1, seq])
            .unwrap();
    }

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(
        first(&verification),
        &Problem {
            seq: 2,
            kind: ProblemKind::Missing { first: 2, last: 2 }
        }
    );
    assert_eq!(
        verification.problems.len(),
        1,
        "{:#?}",
        verification.problems
    );
}

#[test]
fn deleting_event_1_is_reported_as_event_1_missing() {
    let (_dir, path, store, id) = walked();
    raw(&path)
        .execute("DELETE FROM events WHERE seq = 1", [])
        .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(
        first(&verification),
        &Problem {
            seq: 1,
            kind: ProblemKind::Missing { first: 1, last: 1 }
        }
    );
}

#[test]
fn swapping_two_events_seq_is_reported_as_reordered_at_the_first_of_them() {
    let (_dir, path, store, id) = walked();
    raw(&path)
        .execute_batch(
            "UPDATE events SET seq = -3 WHERE seq = 3;
             UPDATE events SET seq = 3 WHERE seq = 4;
             UPDATE events SET seq = 4 WHERE seq = -3;",
        )
        .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(
        first(&verification),
        &Problem {
            seq: 3,
            kind: ProblemKind::Reordered { written_as: 4 }
        }
    );
    assert_eq!(
        first(&verification).to_string(),
        "event 3: out of order; the event stored here was written as event 4"
    );
}

#[test]
fn inserting_a_forged_event_with_a_correct_link_is_reported_as_inserted() {
    let (_dir, path, store, id) = walked();
    let conn = raw(&path);
    for seq in (3..=5).rev() {
        conn.execute("UPDATE events SET seq = ?1 WHERE seq = ?2", [seq + 1, seq])
            .unwrap();
    }
    // A forger who knows the chain rules writes a well-formed event 3 after event 2.
    let prev: ChainHash = hash(&conn, 2).parse().unwrap();
    let forged = body(&conn, 2)
        .replace(r#""seq":2"#, r#""seq":3"#)
        .replace("confirmed", "ruled_out");
    let forged_hash = ChainHash::link(&prev, forged.as_bytes());
    conn.execute(
        "INSERT INTO events (incident, seq, kind, at, actor, written_at, body, prev_hash, hash)
         SELECT incident, 3, kind, at, actor, written_at, ?1, ?2, ?3 FROM events WHERE seq = 2",
        params![forged, prev.to_string(), forged_hash.to_string()],
    )
    .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(
        first(&verification),
        &Problem {
            seq: 3,
            kind: ProblemKind::Inserted { first: 3, last: 3 }
        }
    );
    assert_eq!(
        verification.problems.len(),
        1,
        "{:#?}",
        verification.problems
    );
    assert_eq!(
        first(&verification).to_string(),
        "event 3: inserted; it is not part of the chain as written"
    );
}

#[test]
fn inserting_a_forged_event_with_a_made_up_link_is_reported_as_inserted() {
    let (_dir, path, store, id) = walked();
    let conn = raw(&path);
    for seq in (3..=5).rev() {
        conn.execute("UPDATE events SET seq = ?1 WHERE seq = ?2", [seq + 1, seq])
            .unwrap();
    }
    let made_up = |text: &[u8]| ChainHash::of(text).to_string();
    conn.execute(
        "INSERT INTO events (incident, seq, kind, at, actor, written_at, body, prev_hash, hash)
         SELECT incident, 3, kind, at, actor, written_at, body, ?1, ?2 FROM events WHERE seq = 2",
        [made_up(b"prev"), made_up(b"hash")],
    )
    .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(first(&verification).seq, 3);
    assert_eq!(
        first(&verification).kind,
        ProblemKind::Inserted { first: 3, last: 3 }
    );
}

#[test]
fn editing_only_the_actor_column_is_reported_as_a_column_disagreeing_with_the_body() {
    let (_dir, path, store, id) = walked();
    raw(&path)
        .execute("UPDATE events SET actor = 'mallory' WHERE seq = 2", [])
        .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(
        first(&verification),
        &Problem {
            seq: 2,
            kind: ProblemKind::ColumnDisagrees {
                column: "actor",
                column_value: "mallory".into(),
                body_value: "alice".into(),
            }
        }
    );
    assert_eq!(verification.problems.len(), 1);
    assert_eq!(
        first(&verification).to_string(),
        "event 2: the `actor` column says `mallory` but the hashed body says `alice`"
    );
}

#[test]
fn rewriting_a_body_and_its_hash_is_reported_at_the_next_event_as_a_broken_link() {
    let (_dir, path, store, id) = walked();
    let conn = raw(&path);
    let edited = body(&conn, 3).replace("confirmed", "ruled_out");
    let prev: ChainHash = hash(&conn, 2).parse().unwrap();
    let rehashed = ChainHash::link(&prev, edited.as_bytes()).to_string();
    conn.execute(
        "UPDATE events SET body = ?1, hash = ?2 WHERE seq = 3",
        [edited, rehashed],
    )
    .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(first(&verification).seq, 4);
    assert!(matches!(
        first(&verification).kind,
        ProblemKind::BrokenLink { .. }
    ));
}

#[test]
fn an_unparsable_body_is_a_problem_not_a_panic_or_an_error() {
    let (_dir, path, store, id) = walked();
    raw(&path)
        .execute(
            "UPDATE events SET body = CAST(x'7b22ff' AS TEXT) WHERE seq = 5",
            [],
        )
        .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(first(&verification).seq, 5);
    assert!(matches!(
        first(&verification).kind,
        ProblemKind::BodyChanged { .. }
    ));
    assert!(
        verification
            .problems
            .iter()
            .any(|p| { p.seq == 5 && matches!(p.kind, ProblemKind::UnparsableBody { .. }) })
    );
    let error = store.events(&id).unwrap_err().to_string();
    assert!(
        error.contains("holds a damaged record in incident `INC-1` at event 5"),
        "{error}"
    );
    assert!(
        error.ends_with("run `custos verify INC-1` for the full report"),
        "{error}"
    );
}

#[test]
fn changing_the_pinned_runbook_source_is_reported_at_event_1() {
    let (_dir, path, store, id) = walked();
    raw(&path)
        .execute("UPDATE incidents SET runbook_source = 'nodes: [evil]'", [])
        .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(first(&verification).seq, 1);
    assert!(matches!(
        first(&verification).kind,
        ProblemKind::RunbookChanged { .. }
    ));
}

#[test]
fn changing_the_incident_title_is_reported_against_event_1() {
    let (_dir, path, store, id) = walked();
    raw(&path)
        .execute("UPDATE incidents SET title = 'routine check'", [])
        .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(
        first(&verification),
        &Problem {
            seq: 1,
            kind: ProblemKind::IncidentDisagrees {
                field: "title",
                incident_value: "routine check".into(),
                event_value: "ZMK exposed in a ticket".into(),
            }
        }
    );
}

/// Recomputes every hash of the incident from its (edited) bodies, as a careful forger would.
fn rehash_chain(conn: &rusqlite::Connection, id: IncidentId) -> ChainHash {
    let mut prev = ChainHash::genesis(id);
    for seq in 1..=6 {
        let hash = ChainHash::link(&prev, body(conn, seq).as_bytes());
        conn.execute(
            "UPDATE events SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            params![prev.to_string(), hash.to_string(), seq],
        )
        .unwrap();
        prev = hash;
    }
    prev
}

#[test]
fn a_closed_chain_rewritten_consistently_fails_on_the_seal() {
    let (_dir, path, mut store, id) = walked();
    store
        .close(&id, "alice", at(9), closing(), &key(1))
        .unwrap();
    let conn = raw(&path);
    let edited = body(&conn, 3).replace("confirmed", "ruled_out");
    conn.execute("UPDATE events SET body = ?1 WHERE seq = 3", [edited])
        .unwrap();
    let head = rehash_chain(&conn, id);
    conn.execute("UPDATE seals SET head_hash = ?1", [head.to_string()])
        .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(verification.problems, []);
    assert_eq!(verification.seal, SealStatus::BadSignature);
    assert!(!verification.is_ok());
    assert_eq!(
        verification.seal.to_string(),
        "the seal's signature does not verify: the chain or the seal was rewritten"
    );
}

#[test]
fn a_closed_chain_rewritten_without_touching_the_seal_fails_on_the_sealed_head() {
    let (_dir, path, mut store, id) = walked();
    store
        .close(&id, "alice", at(9), closing(), &key(1))
        .unwrap();
    let conn = raw(&path);
    let edited = body(&conn, 3).replace("confirmed", "ruled_out");
    conn.execute("UPDATE events SET body = ?1 WHERE seq = 3", [edited])
        .unwrap();
    rehash_chain(&conn, id);

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(verification.problems, []);
    assert!(matches!(verification.seal, SealStatus::HeadMismatch { .. }));
}

#[test]
fn a_seal_re_signed_with_another_key_passes_alone_but_fails_against_the_trusted_key() {
    let (_dir, path, mut store, id) = walked();
    let seal = store
        .close(&id, "alice", at(9), closing(), &key(1))
        .unwrap();
    let mallory = key(66);
    let message = format!("custos-seal-v1:{id}:{}:{}", seal.head_seq, seal.head_hash);
    raw(&path)
        .execute(
            "UPDATE seals SET public_key = ?1, signature = ?2",
            params![
                custos::store::signing::public_key_text(&mallory.verifying_key()),
                hex::encode(mallory.sign(message.as_bytes()).to_bytes()),
            ],
        )
        .unwrap();

    let alone = store.verify(&id, None).unwrap();
    let trusted = store.verify(&id, Some(&key(1).verifying_key())).unwrap();

    assert!(matches!(
        alone.seal,
        SealStatus::Valid { trusted: false, .. }
    ));
    assert!(matches!(trusted.seal, SealStatus::UntrustedKey { .. }));
    assert!(!trusted.is_ok());
    assert!(
        trusted
            .seal
            .to_string()
            .starts_with("the seal was made by ed25519:")
    );
}

#[test]
fn replacing_only_the_seals_public_key_breaks_the_signature() {
    let (_dir, path, mut store, id) = walked();
    store
        .close(&id, "alice", at(9), closing(), &key(1))
        .unwrap();
    let other = custos::store::signing::public_key_text(&key(2).verifying_key());
    raw(&path)
        .execute("UPDATE seals SET public_key = ?1", [other])
        .unwrap();

    assert_eq!(
        store.verify(&id, None).unwrap().seal,
        SealStatus::BadSignature
    );
}

#[test]
fn deleting_the_seal_of_a_closed_incident_is_reported_as_a_missing_seal() {
    let (_dir, path, mut store, id) = walked();
    store
        .close(&id, "alice", at(9), closing(), &key(1))
        .unwrap();
    raw(&path).execute("DELETE FROM seals", []).unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(verification.seal, SealStatus::Missing);
    assert!(!verification.is_ok());
}

#[test]
fn an_unreadable_seal_is_named_as_the_seal_not_as_an_event() {
    let (_dir, path, mut store, id) = walked();
    store
        .close(&id, "alice", at(9), closing(), &key(1))
        .unwrap();
    raw(&path)
        .execute("UPDATE seals SET signature = 'zz'", [])
        .unwrap();

    let error = store.seal(&id).unwrap_err().to_string();

    assert!(
        error.contains("holds a damaged record in incident `INC-1` in its seal: `signature` is"),
        "{error}"
    );
    assert!(!error.contains("event 0"), "{error}");
}

#[test]
fn cutting_the_closing_event_off_a_sealed_incident_fails_on_the_seal() {
    let (_dir, path, mut store, id) = walked();
    store
        .close(&id, "alice", at(9), closing(), &key(1))
        .unwrap();
    raw(&path)
        .execute("DELETE FROM events WHERE seq = 6", [])
        .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert_eq!(verification.problems, []);
    assert!(matches!(verification.seal, SealStatus::HeadMismatch { .. }));
}

#[test]
fn cutting_the_tail_of_an_open_incident_is_not_detected_as_documented() {
    let (_dir, path, store, id) = walked();
    raw(&path)
        .execute("DELETE FROM events WHERE seq = 5", [])
        .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert!(verification.is_ok());
    assert_eq!(verification.seal, SealStatus::Unsealed);
}

#[test]
fn absurd_sequence_numbers_in_a_body_and_a_column_are_problems_not_panics() {
    let (_dir, path, store, id) = walked();
    let conn = raw(&path);
    let edited = body(&conn, 3).replace(r#""seq":3"#, r#""seq":18446744073709551615"#);
    let prev: ChainHash = hash(&conn, 2).parse().unwrap();
    let rehashed = ChainHash::link(&prev, edited.as_bytes()).to_string();
    conn.execute(
        "UPDATE events SET body = ?1, hash = ?2, seq = ?3 WHERE seq = 3",
        params![edited, rehashed, i64::MIN],
    )
    .unwrap();

    let verification = store.verify(&id, None).unwrap();

    assert!(!verification.is_ok());
    assert!(
        verification
            .problems
            .iter()
            .any(|p| matches!(p.kind, ProblemKind::MalformedColumn { column: "seq", .. }))
    );
}

/// A log of three sealed incidents, INC-1 to INC-3.
fn three_sealed() -> (tempfile::TempDir, std::path::PathBuf, Store) {
    let (dir, path, mut store) = temp_store();
    for _ in 0..3 {
        let id = walked_incident(&mut store);
        store
            .close(&id, "alice", at(9), closing(), &key(1))
            .unwrap();
    }
    assert_eq!(store.missing_incidents().unwrap(), []);
    (dir, path, store)
}

/// Deletes incident `number` whole, as someone with write access to the file could; returns the
/// connection, whose guard triggers are gone.
fn delete_incident(path: &std::path::Path, number: i64) -> rusqlite::Connection {
    let conn = raw(path);
    for table in ["events", "seals"] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE incident = ?1"),
            [number],
        )
        .unwrap();
    }
    conn.execute("DELETE FROM incidents WHERE id = ?1", [number])
        .unwrap();
    conn
}

fn id(number: u64) -> IncidentId {
    IncidentId::new(number).unwrap()
}

#[test]
fn deleting_a_whole_sealed_incident_is_reported_as_that_incident_missing() {
    let (_dir, path, store) = three_sealed();
    delete_incident(&path, 2);

    let gaps = store.missing_incidents().unwrap();

    assert_eq!(
        gaps,
        [IncidentGap {
            first: id(2),
            last: id(2)
        }]
    );
    assert_eq!(
        gaps[0].to_string(),
        "INC-2: missing; the incident was deleted from the log (its incident row, events and \
         seal)"
    );
    for number in [1, 3] {
        assert!(store.verify(&id(number), None).unwrap().is_ok());
    }
}

#[test]
fn custos_verify_fails_naming_a_deleted_incident() {
    let (dir, path, store) = three_sealed();
    drop(store);
    delete_incident(&path, 2);

    let run = support::cli::custos()
        .current_dir(dir.path())
        .env("CUSTOS_SIGNING_KEY", dir.path().join("no-key-here"))
        .arg("--store")
        .arg(&path)
        .arg("verify")
        .run();

    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with(
            "FAILED: INC-2: missing; the incident was deleted from the log (its incident row, \
             events and seal)\nINC-1: ok, 6 events"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("INC-3: ok, 6 events"), "{}", run.stdout);
    assert_eq!(run.stderr, "custos: 1 incident(s) failed verification\n");
}

#[test]
fn deleting_the_newest_incident_shows_in_the_counter_unless_the_counter_is_lowered_too() {
    let (_dir, path, store) = three_sealed();
    let conn = delete_incident(&path, 3);

    assert_eq!(
        store.missing_incidents().unwrap(),
        [IncidentGap {
            first: id(3),
            last: id(3)
        }]
    );

    // The documented limit: with the counter lowered as well, nothing is left to show it.
    conn.execute(
        "UPDATE sqlite_sequence SET seq = 2 WHERE name = 'incidents'",
        [],
    )
    .unwrap();
    assert_eq!(store.missing_incidents().unwrap(), []);
}
