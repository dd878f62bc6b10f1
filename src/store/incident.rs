//! Incidents as a whole: what opening one takes, and the summary the log gives back.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, Row};
use serde_json::{Map, Value};

use super::chain::{CLOSED_KIND, ParsedBody};
use super::error::InStore;
use super::event::Event;
use super::{IncidentId, RecordPart, Store, StoreError};

/// What the engine knows when it opens an incident; the store computes the runbook's SHA-256.
#[derive(Clone, Debug, PartialEq)]
pub struct Opening {
    /// The `id` the runbook file declares.
    pub runbook_id: String,
    /// The `version` the runbook file declares.
    pub runbook_version: u32,
    /// The runbook file's full text, kept so the incident can be replayed against it later.
    pub runbook_source: String,
    pub title: String,
    pub severity: String,
    /// A drill: on a simulator, never on production keys. Every event repeats this flag.
    pub rehearsal: bool,
    /// Who opened the incident; the actor of event 1.
    pub initiator: String,
    /// The runbook's inputs as given at opening, recorded in event 1.
    pub inputs: Map<String, Value>,
}

/// Whether an incident still takes events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncidentState {
    /// Takes events.
    Open,
    /// Ended with `incident_closed` and sealed.
    Closed,
}

/// The summary of one incident, as the log holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub id: IncidentId,
    pub runbook_id: String,
    pub runbook_version: u32,
    /// SHA-256 of `runbook_source`, in hex, as recorded when the incident was opened.
    pub runbook_sha256: String,
    pub runbook_source: String,
    pub title: String,
    pub severity: String,
    pub rehearsal: bool,
    pub initiator: String,
    pub state: IncidentState,
    /// The `at` of event 1.
    pub opened_at: Timestamp,
    /// The `at` of the latest event.
    pub last_activity: Timestamp,
    /// The `at` of the `incident_closed` event.
    pub closed_at: Option<Timestamp>,
    /// The outcome named by the `incident_closed` event.
    pub outcome: Option<String>,
    /// How many events the log holds for the incident, the opening and closing included.
    pub event_count: u64,
}

/// One query for every summary; the latest event is found through the primary key.
const SUMMARY: &str = "
SELECT i.id, i.runbook_id, i.runbook_version, i.runbook_sha256, i.runbook_source, i.title,
       i.severity, i.rehearsal, i.initiator, i.opened_at,
       (SELECT count(*) FROM events e WHERE e.incident = i.id),
       last.seq, last.at, last.kind, last.body,
       EXISTS (SELECT 1 FROM seals s WHERE s.incident = i.id)
FROM incidents i
LEFT JOIN events last
       ON last.incident = i.id
      AND last.seq = (SELECT max(seq) FROM events e WHERE e.incident = i.id)
";

impl Store {
    /// The summary of incident `id`.
    pub fn incident(&self, id: &IncidentId) -> Result<Incident, StoreError> {
        let sql = format!("{SUMMARY} WHERE i.id = ?1");
        let raw = self
            .conn
            .query_row(&sql, [id.sql()], RawSummary::read)
            .optional()
            .in_store(&self.path)?;

        let Some(raw) = raw else {
            return Err(StoreError::UnknownIncident {
                path: self.path.clone(),
                id: id.to_string(),
            });
        };
        raw.into_incident(self)
    }

    /// The summaries of all incidents, oldest first.
    pub fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let sql = format!("{SUMMARY} ORDER BY i.id");
        let mut statement = self.conn.prepare(&sql).in_store(&self.path)?;
        let rows = statement
            .query_map([], RawSummary::read)
            .in_store(&self.path)?;

        let mut incidents = Vec::new();
        for raw in rows {
            incidents.push(raw.in_store(&self.path)?.into_incident(self)?);
        }
        Ok(incidents)
    }

    /// A [`StoreError::DamagedRecord`] for `part` of incident `id`.
    pub(crate) fn damaged(&self, id: IncidentId, part: RecordPart, detail: String) -> StoreError {
        StoreError::DamagedRecord {
            path: self.path.clone(),
            id: id.to_string(),
            part,
            detail,
        }
    }
}

/// The columns of [`SUMMARY`], before their texts are parsed.
struct RawSummary {
    id: i64,
    runbook_id: String,
    runbook_version: i64,
    runbook_sha256: String,
    runbook_source: String,
    title: String,
    severity: String,
    rehearsal: bool,
    initiator: String,
    opened_at: String,
    event_count: i64,
    last_seq: Option<i64>,
    last_at: Option<String>,
    last_kind: Option<String>,
    last_body: Option<Vec<u8>>,
    sealed: bool,
}

impl RawSummary {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            runbook_id: row.get(1)?,
            runbook_version: row.get(2)?,
            runbook_sha256: row.get(3)?,
            runbook_source: row.get(4)?,
            title: row.get(5)?,
            severity: row.get(6)?,
            rehearsal: row.get(7)?,
            initiator: row.get(8)?,
            opened_at: row.get(9)?,
            event_count: row.get(10)?,
            last_seq: row.get(11)?,
            last_at: row.get(12)?,
            last_kind: row.get(13)?,
            last_body: row.get_ref(14)?.as_bytes_or_null()?.map(<[u8]>::to_vec),
            sealed: row.get(15)?,
        })
    }

    fn into_incident(self, store: &Store) -> Result<Incident, StoreError> {
        let Some(id) = IncidentId::from_sql(self.id) else {
            return Err(StoreError::NotACustosStore {
                path: store.path.clone(),
                reason: format!("it holds an incident numbered {}", self.id),
            });
        };
        let last_seq = self
            .last_seq
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(0);
        let damaged = |detail: String| store.damaged(id, RecordPart::Header, detail);

        let opened_at = parse_time(&self.opened_at).map_err(damaged)?;
        let last_activity = match &self.last_at {
            Some(at) => parse_time(at)
                .map_err(|detail| store.damaged(id, RecordPart::Event(last_seq), detail))?,
            None => opened_at,
        };
        let closed_event = self.last_kind.as_deref() == Some(CLOSED_KIND);
        let state = if closed_event || self.sealed {
            IncidentState::Closed
        } else {
            IncidentState::Open
        };

        Ok(Incident {
            id,
            runbook_version: u32::try_from(self.runbook_version)
                .map_err(|_| damaged(format!("runbook version {}", self.runbook_version)))?,
            runbook_id: self.runbook_id,
            runbook_sha256: self.runbook_sha256,
            runbook_source: self.runbook_source,
            title: self.title,
            severity: self.severity,
            rehearsal: self.rehearsal,
            initiator: self.initiator,
            state,
            opened_at,
            last_activity,
            closed_at: closed_event.then_some(last_activity),
            outcome: closed_event
                .then(|| outcome(self.last_body.as_deref()))
                .flatten(),
            event_count: u64::try_from(self.event_count).unwrap_or(0),
        })
    }
}

/// The outcome of a closing event's body, or `None` when the body cannot be read; `verify`
/// reports why.
fn outcome(body: Option<&[u8]>) -> Option<String> {
    let body: ParsedBody = serde_json::from_slice(body?).ok()?;
    match body.event {
        Event::IncidentClosed { outcome, .. } => Some(outcome),
        _ => None,
    }
}

/// Parses a stored RFC 3339 time, describing the failure for a damaged-record error.
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, String> {
    text.parse()
        .map_err(|e| format!("`{text}` is not a time: {e}"))
}
