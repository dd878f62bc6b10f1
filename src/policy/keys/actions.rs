//! The runbook actions over the key register: `keys.lookup` and `keys.transition`.
//!
//! Both read `keys.yaml` from the policies directory at the moment they run, so a walk sees the
//! register as it is then. A transition is recorded in the incident log by the walk (its outputs
//! go into `action_finished`) and written to the register here. In a drill the transition is
//! checked and reported but the register is not written: the register describes the real keys,
//! and a rehearsal never changes the record of production. So that a drill's later moves are
//! checked against its earlier ones (suspended, then back to active), the caller keeps the
//! states a drill moved keys to and hands them back on every call ([`DrillStates`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use thiserror::Error;

use super::{KEYS, Known, Move, Purpose, Register, State, TransitionError, transition};
use crate::policy::environment::PolicyError;

/// Why a `keys.*` action failed. None of these succeeds when simply tried again.
#[derive(Debug, Error)]
pub enum KeyActionError {
    /// The register or the environments could not be used.
    #[error(transparent)]
    Policy(#[from] PolicyError),

    /// The transition was refused or could not be written.
    #[error(transparent)]
    Transition(#[from] TransitionError),

    /// The policies directory has no register.
    #[error("`{action}` needs the key register, and {path} does not exist", path = path.display())]
    NoRegister { action: String, path: PathBuf },

    /// A parameter is missing, or both of two exclusive ones were given.
    #[error("`{action}`: {problem}")]
    Parameters { action: String, problem: String },

    /// The register does not hold the key a parameter names.
    #[error("`{action}`: key `{name}` is not in {path}", path = path.display())]
    UnknownKey {
        action: String,
        name: String,
        path: PathBuf,
    },

    /// Not a `keys.*` action the catalog knows.
    #[error("`{action}` is not a key register action")]
    UnknownAction { action: String },
}

/// The states a drill has moved keys to, by key name: never written to the register, but the
/// state the drill's later moves start from.
pub type DrillStates = BTreeMap<String, State>;

/// Runs `keys.lookup` or `keys.transition` against the register in `policies`. In a drill,
/// `drill` holds the drill's earlier moves and learns this one's.
pub fn run(
    action: &str,
    params: &Map<String, Value>,
    policies: &Path,
    rehearsal: bool,
    drill: &mut DrillStates,
) -> Result<Map<String, Value>, KeyActionError> {
    let path = policies.join(KEYS);
    if !path.exists() {
        return Err(KeyActionError::NoRegister {
            action: action.to_owned(),
            path,
        });
    }
    let known = Known::from_policies(policies)?;

    match action {
        "keys.lookup" => lookup(params, &Register::load(&path, &known)?),
        "keys.transition" => {
            let name = text(action, params, "name")?;
            let word = text(action, params, "state")?;
            let to = State::parse(&word).ok_or_else(|| KeyActionError::Parameters {
                action: action.to_owned(),
                problem: format!(
                    "`state` is `{word}`, not one of {}",
                    super::STATES.join(", ")
                ),
            })?;
            let request = Move {
                name: &name,
                to,
                descendants: boolean(action, params, "descendants")?.unwrap_or(false),
            };
            let none = DrillStates::new();
            let earlier = if rehearsal { &*drill } else { &none };
            let done = transition(&path, &known, request, earlier, !rehearsal)?;
            if rehearsal {
                for (moved, _) in &done.moved {
                    drill.insert(moved.clone(), done.to);
                }
            }

            let moved: Vec<&str> = done.moved.iter().map(|(name, _)| name.as_str()).collect();
            Ok(into_map(json!({
                "name": done.name,
                "from": done.from.as_str(),
                "to": done.to.as_str(),
                "moved": moved,
                "count": moved.len(),
                "persisted": !rehearsal,
            })))
        }
        _ => Err(KeyActionError::UnknownAction {
            action: action.to_owned(),
        }),
    }
}

fn lookup(
    params: &Map<String, Value>,
    register: &Register,
) -> Result<Map<String, Value>, KeyActionError> {
    let action = "keys.lookup";
    let name = optional(params, "name");
    let parent = optional(params, "parent");
    let unknown = |name: String| KeyActionError::UnknownKey {
        action: action.to_owned(),
        name,
        path: register.path().to_owned(),
    };

    let found = match (name, parent) {
        (Some(name), None) => vec![register.find(&name).ok_or_else(|| unknown(name.clone()))?],
        (None, Some(parent)) => {
            let parent = register
                .find(&parent)
                .ok_or_else(|| unknown(parent.clone()))?;
            register.under(&parent.name)
        }
        _ => {
            return Err(KeyActionError::Parameters {
                action: action.to_owned(),
                problem: String::from("give exactly one of `name` or `parent`"),
            });
        }
    };
    let purpose = optional(params, "purpose");
    let found: Vec<_> = found
        .into_iter()
        .filter(|key| {
            purpose
                .as_deref()
                .is_none_or(|word| Purpose::as_str(key.purpose).eq_ignore_ascii_case(word))
        })
        .collect();

    let join = |part: &dyn Fn(&super::Key) -> String| {
        found
            .iter()
            .map(|key| part(key))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kcv = |key: &super::Key| {
        key.kcv
            .as_ref()
            .map_or_else(|| String::from("none"), ToString::to_string)
    };
    Ok(into_map(json!({
        "names": join(&|key| key.name.clone()),
        "labels": join(&|key| key.label.clone()),
        "kcvs": join(&kcv),
        "count": found.len(),
    })))
}

fn optional(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(text) if text.trim().is_empty() => None,
        Value::String(text) => Some(text.trim().to_owned()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn text(action: &str, params: &Map<String, Value>, name: &str) -> Result<String, KeyActionError> {
    optional(params, name).ok_or_else(|| KeyActionError::Parameters {
        action: action.to_owned(),
        problem: format!("the parameter `{name}` is missing"),
    })
}

/// A boolean parameter: `true`/`false`, or the same words after templating.
fn boolean(
    action: &str,
    params: &Map<String, Value>,
    name: &str,
) -> Result<Option<bool>, KeyActionError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(Value::String(text)) if text.trim() == "true" => Ok(Some(true)),
        Some(Value::String(text)) if text.trim() == "false" => Ok(Some(false)),
        Some(other) => Err(KeyActionError::Parameters {
            action: action.to_owned(),
            problem: format!("`{name}` is `{other}`, not `true` or `false`"),
        }),
    }
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        for file in ["environments.yaml", "keys.yaml"] {
            std::fs::copy(shipped.join(file), dir.path().join(file)).unwrap();
        }
        dir
    }

    fn params(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect()
    }

    #[test]
    fn a_lookup_by_name_gives_one_key_with_its_kcv_and_method() {
        let dir = policies();
        let out = run(
            "keys.lookup",
            &params(&[("name", "ZMK-ACME-2026")]),
            dir.path(),
            true,
            &mut DrillStates::new(),
        )
        .unwrap();
        assert_eq!(
            Value::Object(out),
            json!({
                "names": "ZMK-ACME-2026",
                "labels": "ZMK-ACME-2026",
                "kcvs": "6D40DEB1DF cmac",
                "count": 1,
            })
        );
    }

    #[test]
    fn a_lookup_needs_exactly_one_of_name_or_parent_and_a_known_key() {
        let dir = policies();
        let both = params(&[("name", "PVK-01"), ("parent", "KEK-BACKUP")]);
        let error = run(
            "keys.lookup",
            &both,
            dir.path(),
            true,
            &mut DrillStates::new(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`keys.lookup`: give exactly one of `name` or `parent`"
        );

        let unknown = params(&[("parent", "ZMK-NOBODY")]);
        let error = run(
            "keys.lookup",
            &unknown,
            dir.path(),
            true,
            &mut DrillStates::new(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "`keys.lookup`: key `ZMK-NOBODY` is not in {}",
                dir.path().join("keys.yaml").display()
            )
        );
    }

    #[test]
    fn a_transition_to_a_word_that_is_not_a_state_is_refused() {
        let dir = policies();
        let bad = params(&[("name", "PVK-01"), ("state", "retired")]);
        let error = run(
            "keys.transition",
            &bad,
            dir.path(),
            false,
            &mut DrillStates::new(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`keys.transition`: `state` is `retired`, not one of pre-activation, active, \
             suspended, deactivated, compromised, destroyed"
        );
    }

    #[test]
    fn a_drill_checks_each_move_against_its_earlier_ones_without_writing_the_register() {
        let dir = policies();
        let before = std::fs::read_to_string(dir.path().join("keys.yaml")).unwrap();
        let mut drill = DrillStates::new();
        let mut go = |name: &str, state: &str, descendants: &str| {
            let asked = params(&[
                ("name", name),
                ("state", state),
                ("descendants", descendants),
            ]);
            run("keys.transition", &asked, dir.path(), true, &mut drill)
        };

        let suspended = go("ZMK-ACME-2026", "suspended", "false").unwrap();
        assert_eq!(suspended["from"], json!("active"));
        let back = go("ZMK-ACME-2026", "active", "false").unwrap();
        assert_eq!(
            (&back["from"], &back["to"]),
            (&json!("suspended"), &json!("active"))
        );

        let compromised = go("ZMK-ACME-2026", "compromised", "true").unwrap();
        assert_eq!(
            compromised["moved"],
            json!(["ZMK-ACME-2026", "ZPK-ACME-01", "ZPK-ACME-02"])
        );
        assert_eq!(compromised["count"], json!(3));
        assert_eq!(compromised["persisted"], json!(false));
        let destroyed = go("ZPK-ACME-01", "destroyed", "false").unwrap();
        assert_eq!(destroyed["from"], json!("compromised"));

        let error = go("ZMK-ACME-2026", "active", "maybe").unwrap_err();
        assert_eq!(
            error.to_string(),
            "`keys.transition`: `descendants` is `\"maybe\"`, not `true` or `false`"
        );
        let after = std::fs::read_to_string(dir.path().join("keys.yaml")).unwrap();
        assert_eq!(after, before);
    }
}
