//! Writing the CSV export: a header, one row holding the manifest, then one row per event, for
//! spreadsheets. CSV is for reading; only the JSON Lines form is verified offline.

use std::io::Write;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::write_error;
use super::{ExportError, Manifest};
use crate::store::IncidentId;
use crate::store::Store;

const HEADER: &str =
    "record,incident,seq,at,written_at,actor,rehearsal,kind,node,detail,prev_hash,hash";

/// The parts of a body a row shows.
#[derive(Deserialize)]
struct RowBody {
    at: String,
    written_at: String,
    actor: String,
    rehearsal: bool,
    event: Map<String, Value>,
}

/// Writes the CSV export of `manifest`'s incidents to `out`; `path` names it in errors.
pub fn write_csv(
    store: &Store,
    manifest: &Manifest,
    out: &mut impl Write,
    path: &Path,
) -> Result<u64, ExportError> {
    let io = write_error(path);
    writeln!(out, "{HEADER}").map_err(&io)?;
    let manifest_json = serde_json::to_string(manifest)?;
    writeln!(out, "manifest,,,,,,,,,{},,", field(&manifest_json)).map_err(&io)?;

    let mut written = 0;
    for entry in &manifest.incidents {
        let id: IncidentId = entry.id.parse()?;
        store.for_each_raw_event(id, entry.events, |event| {
            let row = row(
                &entry.id,
                event.seq,
                event.body,
                event.prev_hash,
                event.hash,
            );
            writeln!(out, "{row}").map_err(&io)?;
            written += 1;
            Ok::<_, ExportError>(())
        })?;
    }

    out.flush().map_err(&io)?;
    Ok(written)
}

/// One event as a CSV row; a body that does not parse is shown raw in `detail`.
fn row(incident: &str, seq: u64, body: &[u8], prev_hash: &str, hash: &str) -> String {
    let Ok(mut parsed) = serde_json::from_slice::<RowBody>(body) else {
        let raw = String::from_utf8_lossy(body);
        return format!(
            "event,{incident},{seq},,,,,,,{},{prev_hash},{hash}",
            field(&raw)
        );
    };

    let kind = take_text(&mut parsed.event, "type");
    let node = take_text(&mut parsed.event, "node");
    let detail = Value::Object(parsed.event).to_string();
    let cells = [
        field(&parsed.at),
        field(&parsed.written_at),
        field(&parsed.actor),
        parsed.rehearsal.to_string(),
        field(&kind),
        field(&node),
        field(&detail),
    ];
    format!(
        "event,{incident},{seq},{},{prev_hash},{hash}",
        cells.join(",")
    )
}

fn take_text(fields: &mut Map<String, Value>, key: &str) -> String {
    match fields.shift_remove(key) {
        Some(Value::String(text)) => text,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The first characters that make a spreadsheet read a cell as a formula, or that it drops
/// before looking again (tab, carriage return), as OWASP's CSV injection guidance lists them.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break. A field that
/// starts with one of [`FORMULA_STARTS`] gets a `'` so a spreadsheet shows it rather than
/// evaluating it.
fn field(text: &str) -> String {
    let guarded = if text.starts_with(FORMULA_STARTS) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_quotes_or_formulas_are_quoted_or_guarded() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=SUM(A1)"), "'=SUM(A1)");
    }

    #[test]
    fn every_formula_start_is_neutralised_and_a_later_one_is_left_alone() {
        assert_eq!(field("+1+1"), "'+1+1");
        assert_eq!(field("-2+3"), "'-2+3");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("\t=cmd|' /C calc'!A0"), "'\t=cmd|' /C calc'!A0");
        assert_eq!(field("\r=1+1"), "\"'\r=1+1\"");
        assert_eq!(field("a=1"), "a=1");
    }
}
