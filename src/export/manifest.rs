//! The manifest of an export: what it claims to hold, written before the events so that a
//! verifier reading the file once knows what each chain must end in.
//!
//! Every key is known: a verifier refuses a manifest with a key this custos does not write, so
//! nothing can ride along under the signature unchecked.

use ed25519_dalek::VerifyingKey;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::filter::FilterRecord;
use super::{ExportError, FORMAT, Filter};
use crate::store::signing::public_key_text;
use crate::store::{Incident, IncidentState, Store};

/// What an export holds and how to check it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    pub custos_version: String,
    pub exported_at: String,
    pub filters: FilterRecord,
    /// The installation's public key (`ed25519:<hex>`): it signs the manifest, and every seal
    /// in the export must be made with it.
    pub installation_key: String,
    pub incidents: Vec<IncidentEntry>,
}

/// One incident of an export, as the log summarised it when the export began.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentEntry {
    pub id: String,
    pub title: String,
    pub runbook_id: String,
    pub runbook_version: u32,
    pub runbook_sha256: String,
    pub severity: String,
    pub rehearsal: bool,
    pub opened_at: String,
    pub closed_at: Option<String>,
    pub outcome: Option<String>,
    /// How many events the export holds for the incident.
    pub events: u64,
    pub head: Option<Head>,
    pub seal: Option<SealEntry>,
}

/// The last event of a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// A closed incident's seal, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealEntry {
    pub head_seq: u64,
    pub head_hash: String,
    /// 64 bytes in hex.
    pub signature: String,
    /// `ed25519:<hex>`.
    pub public_key: String,
    pub sealed_at: String,
}

impl Manifest {
    /// The manifest of the incidents of `store` that `filter` admits, oldest first;
    /// `installation_key` is the key that will sign it.
    pub fn build(
        store: &Store,
        filter: &Filter,
        installation_key: &VerifyingKey,
    ) -> Result<Manifest, ExportError> {
        let mut incidents = Vec::new();
        for incident in store.incidents()? {
            if filter.admits(&incident) {
                incidents.push(IncidentEntry::read(store, &incident)?);
            }
        }

        Ok(Manifest {
            format: FORMAT.to_owned(),
            custos_version: env!("CARGO_PKG_VERSION").to_owned(),
            exported_at: Timestamp::now().to_string(),
            filters: filter.record(),
            installation_key: public_key_text(installation_key),
            incidents,
        })
    }

    /// The manifest limited to one incident, for a report of that incident alone.
    pub fn only(&self, entry: &IncidentEntry) -> Manifest {
        Manifest {
            incidents: vec![entry.clone()],
            ..self.clone()
        }
    }
}

impl IncidentEntry {
    /// The entry of `incident`: its head and seal read now. The seal, once there, fixes the
    /// head; for an open incident the export stops at the head read here.
    fn read(store: &Store, incident: &Incident) -> Result<IncidentEntry, ExportError> {
        let seal = store.seal(&incident.id)?;
        let head = match &seal {
            Some(seal) => Some((seal.head_seq, seal.head_hash)),
            None => store.head(incident.id)?,
        };
        let closed = incident.state == IncidentState::Closed;

        Ok(IncidentEntry {
            id: incident.id.to_string(),
            title: incident.title.clone(),
            runbook_id: incident.runbook_id.clone(),
            runbook_version: incident.runbook_version,
            runbook_sha256: incident.runbook_sha256.clone(),
            severity: incident.severity.clone(),
            rehearsal: incident.rehearsal,
            opened_at: incident.opened_at.to_string(),
            closed_at: incident
                .closed_at
                .filter(|_| closed)
                .map(|at| at.to_string()),
            outcome: incident.outcome.clone(),
            events: head.map_or(0, |(seq, _)| seq),
            head: head.map(|(seq, hash)| Head {
                seq,
                hash: hash.to_string(),
            }),
            seal: seal.map(|seal| SealEntry {
                head_seq: seal.head_seq,
                head_hash: seal.head_hash.to_string(),
                signature: hex::encode(seal.signature.to_bytes()),
                public_key: public_key_text(&seal.public_key),
                sealed_at: seal.sealed_at.to_string(),
            }),
        })
    }
}
