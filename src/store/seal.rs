//! The seal of a closed incident: a signature over the head of its chain.

use ed25519_dalek::{Signature, VerifyingKey};
use jiff::Timestamp;
use rusqlite::OptionalExtension;

use super::chain::ChainHash;
use super::error::InStore;
use super::incident::parse_time;
use super::signing::parse_public_key;
use super::{IncidentId, RecordPart, Store, StoreError};

/// A closed incident's seal: the installation key's signature over the chain's head.
#[derive(Clone, Debug, PartialEq)]
pub struct Seal {
    pub incident: IncidentId,
    pub head_seq: u64,
    pub head_hash: ChainHash,
    pub public_key: VerifyingKey,
    pub signature: Signature,
    /// The wall-clock time the seal was written.
    pub sealed_at: Timestamp,
}

/// A seal row as stored, before its texts are parsed.
pub(crate) struct RawSeal {
    pub head_seq: i64,
    pub head_hash: String,
    pub public_key: String,
    pub signature: String,
    pub sealed_at: String,
}

impl RawSeal {
    /// Parses the row, describing the first column that does not parse.
    pub(crate) fn parse(&self, incident: IncidentId) -> Result<Seal, String> {
        let head_seq = u64::try_from(self.head_seq)
            .map_err(|_| format!("`head_seq` {} is negative", self.head_seq))?;
        let head_hash = self
            .head_hash
            .parse()
            .map_err(|e| format!("`head_hash` is not a hash: {e}"))?;
        let public_key = parse_public_key(&self.public_key).map_err(|e| e.to_string())?;

        let mut signature = [0; 64];
        hex::decode_to_slice(&self.signature, &mut signature)
            .map_err(|e| format!("`signature` is not 64 bytes in hex: {e}"))?;

        Ok(Seal {
            incident,
            head_seq,
            head_hash,
            public_key,
            signature: Signature::from_bytes(&signature),
            sealed_at: parse_time(&self.sealed_at)?,
        })
    }
}

impl Store {
    /// The seal of `incident`, or `None` while it is open.
    pub fn seal(&self, incident: &IncidentId) -> Result<Option<Seal>, StoreError> {
        let Some(raw) = self.raw_seal(*incident)? else {
            return Ok(None);
        };
        let seal = raw
            .parse(*incident)
            .map_err(|e| self.damaged(*incident, RecordPart::Seal, e))?;
        Ok(Some(seal))
    }

    pub(crate) fn raw_seal(&self, incident: IncidentId) -> Result<Option<RawSeal>, StoreError> {
        self.conn
            .query_row(
                "SELECT head_seq, head_hash, public_key, signature, sealed_at
                 FROM seals WHERE incident = ?1",
                [incident.sql()],
                |row| {
                    Ok(RawSeal {
                        head_seq: row.get(0)?,
                        head_hash: row.get(1)?,
                        public_key: row.get(2)?,
                        signature: row.get(3)?,
                        sealed_at: row.get(4)?,
                    })
                },
            )
            .optional()
            .in_store(&self.path)
    }
}
