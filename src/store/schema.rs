//! Opening the SQLite file: recognising a custos log, refusing anything else, setting the
//! durability pragmas and creating the tables of a new log.
//!
//! A custos log is marked by `PRAGMA application_id` and versioned by `PRAGMA user_version`.
//! Migrations to later versions go here when the schema changes; version 1 is the first.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::error::InStore;
use super::{BUSY_TIMEOUT, StoreError};

/// `PRAGMA application_id` of a custos log: the ASCII bytes `CUST`.
pub(crate) const APPLICATION_ID: i64 = 0x4355_5354;

/// The schema version this custos writes and reads.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// The tables of schema version 1. Triggers refuse edits and deletions, so that a mistaken
/// statement in an SQL shell cannot rewrite history; they do not stop a deliberate attacker,
/// whom the hash chain and the seal catch instead.
const SCHEMA_V1: &str = "
CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    runbook_id      TEXT NOT NULL,
    runbook_version INTEGER NOT NULL,
    runbook_sha256  TEXT NOT NULL,
    runbook_source  TEXT NOT NULL,
    title           TEXT NOT NULL,
    severity        TEXT NOT NULL,
    rehearsal       INTEGER NOT NULL,
    initiator       TEXT NOT NULL,
    opened_at       TEXT NOT NULL
) STRICT;

CREATE TABLE events (
    incident   INTEGER NOT NULL REFERENCES incidents (id),
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    written_at TEXT NOT NULL,
    body       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (incident, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE seals (
    incident   INTEGER PRIMARY KEY REFERENCES incidents (id),
    head_seq   INTEGER NOT NULL,
    head_hash  TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    sealed_at  TEXT NOT NULL
) STRICT;

CREATE TABLE outbox (
    incident        INTEGER NOT NULL REFERENCES incidents (id),
    number          INTEGER NOT NULL,
    node            TEXT,
    escalation      TEXT,
    recipient_group TEXT NOT NULL,
    template        TEXT NOT NULL,
    channel         TEXT NOT NULL,
    sender          TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    html            TEXT,
    message_id      TEXT NOT NULL UNIQUE,
    queued_at       TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent')),
    attempts        INTEGER NOT NULL,
    next_attempt    TEXT NOT NULL,
    claimed_by      TEXT,
    claimed_until   TEXT,
    last_error      TEXT,
    sent_at         TEXT,
    response        TEXT,
    PRIMARY KEY (incident, number),
    UNIQUE (incident, escalation)
) STRICT;

CREATE TABLE deliveries (
    incident   INTEGER NOT NULL,
    number     INTEGER NOT NULL,
    attempt    INTEGER NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('sent', 'failed', 'unknown')),
    at         TEXT NOT NULL,
    written_at TEXT NOT NULL,
    detail     TEXT NOT NULL,
    PRIMARY KEY (incident, number, attempt),
    FOREIGN KEY (incident, number) REFERENCES outbox (incident, number)
) STRICT;

CREATE TRIGGER outbox_is_not_deleted BEFORE DELETE ON outbox
BEGIN SELECT RAISE(ABORT, 'custos notifications are never deleted'); END;
CREATE TRIGGER outbox_content_is_not_edited
BEFORE UPDATE OF incident, number, node, escalation, recipient_group, template, channel, sender,
                 recipients, subject, body, html, message_id, queued_at ON outbox
BEGIN SELECT RAISE(ABORT, 'what a custos notification says is never edited'); END;
CREATE TRIGGER deliveries_are_not_edited BEFORE UPDATE ON deliveries
BEGIN SELECT RAISE(ABORT, 'custos deliveries are append-only'); END;
CREATE TRIGGER deliveries_are_not_deleted BEFORE DELETE ON deliveries
BEGIN SELECT RAISE(ABORT, 'custos deliveries are append-only'); END;

CREATE TRIGGER incidents_are_not_edited BEFORE UPDATE ON incidents
BEGIN SELECT RAISE(ABORT, 'custos incidents are never edited'); END;
CREATE TRIGGER incidents_are_not_deleted BEFORE DELETE ON incidents
BEGIN SELECT RAISE(ABORT, 'custos incidents are never deleted'); END;
CREATE TRIGGER events_are_not_edited BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'custos events are append-only'); END;
CREATE TRIGGER events_are_not_deleted BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'custos events are append-only'); END;
CREATE TRIGGER seals_are_not_edited BEFORE UPDATE ON seals
BEGIN SELECT RAISE(ABORT, 'custos seals are never edited'); END;
CREATE TRIGGER seals_are_not_deleted BEFORE DELETE ON seals
BEGIN SELECT RAISE(ABORT, 'custos seals are never deleted'); END;
";

