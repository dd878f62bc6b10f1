//! The installation's Ed25519 signing key, which seals closed incidents.
//!
//! The key is made on first use from the operating system's random source and kept in a file
//! that only its owner can read: `signing.key` beside the log, or `$CUSTOS_SIGNING_KEY`. The file
//! holds one line, `ed25519-secret:` and 64 hex digits. The secret lives in memory only inside
//! [`SigningKey`], which wipes itself on drop, and in wiped buffers while the file is read or
//! written; it is never printed. What custos publishes is the public key, as
//! [`public_key_text`] writes it. Key rotation and keys held in an HSM are not handled here.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

pub use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use super::StoreError;

/// The prefix of a public key's text form.
const PUBLIC_PREFIX: &str = "ed25519:";

/// The prefix of the line in a key file.
const SECRET_PREFIX: &str = "ed25519-secret:";

/// The key file for the log at `store`: `$CUSTOS_SIGNING_KEY`, else `signing.key` beside it.
pub fn default_key_path(store: &Path) -> PathBuf {
    key_path_from(std::env::var_os("CUSTOS_SIGNING_KEY"), store)
}

/// [`default_key_path`] with the environment given, so it can be tested without changing it.
fn key_path_from(variable: Option<OsString>, store: &Path) -> PathBuf {
    match variable.filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => store.with_file_name("signing.key"),
    }
}

/// Loads the key at `path`, creating it with mode 0600 if the file does not exist.
pub fn load_or_create(path: &Path) -> Result<SigningKey, StoreError> {
    match load(path) {
        Err(StoreError::KeyFile { source, .. }) if source.kind() == ErrorKind::NotFound => {
            create(path)
        }
        other => other,
    }
}

/// Loads the key at `path`, refusing a file that group or others can read or write.
pub fn load(path: &Path) -> Result<SigningKey, StoreError> {
    let key_file = |source| StoreError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let malformed = |reason: &str| StoreError::KeyMalformed {
        path: path.to_path_buf(),
        reason: reason.into(),
    };

    let mut file = File::open(path).map_err(key_file)?;
    check_private(&file, path)?;

    let mut text = Zeroizing::new(Vec::with_capacity(96));
    file.read_to_end(&mut text).map_err(key_file)?;

    let line = text.strip_suffix(b"\n").unwrap_or(&text);
    let Some(digits) = line.strip_prefix(SECRET_PREFIX.as_bytes()) else {
        return Err(malformed("it does not start with `ed25519-secret:`"));
    };
    let mut secret = Zeroizing::new([0; 32]);
    hex::decode_to_slice(digits, secret.as_mut_slice())
        .map_err(|_| malformed("the secret is not 64 hex digits"))?;

    Ok(SigningKey::from_bytes(&secret))
}

/// Makes a new key and writes it to `path` without ever replacing an existing file.
///
/// The key is written to a temporary file created with mode 0600 and then hard-linked to
/// `path`, so a reader never sees half a key and two processes creating the key at once end up
/// sharing the first one.
fn create(path: &Path) -> Result<SigningKey, StoreError> {
    let key_file = |source| StoreError::KeyFile {
        path: path.to_path_buf(),
        source,
    };

    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(key_file)?;
    }

    let mut secret = Zeroizing::new([0; 32]);
    getrandom::fill(secret.as_mut_slice()).map_err(|source| StoreError::Randomness {
        path: path.to_path_buf(),
        source,
    })?;
    let key = SigningKey::from_bytes(&secret);

    let mut digits = Zeroizing::new([0; 64]);
    hex::encode_to_slice(*secret, digits.as_mut_slice()).map_err(|_| StoreError::KeyMalformed {
        path: path.to_path_buf(),
        reason: "cannot encode".into(),
    })?;
    let mut line = Zeroizing::new(Vec::with_capacity(96));
    line.extend_from_slice(SECRET_PREFIX.as_bytes());
    line.extend_from_slice(digits.as_slice());
    line.push(b'\n');
    let nonce = getrandom::u64().map_err(|source| StoreError::Randomness {
        path: path.to_path_buf(),
        source,
    })?;
    let temporary = path.with_extension(format!("new.{}.{nonce:016x}", std::process::id()));
    let written = write_private(&temporary, &line);
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);

    match linked {
        Ok(()) => {
            sync_directory(path);
            Ok(key)
        }
        Err(error) if error.kind() == ErrorKind::AlreadyExists => load(path),
        Err(error) => Err(key_file(error)),
    }
}

