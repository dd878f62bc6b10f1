//! Checking an incident's log after the fact: the chain, the copies and the seal.
//!
//! Verification reads every row of the incident, recomputes every hash and reports each
//! problem at the event where the evidence first shows it, named as precisely as that evidence
//! allows: a changed body, removed, reordered or inserted events, a column that disagrees with
//! the hashed body, an unreadable body. Tampering is a result here, never an error.

use std::collections::HashMap;
use std::ops::Range;

use ed25519_dalek::VerifyingKey;
use rusqlite::OptionalExtension;
use rusqlite::Row as SqlRow;

use super::chain::{CLOSED_KIND, ChainHash, ParsedBody, seal_message};
use super::error::InStore;
use super::event::Event;
use super::signing::public_key_text;
use super::verification::{Head, IncidentGap, Problem, ProblemKind, SealStatus, Verification};
use super::{IncidentId, Store, StoreError};

impl Store {
    /// Recomputes `incident`'s chain and checks its seal; `trusted`, when given, is the only
    /// key whose seals are accepted. Tampering is reported in the result, not as an error.
    pub fn verify(
        &self,
        incident: &IncidentId,
        trusted: Option<&VerifyingKey>,
    ) -> Result<Verification, StoreError> {
        // One read transaction, so that a writer in another process cannot close the incident
        // between reading the chain and reading the seal.
        let snapshot = self.conn.unchecked_transaction().in_store(&self.path)?;

        let Some(record) = self.incident_row(*incident)? else {
            return Err(StoreError::UnknownIncident {
                path: self.path.clone(),
                id: incident.to_string(),
            });
        };
        let rows = self.chain_rows(*incident)?;

        let mut walk = Walk::new(*incident, &record, &rows);
        walk.run();
        let Walk { mut problems, .. } = walk;
        problems.sort_by_key(|p| (p.seq, !p.kind.is_structural()));

        let head = rows.last().map(Link::head);
        let seal = self.check_seal(*incident, &rows, head, trusted)?;
        drop(snapshot);

        Ok(Verification {
            incident: *incident,
            events: rows.len() as u64,
            head,
            problems,
            seal,
        })
    }

    /// The incidents missing from the log. Numbers are given out in order and never reused, so a
    /// number below the highest that has no row was deleted; so was one up to SQLite's
    /// `AUTOINCREMENT` counter, unless whoever deleted it also lowered the counter. A deleted
    /// newest incident with the counter lowered leaves no trace (see the module docs).
    pub fn missing_incidents(&self) -> Result<Vec<IncidentGap>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT id FROM incidents ORDER BY id")
            .in_store(&self.path)?;
        let ids = statement
            .query_map([], |row| row.get::<_, i64>(0))
            .in_store(&self.path)?;

        let mut gaps = Vec::new();
        let mut expected: i64 = 1;
        for id in ids {
            let id = id.in_store(&self.path)?;
            if id > expected {
                push_gap(&mut gaps, expected, id - 1);
            }
            expected = expected.max(id.saturating_add(1));
        }

