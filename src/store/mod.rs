//! The incident log: an append-only, hash-chained, sealed record of every incident in one
//! SQLite file.
//!
//! This module stores and checks what the engine decided; it does not decide anything, send
//! anything or know about runbook graphs. The engine opens an incident with
//! [`Store::open_incident`], appends events with [`Store::append`] and ends with
//! [`Store::close`], which seals the log of the incident with the installation's Ed25519 key
//! ([`signing`]). [`Store::verify`] checks an incident after the fact.
//!
//! # Durability and concurrency
//!
//! The file is opened with `journal_mode=WAL`, `synchronous=FULL` and a busy timeout of
//! [`BUSY_TIMEOUT`]. Each write is one `BEGIN IMMEDIATE` transaction, so a call that returns `Ok`
//! has reached the disk, and the hash of the previous event is read after the write lock is
//! taken: two processes appending to the same incident queue up rather than fork the chain.
//! A process that waits longer than the timeout gets [`StoreError::Busy`].
//!
//! # Schema (version 1)
//!
//! - `incidents`: one row per incident, `id` being the number of `INC-<id>`. It pins the
//!   runbook by keeping its full source text and the SHA-256 of that text (`runbook_sha256`),
//!   with title, severity, rehearsal flag, initiator and `opened_at`.
//! - `events`: one row per event, keyed by `(incident, seq)`, `seq` counting from 1. `body` is
//!   the canonical JSON below; `kind`, `at`, `actor` and `written_at` are copies of the body's
//!   fields for queries; `prev_hash` and `hash` are the chain, as 64 lowercase hex digits.
//! - `seals`: one row per closed incident: `head_seq`, `head_hash`, `public_key`
//!   (`ed25519:<hex>`), `signature` (hex of 64 bytes) and the wall-clock `sealed_at`.
//!
//! - `outbox`: one row per notification, keyed by `(incident, number)`: what was said (sender,
//!   recipients as a JSON array, subject, body, the stable `message_id`), fixed when it was
//!   queued, and its delivery state (`pending`, `sending`, `sent`), `attempts`, `next_attempt`,
//!   the claim of the process sending it, the last error and the server's response.
//!   `escalation` names the escalation rule that queued it; it is unique per incident, which
//!   is what makes an escalation fire once. See [`outbox`].
//! - `deliveries`: one row per ended delivery attempt (`sent`, `failed` or `unknown`), kept
//!   also for incidents that are closed and take no more events.
//!
//! Expiry monitoring adds no table: its alerts are notifications on watch incidents, see
//! [`expiry`].
//!
//! Triggers refuse `UPDATE` and `DELETE` on `incidents`, `events`, `seals` and `deliveries`,
//! and `DELETE` on `outbox` as well as any edit of what a notification says, against slips in
//! an SQL shell. Rows of `events`, `seals` and `deliveries` are only ever inserted.
//!
//! # The hash chain
//!
//! The body of an event is the compact JSON (no spaces) of an object with exactly these fields
//! in this order:
//!
//! ```text
//! {"incident":"INC-42","seq":3,"at":"2026-12-03T19:00:00Z","written_at":"2026-12-03T19:00:02.5Z",
//!  "actor":"alice","rehearsal":true,"event":{"type":"node_entered","node":"triage"}}
//! ```
//!
//! `at` is the time the engine gives (a drill may run on a set clock); `written_at` is the
//! wall-clock time the row was written. Both are RFC 3339 in UTC as jiff prints them.
//! `rehearsal` repeats the incident's flag in every event, so no event of a drill can pass for
//! a real one. `event` is the [`Event`] with its `type` tag; object fields keep their order.
//!
//! For event `n` of incident `INC-i`:
//!
//! - `prev_hash(1) = SHA-256("custos-genesis-v1:INC-i")`, the ASCII bytes of that text;
//! - `prev_hash(n) = hash(n - 1)` for `n > 1`;
//! - `hash(n) = SHA-256(prev_hash(n) || body(n))`: the 32 raw bytes of `prev_hash`, then the
//!   UTF-8 bytes of the body exactly as stored.
//!
//! Event 1 is always `incident_opened` and must agree with the `incidents` row; the runbook
//! source must still hash to `runbook_sha256`.
//!
//! # The seal
//!
//! [`Store::close`] writes the `incident_closed` event and the seal in one transaction. The seal
//! is an Ed25519 signature over the ASCII text `custos-seal-v1:INC-i:<head seq>:<head hash in
//! hex>`, made with the installation key; the public key is stored beside it. Verification
//! checks the signature with the stored key and, when the caller passes a trusted key, that
//! the stored key is that key.
//!
//! # What the chain cannot show
//!
//! SHA-256 has no key: anyone who can write the file can append well-formed events to an open
//! incident, or cut events off its end, and the chain still verifies. Removing, changing,
//! reordering or inserting events anywhere before the last one is caught. Only a closed incident
//! is protected at its end, by the seal; and a seal only proves what the key proves, so an
//! auditor should compare the stored public key with the installation's published key (pass it
//! as `trusted`). A deleted seal together with the deleted closing event makes a closed incident
//! look open and is not detectable from the file alone.
//!
//! A whole incident deleted (its `incidents` row, events and seal) leaves no broken chain, since
//! each incident has its own. Incident numbers are given out in order by SQLite's
//! `AUTOINCREMENT` and never reused, so [`Store::missing_incidents`] reports a number below
//! the highest that has no row, and one up to the counter in `sqlite_sequence`. Deleting the
//! newest incident together with lowering that counter cannot be detected by the chain or the
//! file alone; only a copy made before (an export, a backup) shows it.

