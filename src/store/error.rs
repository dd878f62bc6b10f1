//! Everything that can go wrong while reading or writing the incident log.
//!
//! Tampering is not an error here: [`crate::store::Store::verify`] reports it as data. An error
//! means the log could not be opened, read or written at all, or a request made no sense.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// A failure to open, read or write the incident log, or to load the installation's signing key.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory that should hold the log could not be created.
    #[error("cannot create the directory `{}` for the incident log: {source}", path.display())]
    CreateDirectory {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The file exists but is not a custos incident log.
    #[error(
        "`{}` is not a custos incident log ({reason}); point `CUSTOS_STORE` at another file \
         or move this one away",
        path.display()
    )]
    NotACustosStore { path: PathBuf, reason: String },

    /// The log was written by a newer custos with a schema this one does not know.
    #[error(
        "the incident log `{}` has schema version {found}, but this custos reads up to version \
         {supported}; upgrade custos before opening it",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// SQLite would not keep the log in write-ahead-log mode, which two terminals need.
    #[error(
        "the incident log `{}` cannot use write-ahead logging (SQLite kept journal mode \
         `{mode}`); keep the log on a local file system",
        path.display()
    )]
    JournalMode { path: PathBuf, mode: String },

    /// Another process held the write lock for longer than the busy timeout.
    #[error(
        "another custos process holds the incident log `{}` and did not release it within {} s; \
         wait for it to finish and try again",
        path.display(),
        crate::store::BUSY_TIMEOUT.as_secs()
    )]
    Busy { path: PathBuf },

    /// The operating-system user running custos may read the log but not write it.
    #[error(
        "the store `{}` is not writable by user {user}: {detail}; custodians who share a store \
         need write access to the file and its directory (see docs/dual-control.md)",
        path.display()
    )]
    NotWritable {
        path: PathBuf,
        user: String,
        detail: String,
    },

    /// No incident has this id.
    #[error("there is no incident `{id}` in the incident log `{}`", path.display())]
    UnknownIncident { path: PathBuf, id: String },

    /// The incident is closed and sealed; it takes no more events.
    #[error("incident `{id}` is closed and sealed; it takes no more events")]
    IncidentClosed { id: String },

    /// `append` was given an event that only `open_incident` or `close` may write.
    #[error("`{kind}` events cannot be appended to incident `{id}`; only `{by}` writes them")]
    ReservedEvent {
        id: String,
        kind: &'static str,
        by: &'static str,
    },

    /// `close` was given an event that is not `incident_closed`.
    #[error("incident `{id}` can only be closed with an `incident_closed` event, not `{kind}`")]
    NotAClosingEvent { id: String, kind: &'static str },

    /// A text is not an incident id.
    #[error("`{text}` is not an incident id; write it as `INC-42` or `42`")]
    InvalidIncidentId { text: String },

    /// A stored record cannot be read back; the log was damaged or edited by hand.
    #[error(
        "the incident log `{}` holds a damaged record in incident `{id}` {part}: {detail}; \
         run `custos verify {id}` for the full report",
        path.display()
    )]
    DamagedRecord {
        path: PathBuf,
        id: String,
        part: RecordPart,
        detail: String,
    },

    /// A text is not a notification id.
    #[error("`{text}` is not a notification id; write it as `INC-42.N3`")]
    InvalidNotificationId { text: String },

    /// No notification has this id.
    #[error("there is no notification `{id}` in the outbox of `{}`", path.display())]
    UnknownNotification { path: PathBuf, id: String },

    /// An event could not be encoded as JSON.
    #[error("cannot encode a `{kind}` event for incident `{id}`: {source}")]
    Encode {
        id: String,
        kind: &'static str,
        source: serde_json::Error,
    },

    /// SQLite reported an error that has no more specific variant.
    #[error("the incident log `{}`: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },

    /// The signing key file could not be read, created or written.
    #[error("the signing key `{}`: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The signing key file can be read by other users.
    #[error(
        "the signing key `{}` can be read by other users (mode {mode:03o}); run `chmod 600 {}` \
         and find out who else may have copied it",
        path.display(),
        path.display()
    )]
    KeyPermissions { path: PathBuf, mode: u32 },

    /// The signing key file does not hold a key in the expected form.
    #[error("the signing key `{}` is malformed: {reason}", path.display())]
    KeyMalformed { path: PathBuf, reason: String },

    /// The operating system could not provide random bytes for a new key.
    #[error("cannot create the signing key `{}`: no randomness from the system: {source}",
        path.display())]
    Randomness {
        path: PathBuf,
        source: getrandom::Error,
    },

    /// A text is not a public key in the form `ed25519:<64 hex digits>`.
    #[error(
        "`{text}` is not a custos public key ({reason}); expected `ed25519:` and 64 hex digits"
    )]
    InvalidPublicKey { text: String, reason: String },
}

/// Which part of an incident's record a damaged value sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordPart {
    /// The row that opened the incident: its runbook, severity, opening time.
    Header,
    /// One event of the chain.
    Event(u64),
    /// The signed seal that closed it.
    Seal,
}

impl std::fmt::Display for RecordPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Header => f.write_str("in its opening record"),
            Self::Event(seq) => write!(f, "at event {seq}"),
            Self::Seal => f.write_str("in its seal"),
        }
    }
}

impl StoreError {
    /// Classifies a SQLite error on the log at `path`: a lock timeout becomes [`Self::Busy`], a
    /// file that is not a database becomes [`Self::NotACustosStore`].
    pub(crate) fn sqlite(path: &Path, source: rusqlite::Error) -> Self {
        let path = path.to_path_buf();
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Busy { path },
            Some(ErrorCode::NotADatabase) => Self::NotACustosStore {
                path,
                reason: "it is not an SQLite database".to_owned(),
            },
            // SQLite opens a file it may not write read-only, and fails at the first write.
            Some(ErrorCode::ReadOnly) => Self::NotWritable {
                detail: unwritable_detail(&path),
                user: os_user(),
                path,
            },
            _ => Self::Sqlite { path, source },
        }
    }
}

/// Why `path` cannot be written, in words: the owner and mode of the file and its directory.
fn unwritable_detail(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;

    let describe = |what: &str, at: &Path| match std::fs::metadata(at) {
        Ok(meta) => format!(
            "{what} is owned by uid {} gid {} with mode {:03o}",
            meta.uid(),
            meta.gid(),
            meta.mode() & 0o7777
        ),
        Err(error) => format!("{what} cannot be read ({error})"),
    };
    let mut detail = describe("the file", path);
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        detail.push_str(", ");
        detail.push_str(&describe("its directory", dir));
    }
    detail
}

/// The name of the operating-system user this process runs as, from its real uid (not from
/// `USER`, which `su` and `setpriv` may leave unchanged): the name in `/etc/passwd`, else
/// `uid N`.
pub fn os_user() -> String {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
            line.split_whitespace().next().map(str::to_owned)
        });
    let Some(uid) = uid else {
        return std::env::var("USER").unwrap_or_else(|_| "unknown user".to_owned());
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    });
    name.unwrap_or_else(|| format!("uid {uid}"))
}

/// Attaches the log's path to a SQLite result.
pub(crate) trait InStore<T> {
    /// Converts a SQLite error with [`StoreError::sqlite`].
    fn in_store(self, path: &Path) -> Result<T, StoreError>;
}

impl<T> InStore<T> for rusqlite::Result<T> {
    fn in_store(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::sqlite(path, source))
    }
}
