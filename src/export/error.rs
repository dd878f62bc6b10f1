//! What can stop an export from being written or read at all. A tampered export is not an
//! error: [`super::verify_jsonl`] reports it as data.

use std::path::PathBuf;

use crate::store::StoreError;

/// A failure to read the log, or to write or read an export file.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The incident log could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// Writing the export failed.
    #[error("cannot write the export to `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    /// Reading an export failed.
    #[error("cannot read the export `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A manifest could not be encoded as JSON.
    #[error("cannot encode the manifest of the export: {0}")]
    Encode(#[from] serde_json::Error),

    /// The key given to sign an export is not the installation key its manifest names.
    #[error(
        "the manifest names the installation key `{named}`, but the export is being signed \
         with `{signing}`"
    )]
    KeyMismatch { named: String, signing: String },

    /// `--since` or `--until` is neither an RFC 3339 time nor a date.
    #[error(
        "`{text}` is not a time; write an RFC 3339 time (`2026-12-03T19:00:00Z`) or a date \
             (`2026-12-03`)"
    )]
    InvalidTime { text: String },
}

/// Attaches the path of the export to an I/O error while writing.
pub(crate) fn write_error(path: &std::path::Path) -> impl Fn(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Write {
        path: path.to_path_buf(),
        source,
    }
}
