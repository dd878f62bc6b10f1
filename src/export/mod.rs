//! Compliance exports: the incident log filtered and written for auditors, as JSON Lines (the
//! lossless form, verifiable offline), CSV (one row per event) or a self-contained HTML report.
//!
//! # The JSON Lines format (`custos-export-v1`)
//!
//! Line 1 is `{"manifest": {...}}` ([`Manifest`]): the custos version, the filters, the
//! installation's public key, and per incident its event count, chain head and seal. Every
//! following line is one event, grouped by incident in the manifest's order, in `seq` order:
//!
//! ```text
//! {"prev_hash":"<64 hex>","hash":"<64 hex>","body":<the stored body, byte for byte>}
//! ```
//!
//! The body is the canonical JSON the store hashed (see [`crate::store`]), copied without
//! re-encoding, so [`verify_jsonl`] recomputes every chain from the file alone and checks each
//! seal over `custos-seal-v1:INC-i:<head seq>:<head hash>`. The manifest is not signed: what
//! anchors an incident is its seal; an open incident's head is only as good as the manifest.
//!
//! Exports stream: one event row is in memory at a time, writing and verifying. Only the HTML
//! report holds one incident's events, since it draws from all of them at once.

mod check;
mod csv;
mod error;
mod filter;
mod html;
mod jsonl;
mod manifest;
mod svg;

pub use check::{ExportCheck, ExportProblem, IncidentCheck, verify_jsonl};
pub use csv::write_csv;
pub use error::ExportError;
pub use filter::{Bound, Filter};
pub use html::{html_report, write_html};
pub use jsonl::write_jsonl;
pub use manifest::{Head, IncidentEntry, Manifest, SealEntry};

/// The name of the export format, written in every manifest.
pub const FORMAT: &str = "custos-export-v1";
