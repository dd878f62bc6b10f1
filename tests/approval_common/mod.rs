//! Fixtures shared by the approval, roster and ceremony tests: the shipped drill roster, a log
//! of the installation ceremony opened by alice, and the drill clock.
//!
//! The drill passphrase of every person in `policies/roster.yaml` is `<id>-drill-passphrase`
//! (documented in `docs/roster.md`); the file itself holds only Argon2id hashes.

// Each test binary uses a different part of this module, and a failed fixture should stop
// the test at once, as `unwrap` inside a `#[test]` function does.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use custos::policy::roster::Roster;
use custos::runbook::{Context, NodeId, NodeKind, Requirement, Runbook};
use custos::store::{Event, IncidentId, Opening, Origin, Store};
use ed25519_dalek::SigningKey;
use jiff::{SignedDuration, Timestamp};
use serde_json::Map;

/// The drill passphrase of a person of the shipped roster.
pub fn passphrase(id: &str) -> String {
    format!("{id}-drill-passphrase")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The roster shipped in `policies/roster.yaml`.
pub fn roster() -> Roster {
    Roster::load(&repo().join("policies/roster.yaml")).unwrap()
}

pub fn ceremony_source() -> String {
    std::fs::read_to_string(repo().join("runbooks/hsm-key-ceremony.yaml")).unwrap()
}

pub fn ceremony_runbook() -> Runbook {
    custos::runbook::parse(&ceremony_source(), None, &Context::default()).unwrap()
}

/// The requirement of approval node `node` of the ceremony runbook.
pub fn requirement<'a>(runbook: &'a Runbook, node: &str) -> &'a Requirement {
    match &runbook.node(&NodeId(node.to_owned())).unwrap().kind {
        NodeKind::Approval { require, .. } => require,
        other => panic!("`{node}` is not an approval node: {other:?}"),
    }
}

/// The drill clock: 19:00 UTC on 3 December 2026 plus `minutes`.
pub fn at(minutes: i64) -> Timestamp {
    let start: Timestamp = "2026-12-03T19:00:00Z".parse().unwrap();
    start + SignedDuration::from_mins(minutes)
}

pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

pub fn origin(host: &str, terminal: &str) -> Origin {
    Origin {
        user: "ops".into(),
        host: host.into(),
        terminal: terminal.into(),
        pid: 4242,
        ssh_client: None,
    }
}

/// A store in a fresh temporary directory; keep the directory alive as long as the store.
pub fn temp_store() -> (tempfile::TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incidents.sqlite");
    let store = Store::open(&path).unwrap();
    (dir, path, store)
}

/// Opens the installation ceremony as `alice`, a drill.
pub fn open_ceremony(store: &mut Store) -> IncidentId {
    let opening = Opening {
        runbook_id: "hsm-key-ceremony".into(),
        runbook_version: 1,
        runbook_source: ceremony_source(),
        title: "HSM installation and key ceremony".into(),
        severity: "medium".into(),
        rehearsal: true,
        initiator: "alice".into(),
        inputs: Map::new(),
    };
    store.open_incident(&opening, at(0)).unwrap()
}

/// Appends `node_entered` for `node`, as the walker does.
pub fn enter(store: &mut Store, incident: &IncidentId, node: &str, minutes: i64) {
    let event = Event::NodeEntered { node: node.into() };
    store
        .append(incident, "alice", at(minutes), &[event])
        .unwrap();
}
