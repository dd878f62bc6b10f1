//! Moving keys of the register to another NIST SP 800-57 state: checked, rewritten in place,
//! confirmed, and only then put in the register's place.
//!
//! A move changes nothing but the `state:` values of the keys it moves: comments and layout
//! stay. The value is replaced where the YAML parser found it (by byte span, so quoted values
//! and non-ASCII text earlier on the line are no trouble). The new text is written beside the
//! register, synced, read back and parsed again: every moved key must be in its new state and
//! every other key in its old one, or nothing is renamed and the move fails with the reason.
//! Deciding which moves a runbook makes, and remembering a drill's moves, is the caller's work.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::{Key, Known, Register, State};
use crate::policy::environment::{PolicyError, suggestion};

/// Why keys could not move to another state.
#[derive(Debug, Error)]
pub enum TransitionError {
    /// The register could not be read or is not valid.
    #[error(transparent)]
    Policy(#[from] PolicyError),

    /// The key named is not in the register.
    #[error("key `{name}` is not in {path}{}", suggestion(known), path = path.display())]
    UnknownKey {
        name: String,
        path: PathBuf,
        known: Vec<String>,
    },

    /// NIST SP 800-57 does not allow the move.
    #[error(
        "key `{name}` cannot move from `{from}` to `{to}`: NIST SP 800-57 allows {}",
        allowed(*from)
    )]
    NotAllowed {
        name: String,
        from: State,
        to: State,
    },

    /// The new register could not be written.
    #[error("{path}: cannot write the register: {source}", path = path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The rewritten text would not have said what the move means; nothing was written.
    #[error(
        "{path}: the move of key `{name}` to `{to}` was not written, and the register is \
         unchanged: {reason}; change the state by hand",
        path = path.display()
    )]
    NotRewritten {
        name: String,
        to: State,
        path: PathBuf,
        reason: String,
    },
}

fn allowed(from: State) -> String {
    let next = from.successors();
    if next.is_empty() {
        return format!("no move from `{from}`: it is final");
    }
    let words: Vec<String> = next.iter().map(|state| format!("`{state}`")).collect();
    format!("only {}", words.join(", "))
}

/// A move asked for: one key, or a key and every key under it, to one state.
#[derive(Debug, Clone, Copy)]
pub struct Move<'a> {
    /// The key's name, or its label when no key has that name.
    pub name: &'a str,
    /// The state it moves to.
    pub to: State,
    /// Also move every key under it, directly or through others (a ZMK's ZPKs). Those already
    /// in `to`, and destroyed ones (final), are left as they are.
    pub descendants: bool,
}

impl<'a> Move<'a> {
    /// Moves the one key `name` to `to`.
    pub fn one(name: &'a str, to: State) -> Self {
        Self {
            name,
            to,
            descendants: false,
        }
    }
}

/// What a transition did, for the incident log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The named key's name in the register.
    pub name: String,
    /// The state it was in.
    pub from: State,
    /// The state it, and every key moved with it, is in now.
    pub to: State,
    /// Every key moved, the named one first, then those under it nearest first, each with the
    /// state it left.
    pub moved: Vec<(String, State)>,
}

/// Moves keys of the register at `path` as `request` asks, if NIST SP 800-57 allows every move.
///
/// `earlier` holds states that stand in for the register's, by key name: the moves a drill made
/// before, which it never wrote. A move that cannot be made for one key is made for none. With
/// `persist` false (a drill) the moves are checked and returned but nothing is written.
///
/// Known limit: two processes moving keys of one register at the same moment can lose one
/// move; a lock beside the register would serialise them.
pub fn transition(
    path: &Path,
    known: &Known,
    request: Move<'_>,
    earlier: &BTreeMap<String, State>,
    persist: bool,
) -> Result<Transition, TransitionError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let register = Register::parse(path, &text, known)?;
    let key = register
        .find(request.name)
        .ok_or_else(|| register.unknown(request.name))?;
    let done = plan(&register, key, request, earlier)?;
    if !persist {
        return Ok(done);
    }

    let moved: Vec<&Key> = done
        .moved
        .iter()
        .filter_map(|(name, _)| register.get(name))
        .collect();
    let not_rewritten = |reason: String| TransitionError::NotRewritten {
        name: done.name.clone(),
        to: done.to,
        path: path.to_owned(),
        reason,
    };
    let rewritten = rewrite(&text, &moved, done.to).map_err(not_rewritten)?;
    let confirm = |written: &str| confirm(&register, written, known, &done);
    write_confirmed(path, &rewritten, confirm).map_err(|failure| match failure {
        Failure::Io(source) => TransitionError::Write {
            path: path.to_owned(),
            source,
        },
        Failure::Unconfirmed(reason) => not_rewritten(reason),
    })?;
    Ok(done)
}

