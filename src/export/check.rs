//! Checking a JSON Lines export alone, without the store: every chain recomputed from the
//! bodies, every seal checked, and the manifest held to what the lines show.
//!
//! The file is read once, one line in memory at a time. Each incident stops being checked at
//! its first problem, which is reported with the incident, the event and the line, so one
//! changed byte gives one precise report instead of a cascade.

use std::fmt;
use std::io::BufRead;
use std::path::Path;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;

use super::{ExportError, FORMAT, IncidentEntry, Manifest};
use crate::store::signing::{parse_public_key, public_key_text};
use crate::store::{ChainHash, seal_message};
use crate::store::{Event, IncidentId};

/// The outcome of checking an export.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportCheck {
    /// The manifest, when line 1 is one.
    pub manifest: Option<Manifest>,
    pub incidents: Vec<IncidentCheck>,
    /// Problems of the file as a whole: no manifest, lines that belong to no incident.
    pub problems: Vec<ExportProblem>,
}

/// One incident of the manifest, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentCheck {
    pub id: String,
    /// Events read and chained before the first problem, or all of them.
    pub events: u64,
    /// Whether the incident carries a seal that verified.
    pub sealed: bool,
    pub problem: Option<ExportProblem>,
}

/// Something wrong with an export, placed as precisely as the evidence allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportProblem {
    pub incident: Option<String>,
    pub seq: Option<u64>,
    /// The line of the file, counting from 1; 0 when the problem is the end of the file.
    pub line: u64,
    pub detail: String,
}

impl ExportCheck {
    /// Whether everything verified.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.incidents.iter().all(|check| check.problem.is_none())
    }

    /// Every problem, the file's first.
    pub fn all_problems(&self) -> impl Iterator<Item = &ExportProblem> {
        let incidents = self.incidents.iter().filter_map(|c| c.problem.as_ref());
        self.problems.iter().chain(incidents)
    }
}

impl fmt::Display for ExportProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(incident) = &self.incident {
            write!(f, "{incident}: ")?;
        }
        if let Some(seq) = self.seq {
            write!(f, "event {seq}: ")?;
        }
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        f.write_str(&self.detail)
    }
}

/// The first line of an export.
#[derive(Deserialize)]
struct ManifestLine {
    manifest: Manifest,
}

/// Checks the JSON Lines export read from `input`; `path` names it in errors. `trusted`, when
/// given, is the only key whose seals are accepted; otherwise seals must be made with the
/// manifest's installation key when it names one.
pub fn verify_jsonl(
    input: &mut impl BufRead,
    path: &Path,
    trusted: Option<&VerifyingKey>,
) -> Result<ExportCheck, ExportError> {
    let mut line = Vec::with_capacity(4096);
    let mut read = |line: &mut Vec<u8>| {
        line.clear();
        input
            .read_until(b'\n', line)
            .map_err(|source| ExportError::Read {
                path: path.to_path_buf(),
                source,
            })
    };

    read(&mut line)?;
    let manifest = match parse_manifest(&line) {
        Ok(manifest) => manifest,
        Err(detail) => {
            let problem = file_problem(1, detail);
            return Ok(ExportCheck {
                manifest: None,
                incidents: Vec::new(),
                problems: vec![problem],
            });
        }
    };

    let mut checker = Checker::new(&manifest, trusted);
    let mut number = 1;
    while read(&mut line)? > 0 {
        number += 1;
        checker.line(number, trim_newline(&line));
    }
    let (incidents, problems) = checker.finish();

    Ok(ExportCheck {
        manifest: Some(manifest),
        incidents,
        problems,
    })
}

fn parse_manifest(line: &[u8]) -> Result<Manifest, String> {
    let parsed: ManifestLine = serde_json::from_slice(trim_newline(line))
        .map_err(|e| format!("line 1 is not the manifest of a custos export: {e}"))?;
    let manifest = parsed.manifest;
    if manifest.format != FORMAT {
        return Err(format!(
            "the manifest names the format `{}`; this custos reads `{FORMAT}`",
            manifest.format
        ));
    }
    Ok(manifest)
}

