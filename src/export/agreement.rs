//! Holding a manifest to itself and to the events: every field it states is either checked
//! against the event that records it or checked for form.
//!
//! The manifest is signed, so a forger without the installation key cannot change it; these
//! checks catch what the signature cannot: a log that was edited before an honest export (an
//! `incidents` row or a seal row that disagrees with the hashed events), and a manifest signed
//! by a key the verifier was not told to trust. Each check names the field and both values.

use jiff::Timestamp;
use serde::Deserialize;

use super::filter::Candidate;
use super::{FORMAT, Filter, IncidentEntry, Manifest};
use crate::store::{Event, IncidentId};

/// What the rest of the check needs from a manifest that holds together.
pub(super) struct ManifestFacts {
    pub filter: Filter,
}

/// Checks the fields of `manifest` that no event records, and that the installation key is
/// `signer`, the key whose signature over the manifest verified.
pub(super) fn check_manifest(manifest: &Manifest, signer: &str) -> Result<ManifestFacts, String> {
    if manifest.format != FORMAT {
        return Err(format!(
            "the manifest names the format `{}`; this custos reads `{FORMAT}`",
            manifest.format
        ));
    }
    if manifest.installation_key != signer {
        return Err(format!(
            "the manifest's `installation_key` is `{}`, but `{signer}` signed it",
            manifest.installation_key
        ));
    }
    if !is_version(&manifest.custos_version) {
        return Err(format!(
            "the manifest's `custos_version` `{}` is not a version number",
            manifest.custos_version
        ));
    }
    time(&manifest.exported_at, "exported_at")?;
    let filter = manifest.filters.filter()?;

    let mut previous: Option<IncidentId> = None;
    for entry in &manifest.incidents {
        let id = canonical_id(&entry.id)?;
        if previous.is_some_and(|before| before >= id) {
            return Err(format!(
                "the manifest lists `{id}` after `{}`: incidents are listed once each, oldest \
                 first",
                previous.map(|p| p.to_string()).unwrap_or_default()
            ));
        }
        previous = Some(id);
    }
    Ok(ManifestFacts { filter })
}

/// `major.minor.patch`, with an optional `-pre` or `+build` suffix, as Cargo writes it.
fn is_version(text: &str) -> bool {
    let core = text.split(['-', '+']).next().unwrap_or_default();
    let suffix = &text[core.len()..];
    let parts: Vec<&str> = core.split('.').collect();
    let numbers = parts.len() == 3
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    let suffix_ok = suffix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-+.".contains(&b))
        && suffix.len() != 1;
    numbers && suffix_ok
}

fn time(text: &str, field: &str) -> Result<Timestamp, String> {
    text.parse()
        .map_err(|e| format!("the manifest's `{field}` `{text}` is not a time: {e}"))
}

/// The id written as custos writes it, `INC-` and the number without leading zeros.
fn canonical_id(text: &str) -> Result<IncidentId, String> {
    match text.parse::<IncidentId>() {
        Ok(id) if id.to_string() == text => Ok(id),
        _ => Err(format!(
            "the manifest lists `{text}`, which is not an incident id"
        )),
    }
}

/// Checks what an entry says of itself before its events are read: that the filters admit
/// it, and that its count, head and seal fit together.
pub(super) fn check_entry(entry: &IncidentEntry, filter: &Filter) -> Result<(), String> {
    let id = canonical_id(&entry.id)?;
    let opened_at = time(&entry.opened_at, "opened_at")?;
    let candidate = Candidate {
        id,
        opened_at,
        runbook_id: &entry.runbook_id,
        severity: &entry.severity,
        rehearsal: entry.rehearsal,
    };
    if let Some(reason) = filter.refusal(&candidate) {
        return Err(format!(
            "the manifest's filters leave this incident out ({reason}), yet it is listed"
        ));
    }

    if entry.events == 0 {
        return Err("the manifest lists no events; an incident always has its opening".into());
    }
    let Some(head) = &entry.head else {
        return Err("the manifest gives no `head` for an incident with events".into());
    };
    if head.seq != entry.events {
        return Err(format!(
            "the manifest's `head` is event {}, but it lists {} events",
            head.seq, entry.events
        ));
    }
    if let Some(seal) = &entry.seal
        && (seal.head_seq != head.seq || seal.head_hash != head.hash)
    {
        return Err(format!(
            "the manifest's seal covers event {}, not the manifest's `head`",
            seal.head_seq
        ));
    }
    Ok(())
}

/// The opening event as far as the manifest repeats it.
#[derive(Deserialize)]
struct OpeningBody {
    at: String,
    rehearsal: bool,
    event: Event,
}

