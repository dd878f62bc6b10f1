//! Checking a JSON Lines export alone, without the store: the manifest's signature, every
//! chain recomputed from the bodies, every seal checked, and the manifest held to the lines.
//!
//! The file is read once. Lines are found with `memchr` in the reader's buffer and checked in
//! place, so one event is in memory at a time and nothing is copied unless a line straddles two
//! reads. On the hot path an event costs its SHA-256 and two 64-byte comparisons: hashes are
//! compared as the exact lowercase hex text the export must hold, never decoded, so a hash
//! spelled any other way is a changed byte like any other. Each incident stops being checked
//! at its first problem, which is reported with the incident, the event and the line, so one
//! changed byte gives one precise report instead of a cascade.

use std::fmt;
use std::io::BufRead;
use std::path::Path;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;

use super::agreement::{Ending, check_ending, check_entry, check_manifest, check_opening};
use super::signature::{SignatureLine, lowercase_hex};
use super::{ExportError, FORMAT, IncidentEntry, Manifest};
use crate::store::signing::public_key_text;
use crate::store::{ChainHash, IncidentId, seal_message};

/// The outcome of checking an export.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportCheck {
    /// The manifest, when line 1 is one and its signature verified.
    pub manifest: Option<Manifest>,
    /// The key whose signature over the manifest verified (`ed25519:<hex>`).
    pub signer: Option<String>,
    /// Whether `signer` is the trusted key the caller gave; when not, the export vouches for
    /// itself: anyone can make one that verifies with a key of their own.
    pub trusted: bool,
    pub incidents: Vec<IncidentCheck>,
    /// Problems of the file as a whole: no manifest, a bad signature, lines that belong to no
    /// incident.
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

    /// The check of a file refused as a whole, before any event was read.
    fn refused(line: u64, detail: String, signer: Option<String>, trusted: bool) -> Self {
        Self {
            manifest: None,
            signer,
            trusted,
            incidents: Vec::new(),
            problems: vec![file_problem(line, detail)],
        }
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
#[serde(deny_unknown_fields)]
struct ManifestLine {
    manifest: Manifest,
}

/// The number of the first event line: line 1 is the manifest, line 2 its signature.
const FIRST_EVENT_LINE: u64 = 3;

/// Checks the JSON Lines export read from `input`; `path` names it in errors. The manifest
/// must be signed by `trusted` when it is given; otherwise whoever signed it is reported in
/// [`ExportCheck::signer`], and the result says only that the export agrees with itself.
pub fn verify_jsonl(
    input: &mut impl BufRead,
    path: &Path,
    trusted: Option<&VerifyingKey>,
) -> Result<ExportCheck, ExportError> {
    let read_error = |source| ExportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut first = Vec::new();
    input.read_until(b'\n', &mut first).map_err(read_error)?;
    let mut second = Vec::new();
    input.read_until(b'\n', &mut second).map_err(read_error)?;

    let (manifest, signer) = match open_manifest(trim_newline(&first), trim_newline(&second)) {
        Ok(opened) => opened,
        Err((line, detail, signer)) => {
            return Ok(ExportCheck::refused(line, detail, signer, false));
        }
    };
    let signer_text = public_key_text(&signer);
    if let Some(trusted) = trusted.filter(|key| **key != signer) {
        let detail = format!(
            "the manifest was signed with `{signer_text}`, not the trusted key `{}`",
            public_key_text(trusted)
        );
        return Ok(ExportCheck::refused(2, detail, Some(signer_text), false));
    }
    let trusted = trusted.is_some();
    let facts = match check_manifest(&manifest, &signer_text) {
        Ok(facts) => facts,
        Err(detail) => return Ok(ExportCheck::refused(1, detail, Some(signer_text), trusted)),
    };

    let mut checker = Checker::new(&manifest, signer);
    for (index, entry) in manifest.incidents.iter().enumerate() {
        if let Err(detail) = check_entry(entry, &facts.filter) {
            checker.fail(index, 1, None, detail);
        }
    }
    let mut number = FIRST_EVENT_LINE - 1;
    for_each_line(input, |line| {
        number += 1;
        checker.line(number, line);
    })
    .map_err(read_error)?;
    let (incidents, problems) = checker.finish();

    Ok(ExportCheck {
        manifest: Some(manifest),
        signer: Some(signer_text),
        trusted,
        incidents,
        problems,
    })
}

/// A problem that stops the check before the events: its line, what is wrong, and the key that
/// signed the manifest when that much is known.
type Refusal = (u64, String, Option<String>);

/// Reads the manifest line and checks its signature line, in the order that gives the most
/// useful first report: not a manifest at all, another format, a bad signature, a malformed
/// manifest.
fn open_manifest(first: &[u8], second: &[u8]) -> Result<(Manifest, VerifyingKey), Refusal> {
    let loose: serde_json::Value = serde_json::from_slice(first).map_err(|e| {
        let detail = format!("line 1 is not the manifest of a custos export: {e}");
        (1, detail, None)
    })?;
    let Some(format) = loose.get("manifest").map(|m| m.get("format")) else {
        let detail = "line 1 is not the manifest of a custos export: it has no `manifest`";
        return Err((1, detail.to_owned(), None));
    };
    if format.and_then(serde_json::Value::as_str) != Some(FORMAT) {
        let named = format.map_or("nothing".to_owned(), ToString::to_string);
        let detail = format!("the manifest names the format {named}; this custos reads `{FORMAT}`");
        return Err((1, detail, None));
    }

    let line: SignatureLine = serde_json::from_slice(second).map_err(|e| {
        let detail = format!("line 2 is not the signature of the manifest: {e}");
        (2, detail, None)
    })?;
    let signer = line
        .manifest_signature
        .verify(first)
        .map_err(|detail| (2, detail, None))?;

    let parsed: ManifestLine = serde_json::from_slice(first).map_err(|e| {
        let detail = format!("the manifest does not have the form custos writes: {e}");
        (1, detail, Some(public_key_text(&signer)))
    })?;
    Ok((parsed.manifest, signer))
}

fn trim_newline(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// Calls `f` with every line left in `input`, without its newline. A line is passed straight
/// from the reader's buffer; only one that straddles two reads is copied first.
fn for_each_line(input: &mut impl BufRead, mut f: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut carry = Vec::new();
    loop {
        let buffer = input.fill_buf()?;
        let length = buffer.len();
        if length == 0 {
            if !carry.is_empty() {
                f(&carry);
            }
            return Ok(());
        }

        let mut start = 0;
        while let Some(found) = memchr::memchr(b'\n', &buffer[start..]) {
            let end = start + found;
            if carry.is_empty() {
                f(&buffer[start..end]);
            } else {
                carry.extend_from_slice(&buffer[start..end]);
                f(&carry);
                carry.clear();
            }
            start = end + 1;
        }
        carry.extend_from_slice(&buffer[start..]);
        input.consume(length);
    }
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

/// The decimal number at the start of `bytes`, written as serde writes one (no sign, no leading
/// zero), and what follows it.
fn leading_number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && bytes[0] == b'0') {
        return None;
    }
    let mut number: u64 = 0;
    for digit in &bytes[..digits] {
        number = number
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    Some((number, &bytes[digits..]))
}

/// A hash as the 64 lowercase hex digits an export holds.
fn hex_text(hash: &ChainHash) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0; 64];
    for (pair, byte) in text.chunks_exact_mut(2).zip(hash.0) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    text
}

