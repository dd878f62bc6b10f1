//! The key register, `policies/keys.yaml`: every key the institution holds, where it lives, what
//! protects it, its check value and where it stands in its NIST SP 800-57 life.
//!
//! This module reads and checks the file (unknown parents, cycles of parents, parents that cannot
//! protect keys, unknown environments, malformed KCVs, duplicate names and labels). Moving keys
//! from one lifecycle state to another, by rewriting only their `state:` values, is
//! [`transition`]'s work; comparing the register with a live token is [`drift`]'s, drawing it is
//! [`picture`]'s, and the runbook actions `keys.lookup` and `keys.transition` are [`actions`].
//! Talking to the HSM is left to [`crate::hsm`].

pub mod actions;
pub mod drift;
pub mod picture;
pub mod transition;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use jiff::{Span, SpanRelativeTo};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_saphyr::Spanned;
pub use transition::{Move, Transition, TransitionError, transition};

use super::environment::{PolicyError, Problem, problem_at, problem_from_yaml, suggestion};
use crate::hsm::KcvMethod;
use crate::hsm::key::KeyAlgorithm;

/// The file of the key register inside a policies directory.
pub const KEYS: &str = "keys.yaml";

/// What a key is for; the names payment HSMs and PCI PIN use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Purpose {
    /// Zone master key: protects keys exchanged with a counterparty.
    Zmk,
    /// Zone PIN key: PIN blocks between institutions.
    Zpk,
    /// Zone MAC key.
    Zak,
    /// Zone data encryption key.
    Zek,
    /// Terminal master key: protects the keys of a terminal.
    Tmk,
    /// Terminal PIN key.
    Tpk,
    /// Terminal MAC key.
    Tak,
    /// PIN verification key.
    Pvk,
    /// Card verification key.
    Cvk,
    /// A MAC key.
    Mac,
    /// A key-encryption key (backups, transport between HSMs).
    Kek,
    /// DUKPT base derivation key: terminal keys are derived from it.
    Bdk,
    /// A data encryption key.
    Dek,
}

impl Purpose {
    /// The word the register uses, such as `ZMK`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zmk => "ZMK",
            Self::Zpk => "ZPK",
            Self::Zak => "ZAK",
            Self::Zek => "ZEK",
            Self::Tmk => "TMK",
            Self::Tpk => "TPK",
            Self::Tak => "TAK",
            Self::Pvk => "PVK",
            Self::Cvk => "CVK",
            Self::Mac => "MAC",
            Self::Kek => "KEK",
            Self::Bdk => "BDK",
            Self::Dek => "DEK",
        }
    }

    /// Whether keys of this purpose may protect (or, for a BDK, derive) other keys.
    pub fn protects_keys(self) -> bool {
        matches!(self, Self::Zmk | Self::Tmk | Self::Kek | Self::Bdk)
    }
}

/// A lifecycle state of NIST SP 800-57 Part 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Generated or loaded, not yet to be used.
    PreActivation,
    /// In use for protecting and processing.
    Active,
    /// Out of use for a while, for example while a compromise is analysed.
    Suspended,
    /// No longer used to protect, only to process what it protected.
    Deactivated,
    /// Known or suspected to be in the wrong hands.
    Compromised,
    /// Gone from every device; this state is final.
    Destroyed,
}

/// Every state, in the order of a key's life.
pub const STATES: &[&str] = &[
    "pre-activation",
    "active",
    "suspended",
    "deactivated",
    "compromised",
    "destroyed",
];

