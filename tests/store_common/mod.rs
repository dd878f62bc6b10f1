//! Fixtures shared by the `store_*` integration tests: an opening, a clock, a key, a walk.

// Each test binary uses a different part of this module, and a failed fixture should stop
// the test at once, as `unwrap` inside a `#[test]` function does.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use custos::store::{Event, IncidentId, Opening, Origin, Store};
use ed25519_dalek::SigningKey;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, json};

/// A store in a fresh temporary directory; keep the directory alive as long as the store.
pub fn temp_store() -> (tempfile::TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custos/incidents.sqlite");
    let store = Store::open(&path).unwrap();
    (dir, path, store)
}

pub fn opening(title: &str, rehearsal: bool) -> Opening {
    let mut inputs = Map::new();
    inputs.insert("zmk_label".into(), json!("ZMK-PROD-01"));
    inputs.insert(
        "counterparty".into(),
        json!({"bank": "Banco Ejemplo", "bic": "EJEMPEPL"}),
    );
    Opening {
        runbook_id: "zmk-compromise".into(),
        runbook_version: 3,
        runbook_source: "id: zmk-compromise\nversion: 3\nnodes: []\n".into(),
        title: title.into(),
        severity: "critical".into(),
        rehearsal,
        initiator: "alice".into(),
        inputs,
    }
}

/// The drill clock: 19:00 UTC on 3 December 2026 plus `minutes`.
pub fn at(minutes: i64) -> Timestamp {
    let start: Timestamp = "2026-12-03T19:00:00Z".parse().unwrap();
    start + SignedDuration::from_mins(minutes)
}

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn origin() -> Origin {
    Origin {
        user: "bob".into(),
        host: "ops-2".into(),
        terminal: "pts/3".into(),
        pid: 4242,
        ssh_client: None,
    }
}

/// A short walk of a ZMK compromise: four events after the opening.
pub fn walk() -> Vec<Event> {
    vec![
        Event::NodeEntered {
            node: "assess".into(),
        },
        Event::AnswerGiven {
            node: "assess".into(),
            option: "confirmed".into(),
            next: "notify".into(),
        },
        Event::NoteAdded {
            node: "notify".into(),
            text: "CISO called at 19:04".into(),
        },
        Event::ApprovalGranted {
            node: "approve_new_zmk".into(),
            person: "bob".into(),
            role: "custodian".into(),
            origin: origin(),
            credential: None,
        },
    ]
}

pub fn closing() -> Event {
    Event::IncidentClosed {
        node: "done".into(),
        outcome: "rotated".into(),
    }
}

/// Opens an incident and appends [`walk`]: five events in all.
pub fn walked_incident(store: &mut Store) -> IncidentId {
    let id = store
        .open_incident(&opening("ZMK exposed in a ticket", true), at(0))
        .unwrap();
    store.append(&id, "alice", at(1), &walk()).unwrap();
    id
}

/// A raw connection to the file with custos's guard triggers dropped, as an attacker would.
pub fn raw(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "DROP TRIGGER events_are_not_edited; DROP TRIGGER events_are_not_deleted;
         DROP TRIGGER seals_are_not_edited; DROP TRIGGER seals_are_not_deleted;
         DROP TRIGGER incidents_are_not_edited; DROP TRIGGER incidents_are_not_deleted;",
    )
    .unwrap();
    conn
}