        let counter: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'incidents'",
                [],
                |row| row.get(0),
            )
            .optional()
            .in_store(&self.path)?;
        if let Some(counter) = counter.filter(|counter| *counter >= expected) {
            push_gap(&mut gaps, expected, counter);
        }
        Ok(gaps)
    }

    fn incident_row(&self, id: IncidentId) -> Result<Option<IncidentRow>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT runbook_id, runbook_version, runbook_sha256, runbook_source, title,
                        severity, rehearsal, initiator, opened_at
                 FROM incidents WHERE id = ?1",
            )
            .in_store(&self.path)?;
        let mut rows = statement.query([id.sql()]).in_store(&self.path)?;
        let Some(row) = rows.next().in_store(&self.path)? else {
            return Ok(None);
        };

        let text = |i| text(row, i).in_store(&self.path);
        Ok(Some(IncidentRow {
            runbook_id: text(0)?,
            runbook_version: text(1)?,
            runbook_sha256: text(2)?,
            runbook_source: text(3)?,
            title: text(4)?,
            severity: text(5)?,
            rehearsal: text(6)? == "1",
            initiator: text(7)?,
            opened_at: text(8)?,
        }))
    }

    fn chain_rows(&self, id: IncidentId) -> Result<Vec<Link>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT seq, kind, at, actor, written_at, body, prev_hash, hash
                 FROM events WHERE incident = ?1 ORDER BY seq",
            )
            .in_store(&self.path)?;
        let mut rows = statement.query([id.sql()]).in_store(&self.path)?;

        let mut links = Vec::new();
        while let Some(row) = rows.next().in_store(&self.path)? {
            links.push(Link::read(row).in_store(&self.path)?);
        }
        Ok(links)
    }

    fn check_seal(
        &self,
        id: IncidentId,
        rows: &[Link],
        head: Option<Head>,
        trusted: Option<&VerifyingKey>,
    ) -> Result<SealStatus, StoreError> {
        let closed = rows.last().is_some_and(|row| row.kind == CLOSED_KIND);
        let Some(raw) = self.raw_seal(id)? else {
            return Ok(if closed {
                SealStatus::Missing
            } else {
                SealStatus::Unsealed
            });
        };
        let seal = match raw.parse(id) {
            Ok(seal) => seal,
            Err(reason) => return Ok(SealStatus::Unreadable { reason }),
        };

        let sealed = Head {
            seq: seal.head_seq,
            hash: seal.head_hash,
        };
        if head != Some(sealed) {
            return Ok(SealStatus::HeadMismatch {
                sealed,
                actual: head,
            });
        }

        if let Some(trusted) = trusted.filter(|key| **key != seal.public_key) {
            return Ok(SealStatus::UntrustedKey {
                stored: public_key_text(&seal.public_key),
                trusted: public_key_text(trusted),
            });
        }

        let message = seal_message(id, seal.head_seq, &seal.head_hash);
        if seal
            .public_key
            .verify_strict(message.as_bytes(), &seal.signature)
            .is_err()
        {
            return Ok(SealStatus::BadSignature);
        }

        Ok(SealStatus::Valid {
            public_key: public_key_text(&seal.public_key),
            trusted: trusted.is_some(),
        })
    }
}

/// The `incidents` row as text, so that a damaged row is a finding rather than an error.
struct IncidentRow {
    runbook_id: String,
    runbook_version: String,
    runbook_sha256: String,
    runbook_source: String,
    title: String,
    severity: String,
    rehearsal: bool,
    initiator: String,
    opened_at: String,
}

/// One event row as stored, with its recomputed hash and its body parsed if it parses.
struct Link {
    /// The stored seq, or 0 if it is below 1.
    seq: u64,
    raw_seq: i64,
    kind: String,
    at: String,
    actor: String,
    written_at: String,
    prev: Result<ChainHash, String>,
    hash: Result<ChainHash, String>,
    /// `SHA-256(prev || body)`, when `prev` is readable.
    computed: Option<ChainHash>,
    body: Result<ParsedBody, String>,
}

impl Link {
    fn read(row: &SqlRow<'_>) -> rusqlite::Result<Self> {
        let raw_seq: i64 = row.get(0)?;
        let body = row
            .get_ref(5)?
            .as_bytes_or_null()?
            .unwrap_or_default()
            .to_vec();
        let prev = text(row, 6)?;
        let hash = text(row, 7)?;

        let prev = prev.parse::<ChainHash>().map_err(|_| prev);
        let computed = prev.as_ref().ok().map(|prev| ChainHash::link(prev, &body));

        Ok(Self {
            seq: u64::try_from(raw_seq).unwrap_or(0),
            raw_seq,
            kind: text(row, 1)?,
            at: text(row, 2)?,
            actor: text(row, 3)?,
            written_at: text(row, 4)?,
            prev,
            hash: hash.parse::<ChainHash>().map_err(|_| hash),
            computed,
            body: serde_json::from_slice(&body).map_err(|e| e.to_string()),
        })
    }