fn trim_newline(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

fn file_problem(line: u64, detail: String) -> ExportProblem {
    ExportProblem {
        incident: None,
        seq: None,
        line,
        detail,
    }
}

/// One event line taken apart: the stored hashes and the body bytes.
struct EventLine<'a> {
    prev_hash: &'a [u8],
    hash: &'a [u8],
    body: &'a [u8],
}

const PREV_PREFIX: &[u8] = b"{\"prev_hash\":\"";
const HASH_PREFIX: &[u8] = b"\",\"hash\":\"";
const BODY_PREFIX: &[u8] = b"\",\"body\":";

/// Splits a line of the fixed layout `write_jsonl` produces; the hashes are 64 bytes each.
fn split_line(line: &[u8]) -> Option<EventLine<'_>> {
    let rest = line.strip_prefix(PREV_PREFIX)?;
    let (prev_hash, rest) = rest.split_at_checked(64)?;
    let rest = rest.strip_prefix(HASH_PREFIX)?;
    let (hash, rest) = rest.split_at_checked(64)?;
    let body = rest.strip_prefix(BODY_PREFIX)?.strip_suffix(b"}")?;
    Some(EventLine {
        prev_hash,
        hash,
        body,
    })
}

/// Reads `incident` and `seq` from the start of a canonical body, where they always are.
fn body_place(body: &[u8]) -> Option<(u64, u64)> {
    let rest = body.strip_prefix(b"{\"incident\":\"INC-")?;
    let (incident, rest) = leading_number(rest)?;
    let rest = rest.strip_prefix(b"\",\"seq\":")?;
    let (seq, rest) = leading_number(rest)?;
    rest.starts_with(b",").then_some((incident, seq))
}

fn leading_number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let number = std::str::from_utf8(&bytes[..digits]).ok()?.parse().ok()?;
    Some((number, &bytes[digits..]))
}

fn parse_hash(text: &[u8]) -> Option<ChainHash> {
    let mut bytes = [0; 32];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(ChainHash(bytes))
}

/// The chain of the incident being read.
struct Chain {
    /// Index of the incident in the manifest.
    index: usize,
    id: IncidentId,
    /// The seq the next line must carry.
    next: u64,
    prev: ChainHash,
}

/// The state of a check as lines come in.
struct Checker<'a> {
    manifest: &'a Manifest,
    trusted: Option<&'a VerifyingKey>,
    checks: Vec<IncidentCheck>,
    problems: Vec<ExportProblem>,
    current: Option<Chain>,
    /// The manifest index the next new incident must have.
    next_index: usize,
    /// The incident of the last line out of place, so a run of them is reported once.
    stray: Option<u64>,
}

impl<'a> Checker<'a> {
    fn new(manifest: &'a Manifest, trusted: Option<&'a VerifyingKey>) -> Self {
        let checks = manifest
            .incidents
            .iter()
            .map(|entry| IncidentCheck {
                id: entry.id.clone(),
                events: 0,
                sealed: false,
                problem: None,
            })
            .collect();
        Self {
            manifest,
            trusted,
            checks,
            problems: Vec::new(),
            current: None,
            next_index: 0,
            stray: None,
        }
    }

    fn line(&mut self, number: u64, line: &[u8]) {
        let Some(event) = split_line(line) else {
            let detail = "not an event line of a custos export".to_owned();
            self.fail_current(number, None, detail);
            return;
        };
        let Some((incident, seq)) = body_place(event.body) else {
            let detail = "the body does not start with its incident and seq".to_owned();
            self.fail_current(number, None, detail);
            return;
        };

        if self
            .current
            .as_ref()
            .is_none_or(|c| c.id.number() != incident)
        {
            self.start(number, incident);
        }
        let Some(chain) = self.current.as_mut() else {
            return;
        };
        if self.checks[chain.index].problem.is_some() {
            return;
        }

        let entry = &self.manifest.incidents[chain.index];
        if let Err(detail) = link(chain, seq, &event, entry) {
            let index = chain.index;
            self.fail(index, number, Some(seq), detail);
            return;
        }
        self.checks[chain.index].events = seq;
    }