/// Opens the log at `path`, creating the file, its directory and its tables when absent.
pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    create_parent(path)?;

    let conn = Connection::open(path).in_store(path)?;
    conn.busy_timeout(BUSY_TIMEOUT).in_store(path)?;

    // Recognise the file before changing anything in it: switching journal mode would
    // rewrite another program's database.
    let is_new = recognise(&conn, path)?;

    set_durability(&conn, path)?;
    if is_new {
        create_tables(conn, path)
    } else {
        Ok(conn)
    }
}

fn create_parent(path: &Path) -> Result<(), StoreError> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };

    std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDirectory {
        path: parent.to_path_buf(),
        source,
    })
}

/// Returns whether the file is an empty database that should become a new log.
///
/// The reads share one transaction, so they see one state of the file: another process may be
/// creating the log at this very moment, and a mix of its before and after would look like a
/// foreign database.
fn recognise(conn: &Connection, path: &Path) -> Result<bool, StoreError> {
    let snapshot = conn.unchecked_transaction().in_store(path)?;
    let recognised = recognise_in(&snapshot, path);
    snapshot.commit().in_store(path)?;
    recognised
}

fn recognise_in(conn: &Connection, path: &Path) -> Result<bool, StoreError> {
    let application_id = pragma_int(conn, path, "application_id")?;
    let version = pragma_int(conn, path, "user_version")?;

    if application_id == 0 && version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .in_store(path)?;
        if tables == 0 {
            return Ok(true);
        }
        return Err(not_custos(
            path,
            "it is an SQLite database of another program",
        ));
    }

    if application_id != APPLICATION_ID {
        return Err(not_custos(
            path,
            &format!("its SQLite application id is {application_id:#x}, not custos's"),
        ));
    }

    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }

    Ok(false)
}

fn set_durability(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .in_store(path)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::JournalMode {
            path: path.to_path_buf(),
            mode,
        });
    }

    conn.pragma_update(None, "synchronous", "FULL")
        .in_store(path)?;
    conn.pragma_update(None, "foreign_keys", true)
        .in_store(path)
}

/// Creates the tables, unless another process created them while this one waited for the lock.
fn create_tables(mut conn: Connection, path: &Path) -> Result<Connection, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .in_store(path)?;

    if pragma_int(&tx, path, "user_version")? == 0 {
        tx.execute_batch(SCHEMA_V1).in_store(path)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .in_store(path)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .in_store(path)?;
    }

    tx.commit().in_store(path)?;
    Ok(conn)
}

/// The durability settings in force on a connection, as SQLite reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Durability {
    /// `wal` for a custos log.
    pub journal_mode: String,
    /// `PRAGMA synchronous`: 2 is `FULL`, an fsync at every commit.
    pub synchronous: i64,
    pub busy_timeout_ms: i64,
}

/// Reads the settings [`open`] sets, so that a check or a test can see them in force.
pub(crate) fn durability(conn: &Connection, path: &Path) -> Result<Durability, StoreError> {
    Ok(Durability {
        journal_mode: conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .in_store(path)?,
        synchronous: pragma_int(conn, path, "synchronous")?,
        busy_timeout_ms: pragma_int(conn, path, "busy_timeout")?,
    })
}

fn pragma_int(conn: &Connection, path: &Path, name: &str) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, name, |row| row.get(0))
        .in_store(path)
}

fn not_custos(path: &Path, reason: &str) -> StoreError {
    StoreError::NotACustosStore {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    }
}
