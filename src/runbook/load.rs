//! Reading a runbook file: YAML through serde-saphyr, then the model, then the checks.
//!
//! Whatever the bytes, loading returns a model or a [`Report`]; it never panics. A file that
//! is not YAML, or repeats a key, stops at the first such problem, since past it the structure
//! is unknown. Unknown fields are all listed at once, from an outline of the file's keys.

use super::build::build;
use super::check::check;
use super::context::Context;
use super::diagnostic::{Diagnostic, Report, suggestion};
use super::model::Runbook;
use super::raw::{
    INPUT_FIELDS, NODE_FIELDS, REQUIRE_FIELDS, RUNBOOK_FIELDS, RawRunbook, Word, position,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, Options, Spanned};
use sha2::{Digest, Sha256};
use std::fmt;
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
    let raw: RawRunbook = match serde_saphyr::from_str_with_options(source, options(source)) {
        Ok(raw) => raw,
        Err(error) => {
            let unknown = unknown_fields(source);
            return Err(if unknown.is_empty() {
                vec![yaml_problem(&error)]
            } else {
                unknown
            });
        }
    };

    let runbook = build(&raw, file_stem)?;
    let problems = check(&runbook, context);
    if problems.is_empty() {
        Ok(runbook)
    } else {
        Err(problems)
    }
}

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

fn yaml_problem(error: &serde_saphyr::Error) -> Diagnostic {
    let diagnostic = Diagnostic::from_yaml(error);
    let first_line = diagnostic.at.is_some_and(|at| at.line == 1);
    if first_line && diagnostic.message.starts_with("expected mapping") {
        let hint = "a runbook is a YAML mapping: `id: ...`, `title: ...`, `nodes: ...`";
        return diagnostic.with_hint(hint);
    }
    diagnostic
}

/// Every key of the file that the format does not know, from a loose outline of the file.
fn unknown_fields(source: &str) -> Vec<Diagnostic> {
    let Ok(outline) = serde_saphyr::from_str_with_options::<Outline>(source, options(source))
    else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let Outline::Map(top) = &outline else {
        return problems;
    };

    unknown(top, RUNBOOK_FIELDS, "the runbook", &mut problems);
    for (key, value) in top {
        match (key.value.as_str(), value) {
            ("inputs", Outline::Map(inputs)) => {
                for (name, input) in inputs {
                    if let Outline::Map(fields) = input {
                        unknown(
                            fields,
                            INPUT_FIELDS,
                            &format!("input `{}`", name.value),
                            &mut problems,
                        );
                    }
                }
            }
            ("nodes", Outline::Map(nodes)) => {
                for (id, node) in nodes {
                    node_fields(&id.value, node, &mut problems);
                }
            }
            _ => {}
        }
    }
    problems
}

fn node_fields(id: &str, node: &Outline, problems: &mut Vec<Diagnostic>) {
    let Outline::Map(fields) = node else { return };
    unknown(fields, NODE_FIELDS, &format!("node `{id}`"), problems);
    for (key, value) in fields {
        match (key.value.as_str(), value) {
            ("require", Outline::Map(require)) => {
                unknown(
                    require,
                    REQUIRE_FIELDS,
                    &format!("`require` of node `{id}`"),
                    problems,
                );
            }
            ("fields", Outline::Map(step_fields)) => {
                for (name, field) in step_fields {
                    if let Outline::Map(inner) = field {
                        let owner = format!("field `{}` of node `{id}`", name.value);
                        unknown(inner, INPUT_FIELDS, &owner, problems);
                    }
                }
            }
            _ => {}
        }
    }
}

fn unknown(
    map: &[(Spanned<String>, Outline)],
    known: &[&str],
    owner: &str,
    problems: &mut Vec<Diagnostic>,
) {
    for (key, _) in map {
        if known.contains(&key.value.as_str()) {
            continue;
        }
        let hint = suggestion(&key.value, known.iter().copied());
        problems.push(
            Diagnostic::at(
                position(key),
                format!("unknown field `{}` in {owner}{hint}", key.value),
            )
            .with_hint(format!("the fields here are {}", known.join(", "))),
        );
    }
}

/// Any YAML value, keeping only the keys of mappings and their positions.
enum Outline {
    Map(Vec<(Spanned<String>, Outline)>),
    Other,
}

impl<'de> Deserialize<'de> for Outline {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OutlineVisitor)
    }
}

struct OutlineVisitor;

impl<'de> Visitor<'de> for OutlineVisitor {
    type Value = Outline;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outline, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Word>>()? {
            let key = Spanned::new(key.value.0, key.referenced, key.defined);
            entries.push((key, map.next_value()?));
        }
        Ok(Outline::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Outline, A::Error> {
        while seq.next_element::<Outline>()?.is_some() {}
        Ok(Outline::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Outline, E> {
        Ok(Outline::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Outline, E> {
        Ok(Outline::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Outline, E> {
        Ok(Outline::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Outline, E> {
        Ok(Outline::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Outline, E> {
        Ok(Outline::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Outline, E> {
        Ok(Outline::Other)
    }

    fn visit_none<E: de::Error>(self) -> Result<Outline, E> {
        Ok(Outline::Other)
    }
}
