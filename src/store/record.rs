//! Reading events back: whole incidents at once, or streamed for exports.

use jiff::Timestamp;
use rusqlite::Row;

use super::chain::{ChainHash, ParsedBody};
use super::error::InStore;
use super::event::Event;
use super::incident::parse_time;
use super::{IncidentId, RecordPart, Store, StoreError};

/// One event as stored: the event itself, who and when, and its place in the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub incident: IncidentId,
    pub seq: u64,
    /// The time the engine gave; a drill may run on a set clock.
    pub at: Timestamp,
    /// The wall-clock time the row was written.
    pub written_at: Timestamp,
    pub actor: String,
    pub rehearsal: bool,
    pub event: Event,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
}

const EVENTS: &str = "SELECT incident, seq, body, prev_hash, hash FROM events";

impl Store {
    /// Every event of `incident`, in order.
    pub fn events(&self, incident: &IncidentId) -> Result<Vec<EventRecord>, StoreError> {
        // Ask for the incident first so that an unknown id is an error, not an empty list.
        self.incident(incident)?;

        let mut records = Vec::new();
        self.for_each_event(Some(incident), |record| {
            records.push(record);
            Ok(())
        })?;
        Ok(records)
    }

    /// Calls `f` with each event of `incident`, or of every incident, in (incident, seq) order,
    /// holding one event in memory at a time. Stops at the first error `f` returns.
    pub fn for_each_event(
        &self,
        incident: Option<&IncidentId>,
        mut f: impl FnMut(EventRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let (sql, params) = match incident {
            Some(id) => (
                format!("{EVENTS} WHERE incident = ?1 ORDER BY seq"),
                vec![id.sql()],
            ),
            None => (format!("{EVENTS} ORDER BY incident, seq"), vec![]),
        };

        let mut statement = self.conn.prepare(&sql).in_store(&self.path)?;
        let mut rows = statement
            .query(rusqlite::params_from_iter(params))
            .in_store(&self.path)?;
        while let Some(row) = rows.next().in_store(&self.path)? {
            f(self.record(row)?)?;
        }
        Ok(())
    }

    /// Builds a record from the body, which the chain protects, rather than from the copies.
    fn record(&self, row: &Row<'_>) -> Result<EventRecord, StoreError> {
        let raw_id: i64 = row.get(0).in_store(&self.path)?;
        let raw_seq: i64 = row.get(1).in_store(&self.path)?;
        let body = row.get_ref(2).in_store(&self.path)?;
        let body = body
            .as_bytes_or_null()
            .unwrap_or_default()
            .unwrap_or_default();
        let prev_hash: String = row.get(3).in_store(&self.path)?;
        let hash: String = row.get(4).in_store(&self.path)?;

        let Some(incident) = IncidentId::from_sql(raw_id) else {
            return Err(StoreError::NotACustosStore {
                path: self.path.clone(),
                reason: format!("it holds events of an incident numbered {raw_id}"),
            });
        };
        let seq = u64::try_from(raw_seq).unwrap_or(0);
        let damaged = |detail: String| self.damaged(incident, RecordPart::Event(seq), detail);

        let parsed: ParsedBody =
            serde_json::from_slice(body).map_err(|e| damaged(format!("unreadable body: {e}")))?;
        let chain_hash = |text: &str, column: &str| {
            text.parse::<ChainHash>()
                .map_err(|e| damaged(format!("`{column}` is not a hash: {e}")))
        };

        Ok(EventRecord {
            incident,
            seq,
            at: parse_time(&parsed.at).map_err(damaged)?,
            written_at: parse_time(&parsed.written_at).map_err(damaged)?,
            actor: parsed.actor,
            rehearsal: parsed.rehearsal,
            event: parsed.event,
            prev_hash: chain_hash(&prev_hash, "prev_hash")?,
            hash: chain_hash(&hash, "hash")?,
        })
    }
}