/// Writes `bytes` to a new file readable by its owner only, and flushes it to disk.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);

    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Flushes the directory entry of a new key file; on failure the key still works, it is only
/// less sure to survive a power cut, so the error is not reported.
fn sync_directory(path: &Path) {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return;
    };
    if let Ok(directory) = File::open(parent) {
        let _ = directory.sync_all();
    }
}

#[cfg(unix)]
fn check_private(file: &File, path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;

    let metadata = file.metadata().map_err(|source| StoreError::KeyFile {
        path: path.into(),
        source,
    })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_file: &File, _path: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// The public key as custos publishes it: `ed25519:` and 64 lowercase hex digits.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_PREFIX}{}", hex::encode(key.as_bytes()))
}

/// Parses the text [`public_key_text`] writes.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidPublicKey {
        text: text.to_owned(),
        reason: reason.into(),
    };

    let Some(digits) = text.strip_prefix(PUBLIC_PREFIX) else {
        return Err(invalid("no `ed25519:` prefix"));
    };
    let mut bytes = [0; 32];
    hex::decode_to_slice(digits, &mut bytes).map_err(|_| invalid("not 64 hex digits"))?;

    VerifyingKey::from_bytes(&bytes).map_err(|_| invalid("not a point on the curve"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_new_key_file_is_created_with_mode_0600_and_loads_back_as_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/signing.key");

        let created = load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let loaded = load_or_create(&path).unwrap();
        assert_eq!(loaded.verifying_key(), created.verifying_key());
        assert_eq!(
            std::fs::read_dir(dir.path().join("keys")).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused_with_the_chmod_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

        let error = load(&path).unwrap_err();
        let shown = path.display();
        assert_eq!(
            error.to_string(),
            format!(
                "the signing key `{shown}` can be read by other users (mode 644); run \
                 `chmod 600 {shown}` and find out who else may have copied it"
            )
        );
    }

    #[test]
    fn a_malformed_key_file_is_refused_without_showing_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        write_private(&path, b"ed25519-secret:zz-secret-zz\n").unwrap();

        let error = load(&path).unwrap_err().to_string();
        assert!(
            error.ends_with("is malformed: the secret is not 64 hex digits"),
            "{error}"
        );
        assert!(!error.contains("zz-secret-zz"));
    }

    #[test]
    fn the_debug_form_of_a_loaded_key_does_not_show_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let key = load_or_create(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let secret = text.trim().strip_prefix(SECRET_PREFIX).unwrap();

        assert!(!format!("{key:?}").contains(secret));
    }

    #[test]
    fn the_key_lives_beside_the_log_unless_custos_signing_key_names_a_file() {
        let store = Path::new("/srv/custos/incidents.sqlite");

        assert_eq!(
            key_path_from(None, store),
            Path::new("/srv/custos/signing.key")
        );
        assert_eq!(
            key_path_from(Some("".into()), store),
            Path::new("/srv/custos/signing.key")
        );
        assert_eq!(
            key_path_from(Some("/etc/k".into()), store),
            Path::new("/etc/k")
        );
    }

    #[test]
    fn a_public_key_round_trips_through_its_text() {
        let key = SigningKey::from_bytes(&[9; 32]).verifying_key();
        let text = public_key_text(&key);

        assert!(text.starts_with("ed25519:") && text.len() == 8 + 64);
        assert_eq!(parse_public_key(&text).unwrap(), key);
        assert!(parse_public_key("rsa:00").is_err());
        assert!(parse_public_key("ed25519:00").is_err());
    }
}
