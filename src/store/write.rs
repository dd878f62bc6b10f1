//! Writing to the log: opening an incident, appending events, closing and sealing.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction that reads the chain's current head after
//! taking the write lock, so concurrent writers to one incident extend the chain one after the
//! other and never from the same head.

use std::path::Path;

use ed25519_dalek::{Signer, SigningKey};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::chain::{Body, CLOSED_KIND, ChainHash, seal_message};
use super::error::InStore;
use super::event::Event;
use super::signing::public_key_text;
use super::{EventRecord, IncidentId, Opening, RecordPart, Seal, Store, StoreError};

/// The head of an incident's chain, read inside the write transaction.
pub(super) struct Tail {
    id: IncidentId,
    seq: u64,
    hash: ChainHash,
    rehearsal: bool,
}

impl Store {
    /// Opens an incident: pins the runbook source by its SHA-256 and writes `incident_opened`
    /// as event 1, with `opening.initiator` as actor, in one transaction.
    pub fn open_incident(
        &mut self,
        opening: &Opening,
        at: Timestamp,
    ) -> Result<IncidentId, StoreError> {
        self.insert_opening(opening, at, None)
    }

    /// Opens a drill whose clock runs `clock_offset_ms` milliseconds from real time, as
    /// [`Store::open_incident`] does; `incident_opened` records the offset, so that everyone
    /// who writes to the drill later (a resume, `custos approve`) runs on the same clock.
    pub fn open_drill_on_clock(
        &mut self,
        opening: &Opening,
        at: Timestamp,
        clock_offset_ms: i64,
    ) -> Result<IncidentId, StoreError> {
        self.insert_opening(opening, at, opening.rehearsal.then_some(clock_offset_ms))
    }

    /// Writes the incident row and `incident_opened` in one transaction.
    fn insert_opening(
        &mut self,
        opening: &Opening,
        at: Timestamp,
        clock_offset_ms: Option<i64>,
    ) -> Result<IncidentId, StoreError> {
        let path = &self.path;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .in_store(path)?;
        let id = insert_incident(&tx, path, opening, at, clock_offset_ms, Vec::new())?;

        tx.commit().in_store(path)?;
        Ok(id)
    }

    /// Appends `events` to an open incident, all or none; when this returns `Ok` they are on
    /// disk. `incident_opened` and `incident_closed` are refused: use `open_incident` and `close`.
    pub fn append(
        &mut self,
        incident: &IncidentId,
        actor: &str,
        at: Timestamp,
        events: &[Event],
    ) -> Result<Vec<EventRecord>, StoreError> {
        for event in events {
            let by = match event {
                Event::IncidentOpened { .. } => "open_incident",
                Event::IncidentClosed { .. } => "close",
                _ => continue,
            };
            return Err(StoreError::ReservedEvent {
                id: incident.to_string(),
                kind: event.kind(),
                by,
            });
        }

        let path = &self.path;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .in_store(path)?;
        let mut tail = read_tail(&tx, path, *incident)?;
        let records = write_events(&tx, path, &mut tail, actor, at, events.iter().cloned())?;

        tx.commit().in_store(path)?;
        Ok(records)
    }

    /// Closes an incident: appends `closing` (an `incident_closed` event) and seals the chain's
    /// new head with `key`, in one transaction.
    pub fn close(
        &mut self,
        incident: &IncidentId,
        actor: &str,
        at: Timestamp,
        closing: Event,
        key: &SigningKey,
    ) -> Result<Seal, StoreError> {
        if !matches!(closing, Event::IncidentClosed { .. }) {
            return Err(StoreError::NotAClosingEvent {
                id: incident.to_string(),
                kind: closing.kind(),
            });
        }

        let path = &self.path;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .in_store(path)?;
        let mut tail = read_tail(&tx, path, *incident)?;
        write_events(&tx, path, &mut tail, actor, at, [closing])?;

        let message = seal_message(tail.id, tail.seq, &tail.hash);
        let seal = Seal {
            incident: tail.id,
            head_seq: tail.seq,
            head_hash: tail.hash,
            public_key: key.verifying_key(),
            signature: key.sign(message.as_bytes()),
            sealed_at: Timestamp::now(),
        };
        tx.execute(
            "INSERT INTO seals (incident, head_seq, head_hash, public_key, signature, sealed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                tail.id.sql(),
                seq_sql(tail.seq),
                tail.hash.to_string(),
                public_key_text(&seal.public_key),
                hex::encode(seal.signature.to_bytes()),
                seal.sealed_at.to_string(),
            ],
        )
        .in_store(path)?;

        tx.commit().in_store(path)?;
        Ok(seal)
    }
}

