//! Reading events as the stored bytes, for exports that must let others recompute the chain.
//!
//! [`EventRecord`](super::EventRecord) parses each body; an export needs the body exactly as it
//! was hashed, so this reader hands out the bytes and hashes untouched, one row at a time. It
//! checks nothing: verification is [`Store::verify`]'s job, or the export verifier's.

use rusqlite::OptionalExtension;

use super::chain::ChainHash;
use super::error::InStore;
use super::{IncidentId, RecordPart, Store, StoreError};

/// One stored event row as bytes: what the chain hashes, and the hashes stored beside it.
#[derive(Clone, Copy, Debug)]
pub struct RawEvent<'a> {
    pub seq: u64,
    /// The canonical JSON body, byte for byte as stored and hashed.
    pub body: &'a [u8],
    /// The stored `prev_hash` column, 64 hex digits unless the file was edited.
    pub prev_hash: &'a str,
    /// The stored `hash` column.
    pub hash: &'a str,
}

impl Store {
    /// Calls `f` with events 1 to `last` of `incident` as stored, in order, holding one row in
    /// memory at a time. Stops at the first error `f` returns.
    pub fn for_each_raw_event<E: From<StoreError>>(
        &self,
        incident: IncidentId,
        last: u64,
        mut f: impl FnMut(RawEvent<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let last = i64::try_from(last).unwrap_or(i64::MAX);
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT seq, body, prev_hash, hash FROM events
                 WHERE incident = ?1 AND seq <= ?2 ORDER BY seq",
            )
            .in_store(&self.path)?;
        let mut rows = statement
            .query((incident.sql(), last))
            .in_store(&self.path)?;

        while let Some(row) = rows.next().in_store(&self.path)? {
            let seq: i64 = row.get(0).in_store(&self.path)?;
            let body = row.get_ref(1).in_store(&self.path)?;
            let prev_hash = row.get_ref(2).in_store(&self.path)?;
            let hash = row.get_ref(3).in_store(&self.path)?;
            f(RawEvent {
                seq: u64::try_from(seq).unwrap_or(0),
                body: body
                    .as_bytes_or_null()
                    .unwrap_or_default()
                    .unwrap_or_default(),
                prev_hash: prev_hash
                    .as_str_or_null()
                    .unwrap_or_default()
                    .unwrap_or_default(),
                hash: hash
                    .as_str_or_null()
                    .unwrap_or_default()
                    .unwrap_or_default(),
            })?;
        }
        Ok(())
    }

    /// The last event of `incident` as stored: its seq and its `hash` column, or `None` when
    /// the incident has no events. A hash that does not parse is a damaged record.
    pub fn head(&self, incident: IncidentId) -> Result<Option<(u64, ChainHash)>, StoreError> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT seq, hash FROM events WHERE incident = ?1 ORDER BY seq DESC LIMIT 1",
                [incident.sql()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .in_store(&self.path)?;

        let Some((seq, hash)) = row else {
            return Ok(None);
        };
        let seq = u64::try_from(seq).unwrap_or(0);
        let hash = hash.parse().map_err(|e| {
            self.damaged(
                incident,
                RecordPart::Event(seq),
                format!("`hash` is not a hash: {e}"),
            )
        })?;
        Ok(Some((seq, hash)))
    }
}
