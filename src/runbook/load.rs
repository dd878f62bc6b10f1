//! Reading a runbook file: YAML through serde-saphyr, then the model, then the checks.
//!
//! Whatever the bytes, loading returns a model or a [`Report`]; it never panics. A file that
//! is not YAML, or repeats a key, stops at the first such problem, since past it the structure
//! is unknown. Everything else (unknown fields, values of the wrong type, misspelt words,
//! graph and template problems) is reported together.

use super::build::build;
use super::check::{check, check_edges};
use super::context::Context;
use super::diagnostic::{Diagnostic, Report};
use super::model::{Pos, Runbook};
use super::raw::{self, RawRunbook};
use serde_saphyr::{Budget, Options};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The largest runbook file custos reads, far above any real one.
const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// A runbook with the text it was read from and that text's SHA-256.
#[derive(Debug)]
pub struct Loaded {
    pub runbook: Runbook,
    pub source: String,
    pub sha256: String,
}

/// Reads, builds and checks the runbook at `path`.
pub fn load(path: &Path, context: &Context) -> Result<Loaded, Report> {
    let unreadable =
        |message: String| Report::new(path, String::new(), vec![Diagnostic::new(None, message)]);
    let size = std::fs::metadata(path)
        .map_err(|error| unreadable(format!("cannot read the file: {error}")))?
        .len();
    if size > MAX_BYTES {
        return Err(unreadable(format!(
            "the file is {size} bytes; a runbook may be at most {MAX_BYTES}"
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|error| unreadable(format!("cannot read the file: {error}")))?;
    let source = String::from_utf8(bytes).map_err(|error| {
        unreadable(format!(
            "the file is not UTF-8 text: {}",
            error.utf8_error()
        ))
    })?;

    let stem = path.file_stem().and_then(|stem| stem.to_str());
    match parse(&source, stem, context) {
        Ok(runbook) => {
            let sha256 = hex::encode(Sha256::digest(source.as_bytes()));
            Ok(Loaded {
                runbook,
                source,
                sha256,
            })
        }
        Err(diagnostics) => Err(Report::new(path, source, diagnostics)),
    }
}

/// Parses, builds and checks runbook text. `file_stem` is the file name the id must match.
pub fn parse(
    source: &str,
    file_stem: Option<&str>,
    context: &Context,
) -> Result<Runbook, Vec<Diagnostic>> {
    raw::start_reading();
    let raw: RawRunbook = serde_saphyr::from_str_with_options(source, options(source))
        .map_err(|error| vec![yaml_problem(&error)])?;
    if let Some(found) = &raw.found {
        let message = format!("a runbook must be a mapping, not {}", found.describe());
        let hint = "a runbook is a YAML mapping: `id: ...`, `title: ...`, `nodes: ...`";
        return Err(vec![Diagnostic::at(FIRST, message).with_hint(hint)]);
    }

    let built = build(&raw, file_stem, source);
    drop(raw);
    let mut problems = built.problems;
    problems.extend(check(&built.runbook, &built.unknown_kinds, context, source));
    if problems.is_empty() {
        Ok(built.runbook)
    } else {
        Err(problems)
    }
}

/// Reads back the runbook an incident pinned when it was opened.
///
/// That text passed the validator of the custos that opened the incident. A later custos may
/// check more, and an open incident must still resume, be approved and be exported after an
/// upgrade, so only what the model cannot be built without stops it here: the graph checks of
/// [`parse`] are not run again, but for edges that land.
pub fn parse_pinned(source: &str) -> Result<Runbook, Vec<Diagnostic>> {
    raw::start_reading();
    let raw: RawRunbook = serde_saphyr::from_str_with_options(source, options(source))
        .map_err(|error| vec![yaml_problem(&error)])?;
    if let Some(found) = &raw.found {
        let message = format!("a runbook must be a mapping, not {}", found.describe());
        return Err(vec![Diagnostic::at(FIRST, message)]);
    }

    let built = build(&raw, None, source);
    let mut problems = built.problems;
    problems.extend(check_edges(&built.runbook));
    if problems.is_empty() {
        Ok(built.runbook)
    } else {
        Err(problems)
    }
}

/// Line 1, column 1.
const FIRST: Pos = Pos {
    line: 1,
    column: 1,
    width: 1,
};

/// Strict YAML: duplicate keys are errors, only `true` and `false` are booleans, and the
/// budget grows with the file so that large generated runbooks still load.
fn options(source: &str) -> Options {
    let scale = source.len().max(1_000_000);
    let mut budget = Budget::default();
    budget.max_events = scale;
    budget.max_nodes = scale;
    serde_saphyr::options! {
        budget: Some(budget),
        strict_booleans: true,
        with_snippet: false,
        emit_comments: false,
    }
}

/// What stopped YAML itself, naming the node it happened in when there is one.
fn yaml_problem(error: &serde_saphyr::Error) -> Diagnostic {
    let mut diagnostic = Diagnostic::from_yaml(error);
    if let Some(node) = raw::node_being_read() {
        diagnostic.message = format!("node `{node}`: {}", diagnostic.message);
    }
    diagnostic
}