/// The chain of the incident being read.
struct Chain {
    /// Index of the incident in the manifest.
    index: usize,
    id: IncidentId,
    /// The seq the next line must carry.
    next: u64,
    prev: ChainHash,
    /// `prev` as the text the next line's `prev_hash` must be.
    prev_text: [u8; 64],
    /// The event at the manifest's head, once read.
    ending: Option<Ending>,
}

/// The state of a check as lines come in.
struct Checker<'a> {
    manifest: &'a Manifest,
    /// The key that signed the manifest; every seal must be made with it.
    key: VerifyingKey,
    checks: Vec<IncidentCheck>,
    problems: Vec<ExportProblem>,
    current: Option<Chain>,
    /// The manifest index the next new incident must have.
    next_index: usize,
    /// The incident of the last line out of place, so a run of them is reported once.
    stray: Option<u64>,
}

impl<'a> Checker<'a> {
    fn new(manifest: &'a Manifest, key: VerifyingKey) -> Self {
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
            key,
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

        let same = |chain: &Chain| chain.id.number() == incident;
        if self.current.is_none() && self.stray == Some(incident) {
            return;
        }
        if !self.current.as_ref().is_some_and(same) {
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
        let genesis = ChainHash::genesis(parsed);
        self.current = Some(Chain {
            index,
            id: parsed,
            next: 1,
            prev: genesis,
            prev_text: hex_text(&genesis),
            ending: None,
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
        match close_chain(&chain, last, entry, &self.key) {
            Ok(sealed) => self.checks[chain.index].sealed = sealed,
            Err(detail) => self.fail(chain.index, 0, Some(last), detail),
        }
    }

    fn finish(mut self) -> (Vec<IncidentCheck>, Vec<ExportProblem>) {
        self.end_current();
        for index in self.next_index..self.manifest.incidents.len() {
            let entry = &self.manifest.incidents[index];
            let detail = format!(
                "the manifest lists {} events, but the export holds none",
                entry.events
            );
            self.fail(index, 0, None, detail);
        }
        (self.checks, self.problems)
    }
}

/// Adds one event to `chain`, checking its place and its stored hashes, and reading what the
/// manifest repeats from event 1 and from the event the manifest names as the head.
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
    if event.prev_hash != chain.prev_text {
        return Err(mismatch(
            "prev_hash",
            event.prev_hash,
            &chain.prev_text,
            "is not the hash of the event before it",
        ));
    }

    let hash = ChainHash::link(&chain.prev, event.body);
    let text = hex_text(&hash);
    if event.hash != text {
        return Err(mismatch(
            "hash",
            event.hash,
            &text,
            "is not what the body hashes to: the event was changed",
        ));
    }
    if seq == 1 {
        check_opening(event.body, entry)?;
    }
    if seq == entry.events {
        chain.ending = Some(Ending::read(seq, event.body)?);
    }

    chain.prev = hash;
    chain.prev_text = text;
    chain.next += 1;
    Ok(())
}

/// Why a stored hash is not the expected text; a hash that differs only in case is named as
/// such, since it is the one change that decoding the hex would have let through.
fn mismatch(field: &str, stored: &[u8], expected: &[u8; 64], otherwise: &str) -> String {
    if stored.eq_ignore_ascii_case(expected) {
        return format!("`{field}` is written in upper case; an export holds lowercase hex only");
    }
    format!("`{field}` {otherwise}")
}

/// Checks the end of a chain against the manifest and its seal; `Ok(true)` when sealed.
fn close_chain(
    chain: &Chain,
    last: u64,
    entry: &IncidentEntry,
    key: &VerifyingKey,
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
    let Some(ending) = &chain.ending else {
        return Err("the manifest's head event was not read".to_owned());
    };
    check_ending(ending, entry)?;

    let Some(seal) = &entry.seal else {
        return Ok(false);
    };
    if seal.head_seq != last || seal.head_hash != head {
        return Err(format!(
            "the seal covers event {} and not the head of the chain",
            seal.head_seq
        ));
    }
    let installation_key = public_key_text(key);
    if seal.public_key != installation_key {
        return Err(format!(
            "the seal was made with `{}`, not the installation key `{installation_key}` that \
             signed the manifest",
            seal.public_key
        ));
    }

    let bytes = lowercase_hex::<64>(&seal.signature)
        .ok_or_else(|| "the seal's signature is not 64 bytes in lowercase hex".to_owned())?;
    let message = seal_message(chain.id, last, &chain.prev);
    key.verify_strict(message.as_bytes(), &Signature::from_bytes(&bytes))
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
        assert_eq!(body_place(br#"{"incident":"INC-042","seq":3,"#), None);
        assert_eq!(
            body_place(br#"{"incident":"INC-99999999999999999999","seq":3,"#),
            None
        );
    }

    #[test]
    fn a_hash_is_written_as_64_lowercase_hex_digits() {
        let hash = ChainHash::of(b"custos");
        assert_eq!(hex_text(&hash).as_slice(), hash.to_string().as_bytes());
    }

    #[test]
    fn every_line_is_found_whether_or_not_it_straddles_two_reads() {
        let text = b"first\nsecond line\n\nlast without newline";
        let mut input = std::io::BufReader::with_capacity(4, &text[..]);
        let mut lines = Vec::new();
        for_each_line(&mut input, |line| lines.push(line.to_vec())).unwrap();
        assert_eq!(
            lines,
            [&b"first"[..], b"second line", b"", b"last without newline"]
        );
    }
}