impl State {
    /// The word the register uses, such as `pre-activation`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreActivation => "pre-activation",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deactivated => "deactivated",
            Self::Compromised => "compromised",
            Self::Destroyed => "destroyed",
        }
    }

    /// The state a word names, if it is one.
    pub fn parse(word: &str) -> Option<Self> {
        [
            Self::PreActivation,
            Self::Active,
            Self::Suspended,
            Self::Deactivated,
            Self::Compromised,
            Self::Destroyed,
        ]
        .into_iter()
        .find(|state| state.as_str() == word)
    }

    /// The states SP 800-57 lets a key move to from this one; `destroyed` is final.
    pub fn successors(self) -> &'static [State] {
        match self {
            Self::PreActivation => &[Self::Active, Self::Compromised, Self::Destroyed],
            Self::Active => &[Self::Suspended, Self::Deactivated, Self::Compromised],
            Self::Suspended => &[Self::Active, Self::Deactivated, Self::Compromised],
            Self::Deactivated => &[Self::Compromised, Self::Destroyed],
            Self::Compromised => &[Self::Destroyed],
            Self::Destroyed => &[],
        }
    }

    /// Whether a key in this state is expected on its tokens (a destroyed one must be gone).
    pub fn on_token(self) -> bool {
        self != Self::Destroyed
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A check value as the register records it: never without its method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterKcv {
    /// Upper-case hex.
    pub value: String,
    /// ANSI X9.24-1 method 1 (`ecb`) or 2 (`cmac`).
    pub method: KcvMethod,
}

impl RegisterKcv {
    /// How many bytes the value keeps.
    pub fn length(&self) -> usize {
        self.value.len() / 2
    }
}

impl fmt::Display for RegisterKcv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.method.as_str())
    }
}