pub mod event;
pub mod expiry;
pub mod outbox;
pub mod signing;

mod chain;
mod error;
mod id;
mod incident;
mod raw;
mod record;
mod schema;
mod seal;
mod verification;
mod verify;
mod write;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

pub use chain::{ChainHash, seal_message};
pub use error::{RecordPart, StoreError, os_user};
pub use event::{Event, Origin, Participant, credential_fingerprint};
pub use id::IncidentId;
pub use incident::{Incident, IncidentState, Opening};
pub use outbox::{
    Attempt, Claim, Delivery, NewNotification, Notification, NotificationId, NotificationState,
};
pub use raw::RawEvent;
pub use record::EventRecord;
pub use schema::Durability;
pub use seal::Seal;
pub use verification::{Head, IncidentGap, Problem, ProblemKind, SealStatus, Verification};

/// How long a write waits for another process to release the log before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The incident log: one connection to one SQLite file.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the log at `path`, creating it (and its directory) if it does not exist.
    ///
    /// Refuses a file that is not a custos log and a log written by a newer schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = schema::open(path)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The journal mode, synchronous level and busy timeout in force on this connection.
    pub fn durability(&self) -> Result<Durability, StoreError> {
        schema::durability(&self.conn, &self.path)
    }

    /// The file this store was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Where the log lives by default: `$CUSTOS_STORE`, else
/// `$XDG_DATA_HOME/custos/incidents.sqlite`, else `~/.local/share/custos/incidents.sqlite`.
pub fn default_path() -> PathBuf {
    default_path_from(
        std::env::var_os("CUSTOS_STORE"),
        std::env::var_os("XDG_DATA_HOME"),
        std::env::home_dir(),
    )
}

/// [`default_path`] with the environment given, so it can be tested without changing it.
fn default_path_from(
    store: Option<OsString>,
    data_home: Option<OsString>,
    home: Option<PathBuf>,
) -> PathBuf {
    if let Some(store) = store.filter(|s| !s.is_empty()) {
        return PathBuf::from(store);
    }

    // The XDG spec says to ignore a relative `XDG_DATA_HOME`.
    let data_home = data_home.map(PathBuf::from).filter(|p| p.is_absolute());
    let data_home = data_home.unwrap_or_else(|| home.unwrap_or_default().join(".local/share"));
    data_home.join("custos").join("incidents.sqlite")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custos_store_wins_over_every_other_location() {
        let path = default_path_from(
            Some("/srv/log.sqlite".into()),
            Some("/xdg".into()),
            Some("/home/a".into()),
        );
        assert_eq!(path, Path::new("/srv/log.sqlite"));
    }

    #[test]
    fn xdg_data_home_is_used_when_custos_store_is_unset_or_empty() {
        let path = default_path_from(Some("".into()), Some("/xdg".into()), Some("/home/a".into()));
        assert_eq!(path, Path::new("/xdg/custos/incidents.sqlite"));
    }

    #[test]
    fn the_home_directory_is_the_last_resort_and_a_relative_xdg_path_is_ignored() {
        let path = default_path_from(None, Some("rel".into()), Some("/home/a".into()));
        assert_eq!(
            path,
            Path::new("/home/a/.local/share/custos/incidents.sqlite")
        );
    }
}
