//! The roster: who may approve, with which roles, proved by which passphrase, holding which key
//! components.
//!
//! `policies/roster.yaml` declares the role words of the institution and lists its people. Each
//! person has a lowercase id, a name, roles, an Argon2id hash of their passphrase (never the
//! passphrase), the date they became active and, once revoked, the date of revocation. A
//! custodian's `components` list is their history of key components, kept so that nobody ever
//! holds, or has held, two components of one key (PCI PIN 21-2.4). This module reads, checks and
//! rewrites the file; it does not decide approvals (see `crate::approval`).

mod credential;
mod file;
mod render;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::Date;

use crate::runbook::{Diagnostic, Pos, Report};

pub use credential::{
    MIN_PASSPHRASE_CHARS, Mismatch, TEST_PARAMS_VARIABLE, authenticate, hash_passphrase,
    verify_passphrase,
};
pub use file::{parse, save};

/// The file name of the roster inside the policies directory.
pub const FILE_NAME: &str = "roster.yaml";

/// The roles every new roster declares, with what each one means.
pub const STANDARD_ROLES: &[(&str, &str)] = &[
    (
        "custodian",
        "holds one key component or one card of a quorum; never two of one key",
    ),
    (
        "security-officer",
        "approves ceremonies and key changes for information security",
    ),
    (
        "operations-manager",
        "approves operational changes and owns the HSM service",
    ),
    (
        "ciso",
        "decides on suspected compromises and tells the board",
    ),
    ("on-call", "answers HSM incidents out of hours"),
];

/// The people of the institution and the role words they may hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Roster {
    /// Every role word, with a sentence saying what it means.
    pub roles: BTreeMap<String, String>,
    /// The people, in file order.
    pub people: Vec<Person>,
}

/// One person of the roster.
#[derive(Clone, Debug, PartialEq)]
pub struct Person {
    /// Lowercase id, as people type it after `--as`.
    pub id: String,
    /// Full name, for records and signature lines.
    pub name: String,
    /// Role words from [`Roster::roles`].
    pub roles: Vec<String>,
    /// The Argon2id PHC string of the person's passphrase.
    pub credential: String,
    /// The day the passphrase was last set by `custos roster passwd`.
    pub changed: Option<Date>,
    /// The security officer who reset the passphrase, when it was reset rather than changed
    /// by its holder.
    pub reset_by: Option<String>,
    /// The first day (UTC) the person may act.
    pub active_from: Date,
    /// The first day the person may no longer act.
    pub revoked_on: Option<Date>,
    /// Every key component the person holds or has held.
    pub components: Vec<Component>,
    /// Where the entry starts in the file; zero for people made in memory.
    pub at: Pos,
}

/// A key component entrusted to a custodian.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// The key's label, `ZMK-ACME-2026`.
    pub key: String,
    /// The component's name or index, `A`, `B`, `1`.
    pub component: String,
    /// The day the component was handed back or destroyed, if it was.
    pub returned_on: Option<Date>,
    /// Where the entry starts in the file; zero for components made in memory.
    pub at: Pos,
}

/// Whether a person may act on a given day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Active,
    /// `active_from` is still in the future.
    NotYetActive,
    Revoked,
}

impl Person {
    /// Whether the person may act at `at`, judged on the UTC date.
    pub fn standing(&self, at: Timestamp) -> Standing {
        let today = jiff::tz::TimeZone::UTC.to_datetime(at).date();
        if self.revoked_on.is_some_and(|revoked| revoked <= today) {
            return Standing::Revoked;
        }
        if today < self.active_from {
            return Standing::NotYetActive;
        }
        Standing::Active
    }

    /// The component of `key` this person holds or has held, if it is not `component`: the
    /// reason PCI PIN 21-2.4 forbids giving them `component`.
    pub fn conflicting_component(&self, key: &str, component: &str) -> Option<&Component> {
        self.components
            .iter()
            .find(|held| held.key == key && held.component != component)
    }

    /// Whether the person holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|held| held == role)
    }
}

impl Roster {
    /// The roster at `path`, or a report of why it cannot be read.
    pub fn load(path: &Path) -> Result<Roster, Report> {
        file::load(path)
    }

    /// The roster in `policies`, `None` when the directory has no roster file.
    pub fn load_from(policies: &Path) -> Result<Option<Roster>, Report> {
        let path = path_in(policies);
        if !path.exists() {
            return Ok(None);
        }
        file::load(&path).map(Some)
    }

    /// A roster with the standard roles and nobody in it.
    pub fn with_standard_roles() -> Roster {
        let roles = STANDARD_ROLES
            .iter()
            .map(|&(name, meaning)| (name.to_owned(), meaning.to_owned()))
            .collect();
        Roster {
            roles,
            people: Vec::new(),
        }
    }

    /// The role words this roster declares, for the runbook validator.
    pub fn roles(&self) -> BTreeSet<String> {
        self.roles.keys().cloned().collect()
    }