    /// Begins the chain of incident number `incident`, which must come next in the manifest.
    fn start(&mut self, number: u64, incident: u64) {
        self.end_current();

        let id = format!("INC-{incident}");
        let expected = self.manifest.incidents.get(self.next_index);
        let Some(index) = expected
            .filter(|entry| entry.id == id)
            .map(|_| self.next_index)
        else {
            let detail = match expected {
                Some(entry) => format!(
                    "an event of {id} where the events of {} were expected: lines were \
                     reordered, or {id} is not in the manifest",
                    entry.id
                ),
                None => format!("an event of {id}, which the manifest does not list"),
            };
            self.problems.push(file_problem(number, detail));
            self.stray = Some(incident);
            return;
        };
        self.stray = None;

        let Some(parsed) = IncidentId::new(incident) else {
            return;
        };
        self.next_index = index + 1;
        self.current = Some(Chain {
            index,
            id: parsed,
            next: 1,
            prev: ChainHash::genesis(parsed),
        });
    }

    /// Records a problem against the incident being read, or the file when there is none.
    fn fail_current(&mut self, number: u64, seq: Option<u64>, detail: String) {
        match &self.current {
            Some(chain) => {
                let index = chain.index;
                self.fail(index, number, seq, detail);
            }
            None => self.problems.push(file_problem(number, detail)),
        }
    }

    fn fail(&mut self, index: usize, line: u64, seq: Option<u64>, detail: String) {
        let check = &mut self.checks[index];
        if check.problem.is_none() {
            check.problem = Some(ExportProblem {
                incident: Some(check.id.clone()),
                seq,
                line,
                detail,
            });
        }
    }

    /// Ends the chain being read: its head must be the manifest's, and its seal must verify.
    fn end_current(&mut self) {
        let Some(chain) = self.current.take() else {
            return;
        };
        if self.checks[chain.index].problem.is_some() {
            return;
        }

        let entry = &self.manifest.incidents[chain.index];
        let last = chain.next - 1;
        match close_chain(&chain, last, entry, self.key()) {
            Ok(sealed) => self.checks[chain.index].sealed = sealed,
            Err(detail) => self.fail(chain.index, 0, Some(last), detail),
        }
    }

    /// The key seals must be made with, if any is fixed.
    fn key(&self) -> Option<Result<VerifyingKey, String>> {
        if let Some(trusted) = self.trusted {
            return Some(Ok(*trusted));
        }
        let text = self.manifest.installation_key.as_deref()?;
        Some(parse_public_key(text).map_err(|e| format!("the manifest's installation key: {e}")))
    }

    fn finish(mut self) -> (Vec<IncidentCheck>, Vec<ExportProblem>) {
        self.end_current();
        for index in self.next_index..self.manifest.incidents.len() {
            let entry = &self.manifest.incidents[index];
            if entry.events > 0 {
                let detail = format!(
                    "the manifest lists {} events, but the export holds none",
                    entry.events
                );
                self.fail(index, 0, None, detail);
            }
        }
        (self.checks, self.problems)
    }
}

/// Adds one event to `chain`, checking its place, its stored hashes and, for event 1, that it
/// opens the incident the manifest describes.
fn link(
    chain: &mut Chain,
    seq: u64,
    event: &EventLine<'_>,
    entry: &IncidentEntry,
) -> Result<(), String> {
    if seq != chain.next {
        return Err(format!(
            "found where event {} should be: events were removed, reordered or inserted",
            chain.next
        ));
    }
    if parse_hash(event.prev_hash) != Some(chain.prev) {
        return Err("`prev_hash` is not the hash of the event before it".to_owned());
    }

    let hash = ChainHash::link(&chain.prev, event.body);
    if parse_hash(event.hash) != Some(hash) {
        return Err(
            "the body does not hash to the recorded `hash`: the event was changed".to_owned(),
        );
    }
    if seq == 1 {
        check_opening(event.body, entry)?;
    }

    chain.prev = hash;
    chain.next += 1;
    Ok(())
}