    /// The hash the next event should link to: the stored one, or the recomputed one if the
    /// stored one is unreadable.
    fn link_hash(&self) -> Option<ChainHash> {
        self.hash.as_ref().ok().copied().or(self.computed)
    }

    /// Whether the stored hash is the hash of the stored link and body.
    fn hash_holds(&self) -> bool {
        self.computed.is_some() && self.hash.as_ref().ok() == self.computed.as_ref()
    }

    /// The seq the body was written with, if the body is readable and its hash holds.
    fn written_seq(&self) -> Option<u64> {
        self.body
            .as_ref()
            .ok()
            .filter(|_| self.hash_holds())
            .map(|body| body.seq)
    }

    fn head(&self) -> Head {
        Head {
            seq: self.body.as_ref().map_or(self.seq, |body| body.seq),
            hash: self
                .computed
                .or(self.link_hash())
                .unwrap_or(ChainHash([0; 32])),
        }
    }
}

/// A walk over an incident's rows in stored order, collecting problems.
struct Walk<'a> {
    id: IncidentId,
    incident: &'a IncidentRow,
    rows: &'a [Link],
    /// Position of the row that stores each hash.
    by_hash: HashMap<ChainHash, usize>,
    /// Position of the first row that links to each hash.
    by_prev: HashMap<ChainHash, usize>,
    problems: Vec<Problem>,
}

impl<'a> Walk<'a> {
    fn new(id: IncidentId, incident: &'a IncidentRow, rows: &'a [Link]) -> Self {
        let mut by_hash = HashMap::new();
        let mut by_prev = HashMap::new();
        for (position, row) in rows.iter().enumerate() {
            if let Ok(hash) = row.hash {
                by_hash.entry(hash).or_insert(position);
            }
            if let Ok(prev) = row.prev {
                by_prev.entry(prev).or_insert(position);
            }
        }

        Self {
            id,
            incident,
            rows,
            by_hash,
            by_prev,
            problems: Vec::new(),
        }
    }

    fn run(&mut self) {
        if self.rows.is_empty() {
            self.report(1, ProblemKind::NoEvents);
            return;
        }

        let mut expected = ChainHash::genesis(self.id);
        let mut previous_seq: u64 = 0;
        let mut offset: i64 = 0;

        for (position, row) in self.rows.iter().enumerate() {
            self.check_row(position, row);

            let written = row.written_seq();
            let linked = row.prev.as_ref().ok() == Some(&expected)
                && written.is_none_or(|seq| seq == previous_seq.saturating_add(1));
            let this_offset =
                written.map_or(offset, |seq| row.raw_seq.saturating_sub(seq_i64(seq)));

            if !linked {
                let (seq, kind) = self.explain(position, row, expected, previous_seq);
                self.report(seq, kind);
            } else if this_offset != offset {
                self.report(
                    row.seq,
                    ProblemKind::ColumnDisagrees {
                        column: "seq",
                        column_value: row.raw_seq.to_string(),
                        body_value: written.unwrap_or_default().to_string(),
                    },
                );
            }

            offset = this_offset;
            expected = row.link_hash().unwrap_or(expected);
            previous_seq = written.unwrap_or(previous_seq.saturating_add(1));
        }
    }

    /// Names why the row at `position` does not follow the chain, and at which seq it shows.
    fn explain(
        &self,
        position: usize,
        row: &Link,
        expected: ChainHash,
        previous_seq: u64,
    ) -> (u64, ProblemKind) {
        let written = row.written_seq();
        let reordered = ProblemKind::Reordered {
            written_as: written.unwrap_or(row.seq),
        };
        let predecessor = row
            .prev
            .as_ref()
            .ok()
            .and_then(|prev| self.by_hash.get(prev));

        let predecessor = predecessor.filter(|before| **before != position);
        match predecessor.copied() {
            // It follows an event stored after it.
            Some(before) if before > position => (row.seq, reordered),

            // It follows an event stored further back: the rows between are either extra
            // (nothing links to them) or out of order.
            Some(before) if before + 1 < position => {
                let between = before + 1..position;
                if self.is_detached(&between) {
                    let first = self.rows[between.start].seq;
                    let last = self.rows[position - 1].seq;
                    (first, ProblemKind::Inserted { first, last })
                } else {
                    (row.seq, reordered)
                }
            }

            Some(_) => (row.seq, reordered),

            None => self.explain_unlinked(position, row, expected, previous_seq),
        }
    }