/// Reads the head of `id`'s chain, refusing an unknown or closed incident.
pub(super) fn read_tail(
    conn: &Connection,
    path: &Path,
    id: IncidentId,
) -> Result<Tail, StoreError> {
    let rehearsal: Option<bool> = conn
        .query_row(
            "SELECT rehearsal FROM incidents WHERE id = ?1",
            [id.sql()],
            |row| row.get(0),
        )
        .optional()
        .in_store(path)?;
    let Some(rehearsal) = rehearsal else {
        return Err(StoreError::UnknownIncident {
            path: path.to_path_buf(),
            id: id.to_string(),
        });
    };

    let sealed: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM seals WHERE incident = ?1)",
            [id.sql()],
            |row| row.get(0),
        )
        .in_store(path)?;
    let last: Option<(i64, String, String)> = conn
        .query_row(
            "SELECT seq, hash, kind FROM events WHERE incident = ?1 ORDER BY seq DESC LIMIT 1",
            [id.sql()],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .in_store(path)?;

    let Some((seq, hash, kind)) = last else {
        return Ok(Tail {
            id,
            seq: 0,
            hash: ChainHash::genesis(id),
            rehearsal,
        });
    };
    if sealed || kind == CLOSED_KIND {
        return Err(StoreError::IncidentClosed { id: id.to_string() });
    }

    let damaged = |detail: String| StoreError::DamagedRecord {
        path: path.to_path_buf(),
        id: id.to_string(),
        part: RecordPart::Event(u64::try_from(seq).unwrap_or(0)),
        detail,
    };
    let seq = u64::try_from(seq).map_err(|_| damaged(format!("sequence number {seq}")))?;
    let hash = hash
        .parse()
        .map_err(|e| damaged(format!("`hash` is not a hash: {e}")))?;
    Ok(Tail {
        id,
        seq,
        hash,
        rehearsal,
    })
}

/// Inserts the incident row and writes `incident_opened` as event 1, then `then`, inside the
/// caller's transaction.
pub(super) fn insert_incident(
    conn: &Connection,
    path: &Path,
    opening: &Opening,
    at: Timestamp,
    clock_offset_ms: Option<i64>,
    then: Vec<Event>,
) -> Result<IncidentId, StoreError> {
    let sha256 = ChainHash::of(opening.runbook_source.as_bytes()).to_string();
    conn.execute(
        "INSERT INTO incidents (runbook_id, runbook_version, runbook_sha256, runbook_source,
                                title, severity, rehearsal, initiator, opened_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            opening.runbook_id,
            opening.runbook_version,
            sha256,
            opening.runbook_source,
            opening.title,
            opening.severity,
            opening.rehearsal,
            opening.initiator,
            at.to_string(),
        ],
    )
    .in_store(path)?;
    let Some(id) = IncidentId::from_sql(conn.last_insert_rowid()) else {
        return Err(StoreError::NotACustosStore {
            path: path.to_path_buf(),
            reason: "SQLite gave a new incident a number below 1".to_owned(),
        });
    };

    let opened = Event::IncidentOpened {
        runbook_id: opening.runbook_id.clone(),
        runbook_version: opening.runbook_version,
        runbook_sha256: sha256,
        title: opening.title.clone(),
        severity: opening.severity.clone(),
        rehearsal: opening.rehearsal,
        inputs: opening.inputs.clone(),
        clock_offset_ms,
    };
    let mut tail = Tail {
        id,
        seq: 0,
        hash: ChainHash::genesis(id),
        rehearsal: opening.rehearsal,
    };
    let events = std::iter::once(opened).chain(then);
    write_events(conn, path, &mut tail, &opening.initiator, at, events)?;
    Ok(id)
}

/// Writes `events` after `tail`, moving `tail` to the last one written.
pub(super) fn write_events(
    conn: &Connection,
    path: &Path,
    tail: &mut Tail,
    actor: &str,
    at: Timestamp,
    events: impl IntoIterator<Item = Event>,
) -> Result<Vec<EventRecord>, StoreError> {
    let written_at = Timestamp::now();
    let mut records = Vec::new();

    for event in events {
        let seq = tail.seq + 1;
        let body = Body {
            incident: tail.id.to_string(),
            seq,
            at: at.to_string(),
            written_at: written_at.to_string(),
            actor,
            rehearsal: tail.rehearsal,
            event: &event,
        };
        let text = serde_json::to_string(&body).map_err(|source| StoreError::Encode {
            id: tail.id.to_string(),
            kind: event.kind(),
            source,
        })?;
        let hash = ChainHash::link(&tail.hash, text.as_bytes());

        conn.execute(
            "INSERT INTO events (incident, seq, kind, at, actor, written_at, body, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                tail.id.sql(),
                seq_sql(seq),
                event.kind(),
                body.at,
                actor,
                body.written_at,
                text,
                tail.hash.to_string(),
                hash.to_string(),
            ],
        )
        .in_store(path)?;

        records.push(EventRecord {
            incident: tail.id,
            seq,
            at,
            written_at,
            actor: actor.to_owned(),
            rehearsal: tail.rehearsal,
            event,
            prev_hash: tail.hash,
            hash,
        });
        tail.seq = seq;
        tail.hash = hash;
    }

    Ok(records)
}

/// A sequence number as SQLite stores it.
fn seq_sql(seq: u64) -> i64 {
    // Sequence numbers count rows of one incident and never come near 2^63.
    i64::try_from(seq).unwrap_or(i64::MAX)
}
