//! Reading a policy file: strict YAML through serde-saphyr, every failure as a [`Report`].
//!
//! Policy files are small and rarely edited, so unlike runbooks they stop at the first YAML or
//! shape error; the checks that follow (names, durations, addresses) report everything at once.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

use crate::runbook::{Diagnostic, Pos, Report};

/// The largest policy file custos reads.
const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// A policy file read and parsed, with its text kept for pointing at problems.
pub(crate) struct Parsed<T> {
    pub value: T,
    pub source: String,
}

/// Reads `path` as `T`; `Ok(None)` when the file does not exist.
pub(crate) fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<Parsed<T>>, Report> {
    let source = match text(path) {
        Ok(Some(source)) => source,
        Ok(None) => return Ok(None),
        Err(message) => {
            return Err(Report::new(
                path,
                String::new(),
                vec![Diagnostic::new(None, message)],
            ));
        }
    };

    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<T>(&source, options) {
        Ok(value) => Ok(Some(Parsed { value, source })),
        Err(error) => Err(Report::new(
            path,
            source,
            vec![Diagnostic::from_yaml(&error)],
        )),
    }
}

fn text(path: &Path) -> Result<Option<String>, String> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read the file: {error}")),
    };
    if metadata.len() > MAX_BYTES {
        return Err(format!(
            "the file is {} bytes; a policy file may be at most {MAX_BYTES}",
            metadata.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|error| format!("cannot read the file: {error}"))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|error| format!("the file is not UTF-8 text: {}", error.utf8_error()))
}

/// The position of a spanned value, for pointing at it.
pub(crate) fn pos<T>(spanned: &Spanned<T>) -> Pos {
    let at = crate::runbook::position(spanned);
    Pos {
        width: at.width.max(1),
        ..at
    }
}