/// Which keys move, checked against NIST SP 800-57, before anything is written.
fn plan(
    register: &Register,
    key: &Key,
    request: Move<'_>,
    earlier: &BTreeMap<String, State>,
) -> Result<Transition, TransitionError> {
    let state = |key: &Key| earlier.get(&key.name).copied().unwrap_or(key.state);
    let refuse = |key: &Key| TransitionError::NotAllowed {
        name: key.name.clone(),
        from: state(key),
        to: request.to,
    };

    let from = state(key);
    if !from.successors().contains(&request.to) {
        return Err(refuse(key));
    }
    let mut moved = vec![(key.name.clone(), from)];
    if request.descendants {
        for child in register.under(&key.name) {
            let now = state(child);
            if now == request.to || now == State::Destroyed {
                continue;
            }
            if !now.successors().contains(&request.to) {
                return Err(refuse(child));
            }
            moved.push((child.name.clone(), now));
        }
    }
    Ok(Transition {
        name: key.name.clone(),
        from,
        to: request.to,
        moved,
    })
}

/// `text` with the `state:` value of every key of `moved` replaced by `to`, keeping its quotes.
fn rewrite(text: &str, moved: &[&Key], to: State) -> Result<String, String> {
    let mut edits: Vec<(usize, usize, String)> = Vec::with_capacity(moved.len());
    for key in moved {
        let at = &key.state_at;
        let Some((start, length)) = at.bytes else {
            return Err(format!(
                "the parser gave no byte position for the state of key `{}` (line {})",
                key.name, at.line
            ));
        };
        let end = start.saturating_add(length);
        let written = text.get(start..end).ok_or_else(|| {
            format!(
                "the state of key `{}` is not at line {}, column {} of the text read",
                key.name, at.line, at.column
            )
        })?;
        let old = key.state.as_str();
        let new = to.as_str();
        let replacement = if written == old {
            new.to_owned()
        } else if written == format!("\"{old}\"") {
            format!("\"{new}\"")
        } else if written == format!("'{old}'") {
            format!("'{new}'")
        } else {
            return Err(format!(
                "the state of key `{}` at line {}, column {} is written `{written}`, not as \
                 `{old}`, `\"{old}\"` or `'{old}'`",
                key.name, at.line, at.column
            ));
        };
        edits.push((start, end, replacement));
    }

    // From the end of the text backwards, so each edit leaves the earlier positions valid.
    edits.sort_by_key(|(start, _, _)| std::cmp::Reverse(*start));
    let mut out = text.to_owned();
    for (start, end, replacement) in edits {
        out.replace_range(start..end, &replacement);
    }
    Ok(out)
}

/// Whether `written`, parsed again, holds every key of `before` in the state the move says.
fn confirm(
    before: &Register,
    written: &str,
    known: &Known,
    done: &Transition,
) -> Result<(), String> {
    let after = Register::parse(before.path(), written, known)
        .map_err(|error| format!("the rewritten register does not load: {error}"))?;
    if after.keys().len() != before.keys().len() {
        return Err(String::from(
            "the rewritten register has another number of keys",
        ));
    }

    for key in before.keys() {
        let moves = done.moved.iter().any(|(name, _)| *name == key.name);
        let expected = if moves { done.to } else { key.state };
        match after.get(&key.name).map(|found| found.state) {
            Some(found) if found == expected => {}
            Some(found) => {
                return Err(format!(
                    "read back, key `{}` is `{found}`, not `{expected}`",
                    key.name
                ));
            }
            None => return Err(format!("read back, key `{}` is missing", key.name)),
        }
    }
    Ok(())
}

/// Why the confirmed write did not happen.
enum Failure {
    Io(std::io::Error),
    Unconfirmed(String),
}

