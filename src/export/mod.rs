//! Compliance exports: the incident log filtered and written for auditors, as JSON Lines (the
//! lossless form, verifiable offline), CSV (one row per event) or a self-contained HTML report.
//!
//! # The JSON Lines format (`custos-export-v2`)
//!
//! Line 1 is `{"manifest": {...}}` ([`Manifest`]): the format, the custos version, the time of
//! the export, the filters, the installation's public key, and per incident what the log says
//! of it (title, runbook, severity, drill flag, opened, closed, outcome), its event count,
//! chain head and seal. Line 2 signs line 1:
//!
//! ```text
//! {"manifest_signature":{"public_key":"ed25519:<64 hex>","signature":"<128 hex>"}}
//! ```
//!
//! an Ed25519 signature by the installation key over the ASCII text
//! `custos-export-manifest-v1:` followed by the exact bytes of line 1 without its newline (see
//! `signature.rs`). Every following line is one event, grouped by incident in the manifest's
//! order, in `seq` order:
//!
//! ```text
//! {"prev_hash":"<64 hex>","hash":"<64 hex>","body":<the stored body, byte for byte>}
//! ```
//!
//! The body is the canonical JSON the store hashed (see [`crate::store`]), copied without
//! re-encoding, so [`verify_jsonl`] recomputes every chain from the file alone and checks each
//! seal over `custos-seal-v1:INC-i:<head seq>:<head hash>`. Hex is lowercase throughout and is
//! compared as text. The verifier holds every manifest field to the events (event 1 for the
//! opening fields, the head event for `closed_at`, `outcome` and the seal), checks the filters
//! admit every listed incident, and refuses keys it does not know.
//!
//! What the signature proves is who made the export: with the installation's published key
//! given as trusted, nothing can be removed, added or changed without the key, not even the
//! end of an open incident or a whole incident. Without a trusted key the export vouches only
//! for itself: a forger can rebuild and re-sign it with a key of their own. The export holds
//! what the log held when it was made: an incident deleted from the log before is not in it,
//! which `custos verify` on the log reports (see [`crate::store`]).
//!
//! Exports stream: one event row is in memory at a time, writing and verifying. Only the HTML
//! report holds one incident's events, since it draws from all of them at once.

mod agreement;
mod check;
mod csv;
mod error;
mod filter;
mod html;
mod jsonl;
mod manifest;
mod signature;
mod svg;

pub use check::{ExportCheck, ExportProblem, IncidentCheck, verify_jsonl};
pub use csv::write_csv;
pub use error::ExportError;
pub use filter::{Bound, Filter};
pub use html::{ReportSettings, html_report, write_html};
pub use jsonl::write_jsonl;
pub use manifest::{Head, IncidentEntry, Manifest, SealEntry};

/// The name of the export format, written in every manifest.
pub const FORMAT: &str = "custos-export-v2";
