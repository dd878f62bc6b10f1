//! Two writers on one log, as a responder and a second custodian in another terminal: each
//! with its own connection, at the same time, on the same incident and on different ones.

// The helper below fails its test the way `unwrap` inside a `#[test]` function does.
#![allow(clippy::unwrap_used)]

mod store_common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use custos::store::{Event, IncidentId, Opening, Store, StoreError};
use store_common::{at, opening};

const PER_WRITER: usize = 40;

fn note(writer: &str, n: usize) -> Event {
    Event::NoteAdded {
        node: "approve".into(),
        text: format!("{writer} {n}"),
    }
}

/// Runs two writers that start together, each opening its own `Store` on `path`.
fn two_writers(path: &std::path::Path, work: impl Fn(&mut Store, &str) + Send + Sync + 'static) {
    let barrier = Arc::new(Barrier::new(2));
    let work = Arc::new(work);
    let handles: Vec<_> = ["alice", "bob"]
        .into_iter()
        .map(|writer| {
            let (path, barrier, work) = (path.to_path_buf(), barrier.clone(), work.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut store = Store::open(&path).unwrap();
                work(&mut store, writer);
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}

#[test]
fn two_connections_appending_to_one_incident_keep_one_unbroken_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared/incidents.sqlite");
    let id = Store::open(&path)
        .unwrap()
        .open_incident(&opening("shared", false), at(0))
        .unwrap();

    two_writers(&path, move |store, writer| {
        for n in 0..PER_WRITER {
            store
                .append(&id, writer, at(1), &[note(writer, n)])
                .unwrap();
        }
    });

    let store = Store::open(&path).unwrap();
    let records = store.events(&id).unwrap();
    assert_eq!(records.len(), 1 + 2 * PER_WRITER);
    for writer in ["alice", "bob"] {
        let texts: Vec<_> = records
            .iter()
            .skip(1)
            .filter(|r| r.actor == writer)
            .map(|r| r.event.clone())
            .collect();
        let expected: Vec<_> = (0..PER_WRITER).map(|n| note(writer, n)).collect();
        assert_eq!(texts, expected, "{writer}'s events, in the order written");
    }
    let verification = store.verify(&id, None).unwrap();
    assert!(verification.is_ok(), "{:#?}", verification.problems);
}

#[test]
fn two_connections_opening_a_new_log_and_writing_different_incidents_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh/incidents.sqlite");

    two_writers(&path, |store, writer| {
        let opening = Opening {
            initiator: writer.into(),
            ..opening(writer, true)
        };
        let id = store.open_incident(&opening, at(0)).unwrap();
        for n in 0..PER_WRITER {
            store
                .append(&id, writer, at(1), &[note(writer, n)])
                .unwrap();
        }
    });

    let store = Store::open(&path).unwrap();
    let incidents = store.incidents().unwrap();
    assert_eq!(incidents.len(), 2);
    for incident in incidents {
        assert_eq!(incident.event_count, 1 + PER_WRITER as u64);
        let verification = store.verify(&incident.id, None).unwrap();
        assert!(
            verification.is_ok(),
            "{}: {:#?}",
            incident.id,
            verification.problems
        );
        let actors: Vec<_> = store
            .events(&incident.id)
            .unwrap()
            .into_iter()
            .map(|r| r.actor)
            .collect();
        assert!(actors.iter().all(|a| *a == incident.title));
    }
}

#[test]
fn a_writer_blocked_past_the_timeout_is_told_another_process_holds_the_log() {
    let (_dir, path, mut store) = store_common::temp_store();
    let id: IncidentId = store
        .open_incident(&opening("blocked", false), at(0))
        .unwrap();
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();

    let started = Instant::now();
    let error = store
        .append(&id, "bob", at(1), &[note("bob", 0)])
        .unwrap_err();

    assert!(started.elapsed() >= custos::store::BUSY_TIMEOUT);
    assert!(matches!(error, StoreError::Busy { .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "another custos process holds the incident log `{}` and did not release it within \
             10 s; wait for it to finish and try again",
            path.display()
        )
    );
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(store.events(&id).unwrap().len(), 1);
    store.append(&id, "bob", at(1), &[note("bob", 0)]).unwrap();
}

/// Set in the environment of a child process that should act as the second writer.
const CHILD_LOG: &str = "CUSTOS_TEST_SECOND_WRITER_LOG";

/// Does nothing in a normal run; in the child started below, appends as `bob`.
#[test]
fn second_writer_process() {
    let Ok(path) = std::env::var(CHILD_LOG) else {
        return;
    };
    let mut store = Store::open(std::path::Path::new(&path)).unwrap();
    let id = "INC-1".parse().unwrap();
    for n in 0..PER_WRITER {
        store.append(&id, "bob", at(1), &[note("bob", n)]).unwrap();
    }
}

#[test]
fn two_processes_appending_to_one_incident_keep_one_unbroken_chain() {
    let (_dir, path, mut store) = store_common::temp_store();
    let id = store
        .open_incident(&opening("two terminals", false), at(0))
        .unwrap();

    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "second_writer_process", "--quiet"])
        .env(CHILD_LOG, &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for n in 0..PER_WRITER {
        store
            .append(&id, "alice", at(1), &[note("alice", n)])
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the second writer failed: {stderr}"
    );
    let records = store.events(&id).unwrap();
    assert_eq!(records.len(), 1 + 2 * PER_WRITER);
    assert_eq!(
        records.iter().filter(|r| r.actor == "bob").count(),
        PER_WRITER
    );
    let verification = store.verify(&id, None).unwrap();
    assert!(verification.is_ok(), "{:#?}", verification.problems);
}
