//! The hash chain's building blocks: the canonical body of an event, the genesis value, the
//! link hash and the message a seal signs. The rules are spelled out in the module docs of
//! [`crate::store`]; this file is their only implementation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::IncidentId;
use super::event::Event;

/// The prefix hashed with the incident id to give the `prev_hash` of event 1.
const GENESIS_PREFIX: &str = "custos-genesis-v1:";

/// The prefix of the text a seal signs.
const SEAL_PREFIX: &str = "custos-seal-v1:";

/// The `kind` of the event that closes an incident.
pub(crate) const CLOSED_KIND: &str = "incident_closed";

/// A SHA-256 value of the chain, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The `prev_hash` of event 1 of `incident`: SHA-256 of `custos-genesis-v1:INC-42`.
    pub fn genesis(incident: IncidentId) -> Self {
        Self::of(format!("{GENESIS_PREFIX}{incident}").as_bytes())
    }

    /// The hash of an event: SHA-256 of the 32 bytes of `prev` followed by the body's bytes.
    pub fn link(prev: &Self, body: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(prev.0);
        hasher.update(body);
        Self(hasher.finalize().into())
    }

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

impl FromStr for ChainHash {
    type Err = hex::FromHexError;

    /// Parses 64 hex digits.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0; 32];
        hex::decode_to_slice(text, &mut bytes)?;
        Ok(Self(bytes))
    }
}

/// The canonical body of an event as written: the field order here is the order in the JSON.
#[derive(Serialize)]
pub(crate) struct Body<'a> {
    pub incident: String,
    pub seq: u64,
    pub at: String,
    pub written_at: String,
    pub actor: &'a str,
    pub rehearsal: bool,
    pub event: &'a Event,
}

/// A body read back from the log, for checking and for building records.
#[derive(Deserialize)]
pub(crate) struct ParsedBody {
    pub incident: String,
    pub seq: u64,
    pub at: String,
    pub written_at: String,
    pub actor: String,
    pub rehearsal: bool,
    pub event: Event,
}

/// The exact bytes a seal's signature covers: `custos-seal-v1:INC-42:17:<head hash in hex>`.
pub fn seal_message(incident: IncidentId, head_seq: u64, head_hash: &ChainHash) -> String {
    format!("{SEAL_PREFIX}{incident}:{head_seq}:{head_hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_genesis_value_is_the_sha256_of_the_documented_text() {
        let id = IncidentId::new(42).unwrap();
        let expected = Sha256::digest(b"custos-genesis-v1:INC-42");
        assert_eq!(ChainHash::genesis(id).0, <[u8; 32]>::from(expected));
    }

    #[test]
    fn a_link_hashes_the_previous_hash_then_the_body() {
        let prev = ChainHash([7; 32]);
        let mut joined = vec![7; 32];
        joined.extend_from_slice(b"{}");
        assert_eq!(ChainHash::link(&prev, b"{}"), ChainHash::of(&joined));
    }

    #[test]
    fn a_hash_round_trips_through_its_hex_text() {
        let hash = ChainHash::of(b"x");
        assert_eq!(hash.to_string().parse::<ChainHash>().unwrap(), hash);
        assert!("abc".parse::<ChainHash>().is_err());
    }

    #[test]
    fn the_body_fields_are_written_in_the_documented_order() {
        let event = Event::NodeEntered {
            node: "triage".into(),
        };
        let body = Body {
            incident: "INC-3".into(),
            seq: 2,
            at: "2026-12-03T19:00:00Z".into(),
            written_at: "2026-12-03T19:00:01Z".into(),
            actor: "alice",
            rehearsal: true,
            event: &event,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"incident":"INC-3","seq":2,"at":"2026-12-03T19:00:00Z","#.to_owned()
                + r#""written_at":"2026-12-03T19:00:01Z","actor":"alice","rehearsal":true,"#
                + r#""event":{"type":"node_entered","node":"triage"}}"#
        );
    }
}