    /// Names the problem of a row whose link matches no stored event.
    fn explain_unlinked(
        &self,
        position: usize,
        row: &Link,
        expected: ChainHash,
        previous_seq: u64,
    ) -> (u64, ProblemKind) {
        let written = row.written_seq();
        let true_next = self.by_prev.get(&expected).copied();

        if true_next.is_some_and(|next| next > position) {
            if self.is_detached(&(position..position + 1)) {
                return (
                    row.seq,
                    ProblemKind::Inserted {
                        first: row.seq,
                        last: row.seq,
                    },
                );
            }
            return (
                row.seq,
                ProblemKind::Reordered {
                    written_as: written.unwrap_or(row.seq),
                },
            );
        }

        if let Some(seq) = written.filter(|seq| *seq > previous_seq.saturating_add(1)) {
            let first = previous_seq + 1;
            return (
                first,
                ProblemKind::Missing {
                    first,
                    last: seq - 1,
                },
            );
        }

        let stored = row
            .prev
            .as_ref()
            .ok()
            .copied()
            .unwrap_or(ChainHash([0; 32]));
        (row.seq, ProblemKind::BrokenLink { expected, stored })
    }

    /// Whether no row outside `positions` links to a row inside them.
    fn is_detached(&self, positions: &Range<usize>) -> bool {
        self.rows[positions.clone()].iter().all(|row| {
            let linked_from = row
                .hash
                .as_ref()
                .ok()
                .and_then(|hash| self.by_prev.get(hash));
            linked_from.is_none_or(|from| positions.contains(from))
        })
    }

    /// Checks what a row says about itself: its hash, its body and its copies.
    fn check_row(&mut self, position: usize, row: &Link) {
        let seq = row.seq;
        if row.raw_seq < 1 {
            let value = row.raw_seq.to_string();
            self.report(
                seq,
                ProblemKind::MalformedColumn {
                    column: "seq",
                    value,
                },
            );
        }
        if let Err(value) = &row.prev {
            let value = value.clone();
            self.report(
                seq,
                ProblemKind::MalformedColumn {
                    column: "prev_hash",
                    value,
                },
            );
        }
        match (&row.hash, row.computed) {
            (Err(value), _) => {
                let value = value.clone();
                self.report(
                    seq,
                    ProblemKind::MalformedColumn {
                        column: "hash",
                        value,
                    },
                );
            }
            (Ok(stored), Some(computed)) if *stored != computed => {
                self.report(
                    seq,
                    ProblemKind::BodyChanged {
                        stored: *stored,
                        computed,
                    },
                );
            }
            _ => {}
        }

        match &row.body {
            Err(error) => {
                self.report(
                    seq,
                    ProblemKind::UnparsableBody {
                        error: error.clone(),
                    },
                );
            }
            Ok(body) => self.check_body(position, row, body),
        }
    }

    fn check_body(&mut self, position: usize, row: &Link, body: &ParsedBody) {
        let seq = row.seq;

        if body.incident != self.id.to_string() {
            let written_for = body.incident.clone();
            self.report(seq, ProblemKind::WrongIncident { written_for });
        }

        let copies = [
            ("kind", &row.kind, body.event.kind()),
            ("at", &row.at, body.at.as_str()),
            ("actor", &row.actor, body.actor.as_str()),
            ("written_at", &row.written_at, body.written_at.as_str()),
        ];
        for (column, column_value, body_value) in copies {
            if column_value != body_value {
                let kind = ProblemKind::ColumnDisagrees {
                    column,
                    column_value: column_value.clone(),
                    body_value: body_value.to_owned(),
                };
                self.report(seq, kind);
            }
        }

        if body.rehearsal != self.incident.rehearsal {
            self.disagree(
                seq,
                "rehearsal",
                self.incident.rehearsal.to_string(),
                body.rehearsal.to_string(),
            );
        }

        self.check_place(position, row, body);
    }