/// Writes `text` beside `path`, syncs it, reads it back and lets `confirm` judge what was read,
/// and only then renames it over `path` and syncs the directory. A crash leaves the old file or
/// the new one whole; a failure leaves the old one and no temporary file.
fn write_confirmed(
    path: &Path,
    text: &str,
    confirm: impl Fn(&str) -> Result<(), String>,
) -> Result<(), Failure> {
    let name = path
        .file_name()
        .map_or_else(|| String::from("keys.yaml"), |n| n.to_string_lossy().into());
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary).map_err(Failure::Io)?;
        file.write_all(text.as_bytes()).map_err(Failure::Io)?;
        file.sync_all().map_err(Failure::Io)?;
        let read_back = std::fs::read_to_string(&temporary).map_err(Failure::Io)?;
        confirm(&read_back).map_err(Failure::Unconfirmed)?;

        std::fs::rename(&temporary, path).map_err(Failure::Io)?;
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|dir| dir.sync_all())
                .map_err(Failure::Io)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::keys::tests::TREE;

    fn register(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.yaml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn to(path: &Path, name: &str, state: State) -> Result<Transition, TransitionError> {
        let none = BTreeMap::new();
        transition(path, &Known::default(), Move::one(name, state), &none, true)
    }

    #[test]
    fn a_transition_rewrites_only_the_state_word_and_keeps_comments() {
        let (dir, path) = register(TREE);
        let done = to(&path, "KEK-ROOT", State::Suspended).unwrap();
        assert_eq!((done.from, done.to), (State::Active, State::Suspended));
        let expected = TREE.replace("state: active # since", "state: suspended # since");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_refused_transition_names_the_allowed_states_and_leaves_the_file_alone() {
        let (_dir, path) = register(TREE);
        let error = to(&path, "ZPK-1", State::Suspended).unwrap_err();
        assert_eq!(
            error.to_string(),
            "key `ZPK-1` cannot move from `pre-activation` to `suspended`: NIST SP 800-57 allows \
             only `active`, `compromised`, `destroyed`"
        );
        let unknown = to(&path, "ZPK-9", State::Active).unwrap_err();
        assert!(
            unknown.to_string().starts_with("key `ZPK-9` is not in "),
            "{unknown}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), TREE);
    }

    #[test]
    fn quoted_states_keep_their_quotes_when_they_move() {
        let text = TREE
            .replace("state: active # since", "state: \"active\" # since")
            .replace("state: pre-activation", "state: 'pre-activation'");
        let (_dir, path) = register(&text);

        to(&path, "KEK-ROOT", State::Compromised).unwrap();
        to(&path, "ZPK-1", State::Active).unwrap();
        let expected = text
            .replace("\"active\" # since", "\"compromised\" # since")
            .replace("'pre-activation'", "'active'");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    }

    #[test]
    fn a_flow_style_key_after_non_ascii_text_moves_its_own_state() {
        let text = "\
keys:
  - { name: ZMK-ÑANDÚ, purpose: ZMK, algorithm: aes-256, environment: prod-a, counterparty: Caja Señor, state: active, attributes: { sensitive: true, extractable: true } }
  - { name: ZPK-ÅS, purpose: ZPK, algorithm: aes-128, environment: prod-a, parent: ZMK-ÑANDÚ, state: \"active\", attributes: { sensitive: true, extractable: true } }
";
        let (_dir, path) = register(text);
        let none = BTreeMap::new();
        let request = Move {
            name: "ZMK-ÑANDÚ",
            to: State::Compromised,
            descendants: true,
        };
        let done = transition(&path, &Known::default(), request, &none, true).unwrap();
        assert_eq!(
            done.moved,
            [
                (String::from("ZMK-ÑANDÚ"), State::Active),
                (String::from("ZPK-ÅS"), State::Active)
            ]
        );
        let expected = text
            .replace("Señor, state: active,", "Señor, state: compromised,")
            .replace("state: \"active\"", "state: \"compromised\"");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    }

    #[test]
    fn a_state_the_rewrite_cannot_read_fails_loudly_and_changes_nothing() {
        // An escape in a double-quoted scalar: the parser reads `active`, the text says otherwise.
        let text = TREE.replace("state: active # since", "state: \"act\\x69ve\" # since");
        let (dir, path) = register(&text);

        let error = to(&path, "KEK-ROOT", State::Suspended).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}: the move of key `KEK-ROOT` to `suspended` was not written, and the register \
                 is unchanged: the state of key `KEK-ROOT` at line 7, column 12 is written \
                 `\"act\\x69ve\"`, not as `active`, `\"active\"` or `'active'`; change the state \
                 by hand",
                path.display()
            )
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_rewrite_that_reads_back_wrong_is_not_renamed_over_the_register() {
        let (dir, path) = register(TREE);
        let register = Register::parse(&path, TREE, &Known::default()).unwrap();
        let done = Transition {
            name: String::from("KEK-ROOT"),
            from: State::Active,
            to: State::Suspended,
            moved: vec![(String::from("KEK-ROOT"), State::Active)],
        };
        // The text handed to the write is the old one: read back, the key is still active.
        let confirm = |written: &str| confirm(&register, written, &Known::default(), &done);
        let failure = write_confirmed(&path, TREE.replace("zmk-one", "zmk-uno").as_str(), confirm);
        match failure {
            Err(Failure::Unconfirmed(reason)) => {
                assert_eq!(
                    reason,
                    "read back, key `KEK-ROOT` is `active`, not `suspended`"
                );
            }
            _ => panic!("the write must not be confirmed"),
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), TREE);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn descendants_move_with_their_parent_unless_already_there_or_destroyed() {
        let text = format!(
            "{TREE}  - name: ZPK-OLD\n    purpose: ZPK\n    algorithm: aes-128\n    environment: \
             prod-a\n    parent: ZMK-1\n    state: destroyed\n    attributes: {{ sensitive: \
             true, extractable: true }}\n"
        );
        let (_dir, path) = register(&text);
        let request = Move {
            name: "zmk-one",
            to: State::Compromised,
            descendants: true,
        };
        let earlier = BTreeMap::from([(String::from("ZMK-1"), State::Suspended)]);
        let done = transition(&path, &Known::default(), request, &earlier, false).unwrap();
        assert_eq!(
            done.moved,
            [
                (String::from("ZMK-1"), State::Suspended),
                (String::from("ZPK-1"), State::PreActivation)
            ]
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "a drill writes nothing"
        );

        let back = Move {
            name: "KEK-ROOT",
            to: State::Suspended,
            descendants: true,
        };
        let error = transition(&path, &Known::default(), back, &BTreeMap::new(), true);
        assert_eq!(
            error.unwrap_err().to_string(),
            "key `ZPK-1` cannot move from `pre-activation` to `suspended`: NIST SP 800-57 allows \
             only `active`, `compromised`, `destroyed`"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