/// Checks that event 1 is `incident_opened` and agrees with every field the manifest repeats.
pub(super) fn check_opening(body: &[u8], entry: &IncidentEntry) -> Result<(), String> {
    let opening: OpeningBody =
        serde_json::from_slice(body).map_err(|e| format!("the body is not an event: {e}"))?;
    let Event::IncidentOpened {
        runbook_id,
        runbook_version,
        runbook_sha256,
        title,
        severity,
        rehearsal,
        ..
    } = opening.event
    else {
        return Err("event 1 is not `incident_opened`".to_owned());
    };

    let fields = [
        ("title", entry.title.clone(), title),
        ("runbook_id", entry.runbook_id.clone(), runbook_id),
        (
            "runbook_version",
            entry.runbook_version.to_string(),
            runbook_version.to_string(),
        ),
        (
            "runbook_sha256",
            entry.runbook_sha256.clone(),
            runbook_sha256,
        ),
        ("severity", entry.severity.clone(), severity),
        (
            "rehearsal",
            entry.rehearsal.to_string(),
            rehearsal.to_string(),
        ),
        (
            "rehearsal",
            entry.rehearsal.to_string(),
            opening.rehearsal.to_string(),
        ),
        ("opened_at", entry.opened_at.clone(), opening.at),
    ];
    for (field, manifest, event) in fields {
        if manifest != event {
            return Err(disagreement(field, &manifest, 1, &event));
        }
    }
    Ok(())
}

fn disagreement(field: &str, manifest: &str, seq: u64, event: &str) -> String {
    format!("the manifest's `{field}` is `{manifest}`, but event {seq} records `{event}`")
}

/// The last event of a chain, as far as the manifest repeats it.
#[derive(Deserialize)]
struct EndingBody {
    at: String,
    written_at: String,
    event: Event,
}

/// What the manifest's closing fields must agree with: the event at the manifest's head.
pub(super) struct Ending {
    seq: u64,
    at: String,
    written_at: String,
    /// The outcome, when the event is `incident_closed`.
    outcome: Option<String>,
}

impl Ending {
    /// Reads event `seq`, the one the manifest names as the head.
    pub fn read(seq: u64, body: &[u8]) -> Result<Ending, String> {
        let ending: EndingBody =
            serde_json::from_slice(body).map_err(|e| format!("the body is not an event: {e}"))?;
        let outcome = match ending.event {
            Event::IncidentClosed { outcome, .. } => Some(outcome),
            _ => None,
        };
        Ok(Ending {
            seq,
            at: ending.at,
            written_at: ending.written_at,
            outcome,
        })
    }
}

/// Checks `closed_at`, `outcome` and the presence and time of the seal against the last event:
/// an incident ends in `incident_closed` exactly when the manifest says it is closed and sealed.
pub(super) fn check_ending(ending: &Ending, entry: &IncidentEntry) -> Result<(), String> {
    let seq = ending.seq;
    let Some(outcome) = &ending.outcome else {
        if let Some(closed_at) = &entry.closed_at {
            return Err(format!(
                "the manifest's `closed_at` is `{closed_at}`, but event {seq}, the last, is not \
                 `incident_closed`"
            ));
        }
        if let Some(outcome) = &entry.outcome {
            return Err(format!(
                "the manifest's `outcome` is `{outcome}`, but event {seq}, the last, is not \
                 `incident_closed`"
            ));
        }
        if entry.seal.is_some() {
            return Err(format!(
                "the manifest carries a seal, but event {seq}, the last, is not \
                 `incident_closed`: only a closed incident is sealed"
            ));
        }
        return Ok(());
    };

    let closed_at = entry.closed_at.as_deref().unwrap_or("null");
    if closed_at != ending.at {
        return Err(disagreement("closed_at", closed_at, seq, &ending.at));
    }
    let manifest_outcome = entry.outcome.as_deref().unwrap_or("null");
    if manifest_outcome != outcome {
        return Err(disagreement("outcome", manifest_outcome, seq, outcome));
    }
    let Some(seal) = &entry.seal else {
        return Err(format!(
            "event {seq} closes the incident, but the manifest carries no seal: the seal was \
             removed"
        ));
    };

    // The seal is written in the transaction of the closing event, after it.
    let sealed_at = time(&seal.sealed_at, "sealed_at")?;
    let written_at: Timestamp = ending
        .written_at
        .parse()
        .map_err(|e| format!("event {seq}'s `written_at` is not a time: {e}"))?;
    if sealed_at < written_at {
        return Err(format!(
            "the manifest's `sealed_at` `{}` is before event {seq}, the closing event, was \
             written at `{}`",
            seal.sealed_at, ending.written_at
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_three_numbers_with_an_optional_suffix() {
        for good in ["0.1.0", "1.22.333", "1.0.0-rc.1", "1.0.0+build.5"] {
            assert!(is_version(good), "{good}");
        }
        for bad in ["", "1.0", "1.0.x", "v1.0.0", "1.0.0-", "1.0.0 ", "1..0"] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn an_incident_id_must_be_written_as_custos_writes_it() {
        assert!(canonical_id("INC-7").is_ok());
        for bad in ["inc-7", "INC-07", "7", "INC-0", "INC-"] {
            assert!(canonical_id(bad).is_err(), "{bad}");
        }
    }
}