    /// Checks that `incident_opened` is event 1 and agrees with the incident, and that
    /// nothing follows `incident_closed`.
    fn check_place(&mut self, position: usize, row: &Link, body: &ParsedBody) {
        let seq = row.seq;
        let is_last = position + 1 == self.rows.len();

        match &body.event {
            Event::IncidentOpened { .. } if body.seq == 1 => self.check_opening(seq, body),
            Event::IncidentOpened { .. } => {
                let reason = "`incident_opened` may only be event 1";
                self.report(seq, ProblemKind::OutOfPlace { reason });
            }
            _ if body.seq == 1 => {
                let reason = "event 1 must be `incident_opened`";
                self.report(seq, ProblemKind::OutOfPlace { reason });
            }
            Event::IncidentClosed { .. } if !is_last => {
                let reason = "events follow `incident_closed`";
                self.report(seq, ProblemKind::OutOfPlace { reason });
            }
            _ => {}
        }
    }

    fn check_opening(&mut self, seq: u64, body: &ParsedBody) {
        let Event::IncidentOpened {
            runbook_id,
            runbook_version,
            runbook_sha256,
            title,
            severity,
            rehearsal,
            ..
        } = &body.event
        else {
            return;
        };
        let incident = self.incident;

        let fields: [(&'static str, &str, String); 8] = [
            ("runbook_id", &incident.runbook_id, runbook_id.clone()),
            (
                "runbook_version",
                &incident.runbook_version,
                runbook_version.to_string(),
            ),
            (
                "runbook_sha256",
                &incident.runbook_sha256,
                runbook_sha256.clone(),
            ),
            ("title", &incident.title, title.clone()),
            ("severity", &incident.severity, severity.clone()),
            (
                "rehearsal",
                if incident.rehearsal { "true" } else { "false" },
                rehearsal.to_string(),
            ),
            ("initiator", &incident.initiator, body.actor.clone()),
            ("opened_at", &incident.opened_at, body.at.clone()),
        ];
        for (field, incident_value, event_value) in fields {
            if incident_value != event_value {
                self.disagree(seq, field, incident_value.to_owned(), event_value);
            }
        }

        let computed = ChainHash::of(incident.runbook_source.as_bytes()).to_string();
        if computed != *runbook_sha256 {
            let recorded = runbook_sha256.clone();
            self.report(seq, ProblemKind::RunbookChanged { recorded, computed });
        }
    }

    fn disagree(
        &mut self,
        seq: u64,
        field: &'static str,
        incident_value: String,
        event_value: String,
    ) {
        self.report(
            seq,
            ProblemKind::IncidentDisagrees {
                field,
                incident_value,
                event_value,
            },
        );
    }

    /// Records a problem once; a broken chain can show the same cause at several rows.
    fn report(&mut self, seq: u64, kind: ProblemKind) {
        let problem = Problem { seq, kind };
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }
}

/// A column as text, whatever SQLite holds in it; invalid UTF-8 is replaced, not refused.
fn text(row: &SqlRow<'_>, index: usize) -> rusqlite::Result<String> {
    let value = row.get_ref(index)?;
    let text = match value {
        rusqlite::types::ValueRef::Integer(i) => i.to_string(),
        rusqlite::types::ValueRef::Real(r) => r.to_string(),
        other => String::from_utf8_lossy(other.as_bytes_or_null()?.unwrap_or_default()).into(),
    };
    Ok(text)
}

fn push_gap(gaps: &mut Vec<IncidentGap>, first: i64, last: i64) {
    if let (Some(first), Some(last)) = (IncidentId::from_sql(first), IncidentId::from_sql(last)) {
        gaps.push(IncidentGap { first, last });
    }
}

fn seq_i64(seq: u64) -> i64 {
    // A seq that does not fit in `i64` cannot match a stored seq; saturating keeps it apart.
    i64::try_from(seq).unwrap_or(i64::MAX)
}
