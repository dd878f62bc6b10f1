//! Writing the JSON Lines export: the manifest line, its signature, then every event with its
//! stored bytes.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::SigningKey;
use serde::Serialize;

use super::error::write_error;
use super::signature::{ManifestSignature, SignatureLine};
use super::{ExportError, Manifest};
use crate::store::signing::public_key_text;
use crate::store::{IncidentId, Store};

/// The first line of a JSON Lines export.
#[derive(Serialize)]
struct ManifestLine<'a> {
    manifest: &'a Manifest,
}

/// Writes the export of `manifest`'s incidents to `out`, streaming events from `store`, with
/// the manifest signed by `key` (the installation key the manifest names); `path` names the
/// destination in errors. Returns how many events were written.
pub fn write_jsonl(
    store: &Store,
    manifest: &Manifest,
    key: &SigningKey,
    out: &mut impl Write,
    path: &Path,
) -> Result<u64, ExportError> {
    let signing = public_key_text(&key.verifying_key());
    if signing != manifest.installation_key {
        return Err(ExportError::KeyMismatch {
            named: manifest.installation_key.clone(),
            signing,
        });
    }

    let io = write_error(path);
    let manifest_line = serde_json::to_vec(&ManifestLine { manifest })?;
    let manifest_signature = ManifestSignature::sign(&manifest_line, key);
    out.write_all(&manifest_line).map_err(&io)?;
    out.write_all(b"\n").map_err(&io)?;
    serde_json::to_writer(&mut *out, &SignatureLine { manifest_signature })?;
    out.write_all(b"\n").map_err(&io)?;

    let mut written = 0;
    for entry in &manifest.incidents {
        let id: IncidentId = entry.id.parse()?;
        store.for_each_raw_event(id, entry.events, |event| {
            out.write_all(b"{\"prev_hash\":\"").map_err(&io)?;
            out.write_all(event.prev_hash.as_bytes()).map_err(&io)?;
            out.write_all(b"\",\"hash\":\"").map_err(&io)?;
            out.write_all(event.hash.as_bytes()).map_err(&io)?;
            out.write_all(b"\",\"body\":").map_err(&io)?;
            out.write_all(event.body).map_err(&io)?;
            out.write_all(b"}\n").map_err(&io)?;
            written += 1;
            Ok::<_, ExportError>(())
        })?;
    }

    out.flush().map_err(&io)?;
    Ok(written)
}