    /// The person with id `id`.
    pub fn person(&self, id: &str) -> Option<&Person> {
        self.people.iter().find(|person| person.id == id)
    }

    /// The person with id `id`, to change.
    pub fn person_mut(&mut self, id: &str) -> Option<&mut Person> {
        self.people.iter_mut().find(|person| person.id == id)
    }

    /// Every problem of the roster: duplicate ids, undeclared roles, malformed credentials,
    /// and custodians holding or having held two components of one key.
    pub fn check(&self) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        let mut seen: BTreeMap<&str, Pos> = BTreeMap::new();

        for role in self.roles.keys().filter(|role| !is_role_word(role)) {
            problems.push(
                Diagnostic::new(None, format!("`{role}` in `roles` is not a role word"))
                    .with_hint("role words are lowercase letters, digits and `-`"),
            );
        }

        for person in &self.people {
            if let Some(first) = seen.get(person.id.as_str()) {
                problems.push(Diagnostic::at(
                    person.at,
                    format!(
                        "person `{}` appears twice; the first entry is at line {}",
                        person.id, first.line
                    ),
                ));
            } else {
                seen.insert(&person.id, person.at);
            }

            self.check_person(person, &mut problems);
        }
        problems
    }

    fn check_person(&self, person: &Person, problems: &mut Vec<Diagnostic>) {
        if !is_id(&person.id) {
            problems.push(
                Diagnostic::at(person.at, format!("`{}` is not a person id", person.id))
                    .with_hint("ids are lowercase: letters, digits, `-`, `_` and `.`"),
            );
        }

        for role in &person.roles {
            if self.roles.contains_key(role) {
                continue;
            }
            let known: Vec<&str> = self.roles.keys().map(String::as_str).collect();
            problems.push(
                Diagnostic::at(
                    person.at,
                    format!(
                        "person `{}` has the role `{role}`, which `roles` does not declare{}",
                        person.id,
                        suggestion(role, &known)
                    ),
                )
                .with_hint(format!("the roles are {}", known.join(", "))),
            );
        }

        if let Err(reason) = credential::check_hash(&person.credential) {
            problems.push(
                Diagnostic::at(
                    person.at,
                    format!("the credential of `{}` {reason}", person.id),
                )
                .with_hint(format!("set it with `custos roster passwd {}`", person.id)),
            );
        }

        if let Some(revoked) = person.revoked_on
            && revoked < person.active_from
        {
            problems.push(Diagnostic::at(
                person.at,
                format!(
                    "`{}` is revoked on {revoked}, before becoming active on {}",
                    person.id, person.active_from
                ),
            ));
        }

        components(person, problems);
    }
}

/// PCI PIN 21-2.4: no custodian may hold, or ever have held, two components of one key.
fn components(person: &Person, problems: &mut Vec<Diagnostic>) {
    let mut first_of_key: BTreeMap<&str, &Component> = BTreeMap::new();

    for component in &person.components {
        let Some(first) = first_of_key.get(component.key.as_str()) else {
            first_of_key.insert(&component.key, component);
            continue;
        };
        if first.component == component.component {
            continue;
        }

        let when = if first.returned_on.is_some() {
            "has held"
        } else {
            "holds"
        };
        problems.push(
            Diagnostic::at(
                component.at,
                format!(
                    "`{}` {when} component {} of `{}` and is given component {} of the same key",
                    person.id, first.component, component.key, component.component
                ),
            )
            .with_hint(
                "PCI PIN 21-2.4: a custodian who held one component may never hold another of \
                 the same key; give it to another custodian",
            ),
        );
    }
}

/// Whether `text` is a valid person id: lowercase letters, digits, `-`, `_`, `.`, starting with
/// a letter.
pub fn is_id(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// Whether `text` is a valid role word: lowercase letters, digits and `-`.
pub fn is_role_word(text: &str) -> bool {
    !text.is_empty()
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The roster file inside the policies directory.
pub fn path_in(policies: &Path) -> PathBuf {
    policies.join(FILE_NAME)
}

/// Every problem of the roster file in `policies`, as one report, or `None` if there is none.
pub fn check_dir(policies: &Path) -> Option<Report> {
    let path = path_in(policies);
    if !path.exists() {
        return None;
    }
    match file::load(&path) {
        Err(report) => Some(report),
        Ok(roster) => {
            let problems = roster.check();
            if problems.is_empty() {
                return None;
            }
            let source = std::fs::read_to_string(&path).unwrap_or_default();
            Some(Report::new(&path, source, problems))
        }
    }
}

/// `" (did you mean `x`?)"` for a close candidate, or nothing.
fn suggestion(word: &str, candidates: &[&str]) -> String {
    candidates
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), candidate))
        .filter(|&(distance, _)| distance > 0 && distance <= 2)
        .min_by_key(|&(distance, _)| distance)
        .map_or_else(String::new, |(_, found)| {
            format!(" (did you mean `{found}`?)")
        })
}