/// The opening event as far as the manifest repeats it.
#[derive(Deserialize)]
struct OpeningBody {
    rehearsal: bool,
    event: Event,
}

fn check_opening(body: &[u8], entry: &IncidentEntry) -> Result<(), String> {
    let opening: OpeningBody =
        serde_json::from_slice(body).map_err(|e| format!("the body is not an event: {e}"))?;
    let Event::IncidentOpened {
        runbook_id,
        runbook_sha256,
        severity,
        ..
    } = opening.event
    else {
        return Err("event 1 is not `incident_opened`".to_owned());
    };

    let agrees = runbook_id == entry.runbook_id
        && runbook_sha256 == entry.runbook_sha256
        && severity == entry.severity
        && opening.rehearsal == entry.rehearsal;
    if !agrees {
        return Err("the manifest's runbook, severity or drill flag differs from event 1".into());
    }
    Ok(())
}

/// Checks the end of a chain against the manifest and its seal; `Ok(true)` when sealed.
fn close_chain(
    chain: &Chain,
    last: u64,
    entry: &IncidentEntry,
    key: Option<Result<VerifyingKey, String>>,
) -> Result<bool, String> {
    if last != entry.events {
        return Err(format!(
            "the export holds {last} events but the manifest lists {}: events were removed \
             from the end, or the manifest was changed",
            entry.events
        ));
    }
    let head = chain.prev.to_string();
    if entry
        .head
        .as_ref()
        .is_none_or(|h| h.seq != last || h.hash != head)
    {
        return Err("the chain ends in a head other than the manifest's".to_owned());
    }

    let Some(seal) = &entry.seal else {
        if entry.closed_at.is_some() {
            return Err("the incident is closed, but the manifest carries no seal".to_owned());
        }
        return Ok(false);
    };
    if seal.head_seq != last || seal.head_hash != head {
        return Err(format!(
            "the seal covers event {} and not the head of the chain",
            seal.head_seq
        ));
    }

    let public_key = parse_public_key(&seal.public_key).map_err(|e| format!("the seal: {e}"))?;
    if let Some(key) = key {
        let key = key?;
        if key != public_key {
            return Err(format!(
                "the seal was made with `{}`, not the trusted key `{}`",
                seal.public_key,
                public_key_text(&key)
            ));
        }
    }

    let mut bytes = [0; 64];
    hex::decode_to_slice(&seal.signature, &mut bytes)
        .map_err(|_| "the seal's signature is not 64 bytes in hex".to_owned())?;
    let message = seal_message(chain.id, last, &chain.prev);
    public_key
        .verify_strict(message.as_bytes(), &Signature::from_bytes(&bytes))
        .map_err(|_| "the seal's signature does not verify over the chain's head".to_owned())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_line_splits_into_its_hashes_and_the_exact_body() {
        let line = format!(
            r#"{{"prev_hash":"{}","hash":"{}","body":{{"a":1}}}}"#,
            "a".repeat(64),
            "b".repeat(64)
        );
        let event = split_line(line.as_bytes()).unwrap();
        assert_eq!(event.prev_hash, "a".repeat(64).as_bytes());
        assert_eq!(event.hash, "b".repeat(64).as_bytes());
        assert_eq!(event.body, br#"{"a":1}"#);
        assert!(split_line(b"{\"prev_hash\":\"short\"}").is_none());
    }

    #[test]
    fn the_incident_and_seq_are_read_from_the_start_of_a_canonical_body() {
        assert_eq!(
            body_place(br#"{"incident":"INC-42","seq":3,"at":"x"}"#),
            Some((42, 3))
        );
        assert_eq!(body_place(br#"{"seq":3,"incident":"INC-42"}"#), None);
        assert_eq!(body_place(br#"{"incident":"INC-","seq":3,"#), None);
    }
}