/// The attributes a key is expected to carry on the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attributes {
    /// `CKA_SENSITIVE`: never readable in clear.
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE`: may leave the HSM wrapped under another key.
    pub extractable: bool,
}

/// One key of the register.
#[derive(Debug, Clone)]
pub struct Key {
    /// The name runbooks and people use; unique in the register.
    pub name: String,
    /// What the key is for, which decides whether it may be a parent.
    pub purpose: Purpose,
    /// The type and size the token must show.
    pub algorithm: KeyAlgorithm,
    /// The environments whose tokens hold the key (a primary and its replicas).
    pub environments: Vec<String>,
    /// The label on the token; the name when the register gives none.
    pub label: String,
    /// The check value on record, compared only with one made by the same method.
    pub kcv: Option<RegisterKcv>,
    /// The key that protects (or derives) this one.
    pub parent: Option<String>,
    /// The institution the key is shared with, if any.
    pub counterparty: Option<String>,
    /// Roster ids of the people who hold its components.
    pub custodians: Vec<String>,
    /// The day the key became (or becomes) active.
    pub activation: Option<Date>,
    /// The cryptoperiod as written (ISO 8601, such as `P1Y`), and as a span.
    pub cryptoperiod: Option<(String, Span)>,
    /// Where the key stands in its life.
    pub state: State,
    /// The attributes the token must show.
    pub attributes: Attributes,
    /// Where the `state:` value is written, which a transition rewrites.
    state_at: StateAt,
    /// Where the `parent:` value is, for messages about it.
    parent_at: Option<(u64, u64)>,
}

/// Where a key's `state:` value is in the register's text.
#[derive(Debug, Clone, Copy)]
struct StateAt {
    /// 1-based line and column (in characters), for messages.
    line: u64,
    column: u64,
    /// Byte offset and length of the value as written, quotes included, when the parser knows.
    bytes: Option<(usize, usize)>,
}

impl StateAt {
    fn of(location: serde_saphyr::Location) -> Self {
        let span = location.span();
        let bytes = span
            .byte_offset()
            .zip(span.byte_len())
            .and_then(|(start, length)| {
                Some((usize::try_from(start).ok()?, usize::try_from(length).ok()?))
            });
        Self {
            line: location.line(),
            column: location.column(),
            bytes,
        }
    }
}

impl Key {
    /// The last day of the cryptoperiod (activation plus cryptoperiod), when both are known.
    pub fn end(&self) -> Option<Date> {
        let activation = self.activation?;
        let (_, span) = self.cryptoperiod.as_ref()?;
        activation.checked_add(*span).ok()
    }
}

/// The key register of the institution, keys in file order.
#[derive(Debug, Clone)]
pub struct Register {
    path: PathBuf,
    keys: Vec<Key>,
}

/// The names other policy files define, which the register must use. A `None` is not checked
/// (its file does not exist).
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Environment names from `environments.yaml`.
    pub environments: Option<BTreeSet<String>>,
    /// Person ids from the roster.
    pub people: Option<BTreeSet<String>>,
}

impl Known {
    /// What `policies` defines: its environments, and the people of its roster when it loads
    /// (a roster that does not load is reported by the roster's own check).
    pub fn from_policies(policies: &Path) -> Result<Self, PolicyError> {
        let path = policies.join(super::ENVIRONMENTS);
        let environments = if path.exists() {
            let environments = super::environment::Environments::load(&path)?;
            Some(environments.names().map(str::to_owned).collect())
        } else {
            None
        };
        let people = super::roster::Roster::load_from(policies)
            .ok()
            .flatten()
            .map(|roster| {
                roster
                    .people
                    .iter()
                    .map(|person| person.id.clone())
                    .collect()
            });
        Ok(Self {
            environments,
            people,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    keys: Vec<Spanned<RawKey>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: Spanned<String>,
    purpose: Purpose,
    algorithm: Spanned<String>,
    environment: Spanned<OneOrMany>,
    #[serde(default)]
    label: Option<Spanned<String>>,
    #[serde(default)]
    kcv: Option<Spanned<RawKcv>>,
    #[serde(default)]
    parent: Option<Spanned<String>>,
    #[serde(default)]
    counterparty: Option<String>,
    #[serde(default)]
    custodians: Vec<Spanned<String>>,
    #[serde(default)]
    activation: Option<Date>,
    #[serde(default)]
    cryptoperiod: Option<Spanned<String>>,
    state: Spanned<State>,
    attributes: Attributes,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKcv {
    value: String,
    method: Spanned<String>,
}

/// One environment name, or a list of them.
struct OneOrMany(Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Names;

        impl<'de> Visitor<'de> for Names {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an environment name or a list of them")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![value.to_owned()]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(OneOrMany(names))
            }
        }

        deserializer.deserialize_any(Names)
    }
}

impl Register {
    /// Reads and checks the register at `path`. With `environments`, every environment a key
    /// names must be defined there; without, environment names are not checked.
    pub fn load(path: impl AsRef<Path>, known: &Known) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text, known)
    }

    /// Parses `text` as if it were the file at `path` (the path only appears in messages).
    pub fn parse(path: impl AsRef<Path>, text: &str, known: &Known) -> Result<Self, PolicyError> {
        let path = path.as_ref().to_path_buf();
        let mut options = serde_saphyr::Options::default();
        options.strict_booleans = true;

        let raw: RawFile = serde_saphyr::from_str_with_options(text, options).map_err(|error| {
            PolicyError::Invalid {
                path: path.clone(),
                problems: vec![problem_from_yaml(&error, text)],
            }
        })?;

        let mut checker = Checker {
            text,
            problems: Vec::new(),
        };
        let keys = checker.keys(raw, known);
        checker.references(&keys);

        let mut problems = checker.problems;
        if problems.is_empty() {
            return Ok(Self { path, keys });
        }
        problems.sort_by_key(|problem| (problem.line, problem.column));
        problems.dedup();
        Err(PolicyError::Invalid { path, problems })
    }

    /// Every key, in the order of the file.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The key called `name`.
    pub fn get(&self, name: &str) -> Option<&Key> {
        self.keys.iter().find(|key| key.name == name)
    }

    /// The key called `name`, or else the one key whose token label is `name` (runbooks often
    /// know a key by the label they read on the HSM).
    pub fn find(&self, name: &str) -> Option<&Key> {
        self.get(name).or_else(|| {
            let mut labelled = self.keys.iter().filter(|key| key.label == name);
            let first = labelled.next()?;
            labelled.next().is_none().then_some(first)
        })
    }

    /// Every key under `parent`, directly or through others, nearest first.
    pub fn under(&self, parent: &str) -> Vec<&Key> {
        let mut found: Vec<&Key> = Vec::new();
        let mut frontier = vec![parent.to_owned()];
        while !frontier.is_empty() {
            let children: Vec<&Key> = self
                .keys
                .iter()
                .filter(|key| key.parent.as_ref().is_some_and(|p| frontier.contains(p)))
                .filter(|key| !found.iter().any(|known| known.name == key.name))
                .collect();
            frontier = children.iter().map(|key| key.name.clone()).collect();
            found.extend(children);
        }
        found
    }

    /// The file the register was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn unknown(&self, name: &str) -> TransitionError {
        TransitionError::UnknownKey {
            name: name.to_owned(),
            path: self.path.clone(),
            known: self.keys.iter().map(|key| key.name.clone()).collect(),
        }
    }
}

/// The key that holds each label, per environment: `(environment, label) -> key name`.
type Labels = BTreeMap<(String, String), String>;

/// A key's name and label, with where the label is, for the placement checks.
struct Placement<'a> {
    name: &'a str,
    label: &'a str,
    label_at: serde_saphyr::Location,
}

/// Collects every problem of the file while turning raw entries into keys.
struct Checker<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn at(&mut self, location: serde_saphyr::Location, message: String) {
        let problem = problem_at(self.text, location.line(), location.column(), message);
        self.problems.push(problem);
    }

    fn keys(&mut self, raw: RawFile, known: &Known) -> Vec<Key> {
        let mut keys: Vec<Key> = Vec::new();
        let mut labels: Labels = BTreeMap::new();
        for entry in raw.keys {
            let raw = entry.value;
            if keys.iter().any(|key| key.name == raw.name.value) {
                let message = format!("key `{}` appears twice in the register", raw.name.value);
                self.at(raw.name.referenced, message);
            }
            keys.push(self.key(raw, known, &mut labels));
        }
        keys
    }

    /// One entry as a key, reporting what is wrong with it.
    fn key(&mut self, raw: RawKey, known: &Known, labels: &mut Labels) -> Key {
        let name = raw.name.value;
        let algorithm = KeyAlgorithm::parse(&raw.algorithm.value).unwrap_or_else(|| {
            let message = format!(
                "key `{name}`: algorithm `{}` is not one of `aes-128`, `aes-192`, `aes-256`, \
                 `tdes`",
                raw.algorithm.value
            );
            self.at(raw.algorithm.referenced, message);
            KeyAlgorithm::Aes128
        });

        let (label, label_at) = match raw.label {
            Some(label) => (label.value, label.referenced),
            None => (name.clone(), raw.name.referenced),
        };
        let placed = Placement {
            name: &name,
            label: &label,
            label_at,
        };
        self.placement(&placed, &raw.environment, known, labels);
        self.custodians(&name, &raw.custodians, known);

        let kcv = raw.kcv.and_then(|kcv| self.kcv(&name, &kcv));
        let cryptoperiod = raw
            .cryptoperiod
            .and_then(|text| self.cryptoperiod(&name, text));
        let at = |location: serde_saphyr::Location| (location.line(), location.column());
        Key {
            purpose: raw.purpose,
            algorithm,
            environments: raw.environment.value.0,
            label,
            kcv,
            parent_at: raw.parent.as_ref().map(|parent| at(parent.referenced)),
            parent: raw.parent.map(|parent| parent.value),
            counterparty: raw.counterparty,
            custodians: raw.custodians.into_iter().map(|c| c.value).collect(),
            activation: raw.activation,
            cryptoperiod,
            state: raw.state.value,
            attributes: raw.attributes,
            state_at: StateAt::of(raw.state.referenced),
            name,
        }
    }

    /// Environments that are not defined, and labels already taken in an environment.
    fn placement(
        &mut self,
        key: &Placement<'_>,
        names: &Spanned<OneOrMany>,
        known: &Known,
        labels: &mut Labels,
    ) {
        let Placement {
            name,
            label,
            label_at,
        } = *key;
        if names.value.0.is_empty() {
            let message = format!("key `{name}`: `environment` names no environment");
            self.at(names.referenced, message);
        }

        for environment in &names.value.0 {
            if let Some(defined) = known
                .environments
                .as_ref()
                .filter(|defined| !defined.contains(environment))
            {
                let defined: Vec<String> = defined.iter().cloned().collect();
                let message = format!(
                    "key `{name}`: environment `{environment}` is not defined in \
                     environments.yaml{}",
                    suggestion(&defined)
                );
                self.at(names.referenced, message);
            }

            let slot = (environment.clone(), label.to_owned());
            if let Some(first) = labels.insert(slot, name.to_owned())
                && first != name
            {
                let message = format!(
                    "key `{name}`: label `{label}` in `{environment}` is already the label of \
                     key `{first}`"
                );
                self.at(label_at, message);
            }
        }
    }

    /// Custodians the roster does not list.
    fn custodians(&mut self, name: &str, custodians: &[Spanned<String>], known: &Known) {
        let Some(people) = &known.people else {
            return;
        };
        for custodian in custodians.iter().filter(|c| !people.contains(&c.value)) {
            let message = format!(
                "key `{name}`: custodian `{}` is not in the roster",
                custodian.value
            );
            self.at(custodian.referenced, message);
        }
    }

    fn cryptoperiod(&mut self, name: &str, text: Spanned<String>) -> Option<(String, Span)> {
        let Some(span) = period(&text.value) else {
            let message = format!(
                "key `{name}`: cryptoperiod `{}` is not a positive ISO 8601 duration such as \
                 `P1Y` or `P18M`",
                text.value
            );
            self.at(text.referenced, message);
            return None;
        };
        Some((text.value, span))
    }

    fn kcv(&mut self, name: &str, kcv: &Spanned<RawKcv>) -> Option<RegisterKcv> {
        let Some(method) = KcvMethod::parse(&kcv.value.method.value) else {
            let message = format!(
                "key `{name}`: KCV method `{}` is not `ecb` or `cmac`",
                kcv.value.method.value
            );
            self.at(kcv.value.method.referenced, message);
            return None;
        };
        let value = kcv.value.value.to_ascii_uppercase();
        let hex = !value.is_empty() && value.chars().all(|c| c.is_ascii_hexdigit());
        let bytes = value.len() / 2;
        if !hex || !value.len().is_multiple_of(2) || bytes < 2 || bytes > method.max_length() {
            let message = format!(
                "key `{name}`: KCV `{}` is not 2 to {} bytes of hex, as the {} method gives",
                kcv.value.value,
                method.max_length(),
                method.as_str()
            );
            self.at(kcv.referenced, message);
            return None;
        }
        Some(RegisterKcv { value, method })
    }

    /// Parents that do not exist, cannot protect keys, or go round in a cycle.
    fn references(&mut self, keys: &[Key]) {
        for key in keys {
            let (Some(parent), Some(at)) = (&key.parent, key.parent_at) else {
                continue;
            };
            let Some(found) = keys.iter().find(|other| &other.name == parent) else {
                let mut known: Vec<String> = keys.iter().map(|k| k.name.clone()).collect();
                known.dedup();
                let message = format!(
                    "key `{}`: parent `{parent}` is not in the register{}",
                    key.name,
                    suggestion(&known)
                );
                self.problems
                    .push(problem_at(self.text, at.0, at.1, message));
                continue;
            };
            if !found.purpose.protects_keys() {
                let message = format!(
                    "key `{}`: parent `{parent}` is a {}, which cannot protect keys (a parent is \
                     a ZMK, TMK, KEK or BDK)",
                    key.name,
                    found.purpose.as_str()
                );
                self.problems
                    .push(problem_at(self.text, at.0, at.1, message));
            }
            if let Some(cycle) = cycle_from(keys, key) {
                let message = format!(
                    "key `{}`: its parents go round in a cycle: {}",
                    key.name,
                    cycle.join(" -> ")
                );
                self.problems
                    .push(problem_at(self.text, at.0, at.1, message));
            }
        }
    }
}

/// The cycle `key`'s parents run into, if they return to `key`.
fn cycle_from(keys: &[Key], key: &Key) -> Option<Vec<String>> {
    let mut path = vec![key.name.clone()];
    let mut current = key;
    while let Some(parent) = &current.parent {
        path.push(parent.clone());
        if parent == &key.name {
            return Some(path);
        }
        if path[..path.len() - 1].contains(parent) {
            return None;
        }
        current = keys.iter().find(|other| &other.name == parent)?;
    }
    None
}

/// A positive duration such as `P1Y`, `P18M` or `P90D`.
fn period(text: &str) -> Option<Span> {
    let span: Span = text.parse().ok()?;
    if span.signum() <= 0 {
        return None;
    }

    // Years and months have no fixed length, so only spans without them can be measured; a
    // positive span of years or months is long enough by construction.
    let calendar = span.get_years() != 0 || span.get_months() != 0;
    let measured = span.to_duration(SpanRelativeTo::days_are_24_hours());
    (calendar || measured.is_ok_and(|duration| duration.is_positive())).then_some(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A three-key hierarchy, shared with the tests of [`super::transition`].
    pub(super) const TREE: &str = "\
# the hierarchy of one counterparty
keys:
  - name: KEK-ROOT
    purpose: KEK
    algorithm: aes-256
    environment: prod-a
    state: active # since the ceremony
    attributes: { sensitive: true, extractable: false }
  - name: ZMK-1
    purpose: ZMK
    algorithm: aes-256
    environment: prod-a
    label: zmk-one
    parent: KEK-ROOT
    state: active
    attributes: { sensitive: true, extractable: true }
  - name: ZPK-1
    purpose: ZPK
    algorithm: aes-128
    environment: prod-a
    parent: ZMK-1
    state: pre-activation
    attributes: { sensitive: true, extractable: true }
";

    fn names(keys: &[&Key]) -> Vec<String> {
        keys.iter().map(|key| key.name.clone()).collect()
    }

    #[test]
    fn the_states_follow_nist_sp_800_57_and_destroyed_is_final() {
        assert!(State::Destroyed.successors().is_empty());
        assert_eq!(State::Compromised.successors(), [State::Destroyed]);
        assert!(!State::Active.successors().contains(&State::Destroyed));
        assert!(State::Suspended.successors().contains(&State::Active));
        for word in STATES {
            assert_eq!(State::parse(word).map(State::as_str), Some(*word));
        }
    }

    #[test]
    fn keys_under_a_parent_include_grandchildren_nearest_first() {
        let register = Register::parse("keys.yaml", TREE, &Known::default()).unwrap();
        assert_eq!(names(&register.under("KEK-ROOT")), ["ZMK-1", "ZPK-1"]);
        assert_eq!(names(&register.under("ZMK-1")), ["ZPK-1"]);
        assert!(register.under("ZPK-1").is_empty());
    }

    #[test]
    fn a_key_is_found_by_its_label_when_no_name_matches() {
        let register = Register::parse("keys.yaml", TREE, &Known::default()).unwrap();
        assert_eq!(
            register.find("zmk-one").map(|k| k.name.as_str()),
            Some("ZMK-1")
        );
        assert_eq!(
            register.find("ZPK-1").map(|k| k.label.as_str()),
            Some("ZPK-1")
        );
        assert!(register.find("nothing").is_none());
    }

    #[test]
    fn the_shipped_register_is_valid_against_the_shipped_environments() {
        let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let known = Known::from_policies(&policies).unwrap();
        assert!(
            known
                .people
                .as_ref()
                .is_some_and(|people| people.contains("erin"))
        );
        let register = Register::load(policies.join(KEYS), &known).unwrap();
        assert_eq!(register.keys().len(), 6);
        assert_eq!(
            names(&register.under("ZMK-ACME-2026")),
            ["ZPK-ACME-01", "ZPK-ACME-02"]
        );
    }
}
