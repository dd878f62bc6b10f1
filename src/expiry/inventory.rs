//! `policies/inventory.yaml`: what expiry monitoring watches, the alert bands and who hears of
//! each, and which runbook an object that comes too close to its end opens.
//!
//! This module reads and checks the file only: it does not open certificates, talk to tokens
//! or compute days left. Every problem in the file is reported with its `path:line:col`; the
//! names it refers to in other files (groups, templates, environments, runbooks) are checked by
//! [`super::references`] against the positions kept here. The keys of the key register are
//! added by [`Inventory::add_register`]: the register holds their dates, the inventory only the
//! keys the register does not know.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use jiff::Span;
use jiff::civil::Date;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_saphyr::{Location, Spanned};

use crate::policy::environment::{PolicyError, Problem, problem_at, problem_from_yaml};
use crate::policy::keys::{Register, State};

/// The file name of the inventory inside the policies directory.
pub const INVENTORY: &str = "inventory.yaml";

/// The thresholds used when neither the file nor an object names its own, in days.
pub const DEFAULT_THRESHOLDS: [u32; 4] = [90, 60, 30, 7];

/// What kind of thing an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An X.509 certificate, in a file or on a token.
    Certificate,
    /// A key with an activation date and a cryptoperiod.
    Key,
    /// An HSM with a vendor end-of-support date.
    Device,
}

impl Kind {
    /// The word used in the file, the table and the watch incident.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::Key => "key",
            Self::Device => "device",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious an alert band is; shown in the table and the JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The word used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// What an alert band says and to whom: a severity, a recipient group of `notify.yaml` and a
/// template of `templates/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub severity: Severity,
    pub notify: String,
    pub template: String,
}

/// Where an alert's group and template are written in the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NamesAt {
    pub notify: Location,
    pub template: Location,
}

impl NamesAt {
    const UNKNOWN: NamesAt = NamesAt {
        notify: Location::UNKNOWN,
        template: Location::UNKNOWN,
    };
}

/// A threshold in days and the alert of the band it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Band {
    pub days: u32,
    pub alert: Alert,
    pub(crate) at: NamesAt,
}

impl Band {
    /// A band whose names are not written anywhere (built in code, not read from a file).
    pub fn new(days: u32, alert: Alert) -> Band {
        Band {
            days,
            alert,
            at: NamesAt::UNKNOWN,
        }
    }
}

/// When an incident is opened: once the object is in a band whose threshold is at most this
/// many days (or expired), or only once it has expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Days(u32),
    Expired,
}

/// Which runbook an object opens an incident from, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentRule {
    /// The runbook's id, a file in `runbooks/` beside the policies.
    pub runbook: String,
    pub at: Trigger,
    /// Where the runbook is named: the object's own rule or its kind's.
    pub(crate) runbook_at: Location,
}

/// A certificate a token certificate's chain depends on, named in its entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainLink {
    /// Another certificate object on the same token.
    Label(String),
    /// A PEM or DER file, relative to the policies directory.
    File(PathBuf),
}

/// Where an object's end date comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A PEM or DER file, relative to the policies directory.
    File(PathBuf),
    /// The certificate object labelled `label` on the token of `environment`, with the issuer
    /// certificates its entry names; the issuers found on the token are looked up as well.
    Token {
        environment: String,
        label: String,
        chain: Vec<ChainLink>,
    },
    /// A key's activation date and cryptoperiod (ISO 8601, such as `P2Y`), from the inventory.
    Cryptoperiod { activated: Date, period: Span },
    /// A key of the key register: its activation date and cryptoperiod, as the register writes
    /// the period.
    Register {
        activated: Date,
        period: Span,
        written: String,
    },
    /// A device's vendor end-of-support date.
    EndOfSupport(Date),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Token {
                environment, label, ..
            } => write!(f, "token {environment}/{label}"),
            Self::Cryptoperiod { activated, period } => {
                write!(f, "activated {activated}, cryptoperiod {period}")
            }
            Self::Register {
                activated, written, ..
            } => write!(
                f,
                "key register: activated {activated}, cryptoperiod {written}"
            ),
            Self::EndOfSupport(date) => write!(f, "end of support {date}"),
        }
    }
}

/// Where an object's entry and its references are written; unknown for a register key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ObjectAt {
    /// The object's name.
    pub name: Location,
    /// The token's `environment`, for a token certificate.
    pub environment: Location,
}

/// One watched object.
#[derive(Clone, Debug)]
pub struct Object {
    /// The key in the file (or the register's name), unique across all kinds.
    pub name: String,
    pub kind: Kind,
    pub source: Source,
    /// The object's thresholds, largest first, each with the alert of its band.
    pub bands: Vec<Band>,
    /// The incident to open, if its kind or the object names one.
    pub incident: Option<IncidentRule>,
    /// The runbook's inputs for the incident, by name.
    pub inputs: Map<String, Value>,
    pub(crate) at: ObjectAt,
}

impl Object {
    /// The smallest threshold: being inside it (or expired) fails the check.
    pub fn last_band(&self) -> Option<u32> {
        self.bands.last().map(|band| band.days)
    }

    /// Whether the object comes from the key register rather than the inventory's own entries.
    pub fn from_register(&self) -> bool {
        matches!(self.source, Source::Register { .. })
    }
}

/// The inventory: every object (certificates, keys, then devices, each by name; then the keys
/// of the register) and the alert for expiry itself.
#[derive(Clone, Debug)]
pub struct Inventory {
    /// The file it was read from.
    pub path: PathBuf,
    pub objects: Vec<Object>,
    /// The default bands, largest first.
    pub bands: Vec<Band>,
    /// The alert of an object that is past its end.
    pub expired: Alert,
    pub(crate) expired_at: NamesAt,
    /// The incident rule of each kind, for the register's keys.
    incidents: BTreeMap<Kind, IncidentRule>,
    /// The file's text, for pointing at problems found later.
    pub(crate) text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    bands: Vec<Spanned<RawBand>>,
    expired: RawAlert,
    #[serde(default)]
    incidents: BTreeMap<Kind, RawIncident>,
    #[serde(default)]
    certificates: BTreeMap<String, Spanned<RawCertificate>>,
    #[serde(default)]
    keys: BTreeMap<String, Spanned<RawKey>>,
    #[serde(default)]
    devices: BTreeMap<String, Spanned<RawDevice>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    days: u32,
    severity: Severity,
    notify: Spanned<String>,
    template: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    severity: Severity,
    notify: Spanned<String>,
    template: Spanned<String>,
}

/// An object's own threshold: a number of days, or a band that overrides some of what the
/// default band containing it says.
enum RawThreshold {
    Days(u32),
    Band(RawOwnBand),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOwnBand {
    days: u32,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    notify: Option<String>,
    #[serde(default)]
    template: Option<String>,
}

impl<'de> Deserialize<'de> for RawThreshold {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Threshold;

        impl<'de> Visitor<'de> for Threshold {
            type Value = RawThreshold;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a number of days, or a band like { days: 30, severity: critical, notify: \
                     GROUP, template: TEMPLATE }",
                )
            }

            fn visit_u64<E: de::Error>(self, days: u64) -> Result<RawThreshold, E> {
                u32::try_from(days)
                    .map(RawThreshold::Days)
                    .map_err(|_| E::custom(format!("{days} days is too many")))
            }

            fn visit_i64<E: de::Error>(self, days: i64) -> Result<RawThreshold, E> {
                u64::try_from(days)
                    .map_err(|_| E::custom(format!("a threshold of {days} days is negative")))
                    .and_then(|days| self.visit_u64(days))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawThreshold, A::Error> {
                let band = RawOwnBand::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawThreshold::Band(band))
            }
        }

        deserializer.deserialize_any(Threshold)
    }
}

impl RawThreshold {
    fn days(&self) -> u32 {
        match self {
            Self::Days(days) => *days,
            Self::Band(band) => band.days,
        }
    }
}

type RawThresholds = Spanned<Vec<Spanned<RawThreshold>>>;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncident {
    runbook: Spanned<String>,
    at: RawTrigger,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(untagged)]
enum RawTrigger {
    Days(u32),
    Word(ExpiredWord),
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ExpiredWord {
    Expired,
}

/// What every kind of object may say beside its source.
struct RawCommon {
    thresholds: Option<RawThresholds>,
    incident: Option<RawIncident>,
    inputs: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCertificate {
    #[serde(default)]
    file: Option<PathBuf>,
    #[serde(default)]
    token: Option<RawToken>,
    #[serde(default)]
    chain: Option<Spanned<Vec<RawLink>>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    thresholds: Option<RawThresholds>,
    #[serde(default)]
    incident: Option<RawIncident>,
    #[serde(default)]
    inputs: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    environment: Spanned<String>,
    label: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum RawLink {
    Label(String),
    File(PathBuf),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    activated: Spanned<String>,
    cryptoperiod: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    thresholds: Option<RawThresholds>,
    #[serde(default)]
    incident: Option<RawIncident>,
    #[serde(default)]
    inputs: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    end_of_support: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    thresholds: Option<RawThresholds>,
    #[serde(default)]
    incident: Option<RawIncident>,
    #[serde(default)]
    inputs: Map<String, Value>,
}

impl Inventory {
    /// Reads and checks the inventory at `path`, reporting every problem it finds.
    pub fn load(path: &Path) -> Result<Inventory, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` as if it were the file at `path` (the path only appears in messages).
    pub fn parse(path: &Path, text: &str) -> Result<Inventory, PolicyError> {
        let mut options = serde_saphyr::Options::default();
        options.strict_booleans = true;
        let invalid = |problems| PolicyError::Invalid {
            path: path.to_path_buf(),
            problems,
        };

        let raw: RawFile = serde_saphyr::from_str_with_options(text, options)
            .map_err(|error| invalid(vec![problem_from_yaml(&error, text)]))?;

        let mut checker = Checker {
            text,
            problems: Vec::new(),
        };
        let inventory = checker.inventory(path, raw);
        if checker.problems.is_empty() {
            Ok(inventory)
        } else {
            Err(invalid(sorted(checker.problems)))
        }
    }

    /// Adds every key of `register` that has an end to watch: each one whose state is neither
    /// deactivated, compromised nor destroyed, and that has an activation date and a
    /// cryptoperiod. Its thresholds are the default bands and its incident rule its kind's.
    ///
    /// A deactivated key no longer protects anything and a compromised one is being replaced
    /// by its own incident, so neither has an end left to warn about. A key the inventory also
    /// lists under `keys` is reported where the inventory names it: the register is the truth
    /// for its dates.
    pub fn add_register(&mut self, register: &Register) -> Result<(), PolicyError> {
        let mut problems = Vec::new();
        for key in register.keys() {
            if let Some(object) = self.objects.iter().find(|object| object.name == key.name) {
                let message = format!(
                    "`{}` is a key of the key register `{}`, which holds its activation and \
                     cryptoperiod; remove it here",
                    key.name,
                    register.path().display()
                );
                problems.push(self.problem(object.at.name, message));
                continue;
            }

            let ended = matches!(
                key.state,
                State::Deactivated | State::Compromised | State::Destroyed
            );
            if ended {
                tracing::debug!(key = %key.name, state = %key.state, "register key not watched");
                continue;
            }
            let (Some(activated), Some((written, period))) = (key.activation, &key.cryptoperiod)
            else {
                tracing::debug!(key = %key.name, "register key has no end: not watched");
                continue;
            };

            self.objects.push(Object {
                name: key.name.clone(),
                kind: Kind::Key,
                source: Source::Register {
                    activated,
                    period: *period,
                    written: written.clone(),
                },
                bands: self.bands.clone(),
                incident: self.incidents.get(&Kind::Key).cloned(),
                inputs: Map::new(),
                at: ObjectAt {
                    name: Location::UNKNOWN,
                    environment: Location::UNKNOWN,
                },
            });
        }

        if problems.is_empty() {
            return Ok(());
        }
        Err(PolicyError::Invalid {
            path: self.path.clone(),
            problems: sorted(problems),
        })
    }

    /// A problem at `at` in this file.
    pub(crate) fn problem(&self, at: Location, message: String) -> Problem {
        problem_at(&self.text, at.line(), at.column(), message)
    }
}

/// Problems in the order of the file.
pub(crate) fn sorted(mut problems: Vec<Problem>) -> Vec<Problem> {
    problems.sort_by_key(|problem| (problem.line, problem.column));
    problems.dedup_by(|a, b| a.line == b.line && a.column == b.column && a.message == b.message);
    problems
}

/// The fields every kind of object shares; `description` is for people only.
macro_rules! common {
    ($raw:ident) => {{
        let _ = $raw.description;
        RawCommon {
            thresholds: $raw.thresholds,
            incident: $raw.incident,
            inputs: $raw.inputs,
        }
    }};
}

/// Turns the raw file into an inventory, collecting every problem on the way.
struct Checker<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn report(&mut self, at: Location, message: String) {
        self.problems
            .push(problem_at(self.text, at.line(), at.column(), message));
    }

    fn inventory(&mut self, path: &Path, raw: RawFile) -> Inventory {
        let defaults = self.bands(&raw.bands);
        let incidents: BTreeMap<Kind, IncidentRule> = raw
            .incidents
            .into_iter()
            .map(|(kind, raw)| (kind, rule(raw)))
            .collect();

        let mut objects = Vec::new();
        let mut seen = BTreeSet::new();
        for (name, raw) in raw.certificates {
            let (at, raw) = (raw.referenced, raw.value);
            let name = Spanned::new(name, at, at);
            let environment = raw
                .token
                .as_ref()
                .map_or(at, |token| token.environment.referenced);
            let source = self.certificate_source(&name, raw.file, raw.token, raw.chain);
            let common = common!(raw);
            let object = object(&name, Kind::Certificate, source, common, &incidents);
            let object = object.map(|(mut object, own)| {
                object.at.environment = environment;
                (object, own)
            });
            self.push(&mut objects, &mut seen, &name, object, &defaults);
        }
        for (name, raw) in raw.keys {
            let (at, raw) = (raw.referenced, raw.value);
            let name = Spanned::new(name, at, at);
            let activated = self.date(&raw.activated, "activated");
            let period = self.period(&raw.cryptoperiod);
            let source = activated
                .zip(period)
                .map(|(activated, period)| Source::Cryptoperiod { activated, period });
            let common = common!(raw);
            let object = object(&name, Kind::Key, source, common, &incidents);
            self.push(&mut objects, &mut seen, &name, object, &defaults);
        }
        for (name, raw) in raw.devices {
            let (at, raw) = (raw.referenced, raw.value);
            let name = Spanned::new(name, at, at);
            let source = self
                .date(&raw.end_of_support, "end_of_support")
                .map(Source::EndOfSupport);
            let common = common!(raw);
            let object = object(&name, Kind::Device, source, common, &incidents);
            self.push(&mut objects, &mut seen, &name, object, &defaults);
        }

        let expired = raw.expired;
        Inventory {
            path: path.to_path_buf(),
            objects,
            bands: defaults,
            expired_at: NamesAt {
                notify: expired.notify.referenced,
                template: expired.template.referenced,
            },
            expired: Alert {
                severity: expired.severity,
                notify: expired.notify.value,
                template: expired.template.value,
            },
            incidents,
            text: self.text.to_owned(),
        }
    }

    /// Keeps `object` unless its name is taken by an object of another kind.
    fn push(
        &mut self,
        objects: &mut Vec<Object>,
        seen: &mut BTreeSet<String>,
        name: &Spanned<String>,
        object: Option<(Object, Option<RawThresholds>)>,
        defaults: &[Band],
    ) {
        if !seen.insert(name.value.clone()) {
            let message = format!(
                "`{}` is named twice; names are unique across kinds",
                name.value
            );
            self.report(name.referenced, message);
            return;
        }
        let Some((mut object, thresholds)) = object else {
            return;
        };

        object.bands = match &thresholds {
            Some(own) => self.own_bands(&object.name, own, defaults),
            None => defaults.to_vec(),
        };
        objects.push(object);
    }

    /// The default bands, checked: at least one, each positive, largest first.
    fn bands(&mut self, raw: &[Spanned<RawBand>]) -> Vec<Band> {
        let bands: Vec<Band> = raw
            .iter()
            .map(|band| Band {
                days: band.value.days,
                alert: Alert {
                    severity: band.value.severity,
                    notify: band.value.notify.value.clone(),
                    template: band.value.template.value.clone(),
                },
                at: NamesAt {
                    notify: band.value.notify.referenced,
                    template: band.value.template.referenced,
                },
            })
            .collect();
        let days: Vec<u32> = bands.iter().map(|band| band.days).collect();
        if let Some(problem) = threshold_problem(&days)
            && let Some(first) = raw.first()
        {
            self.report(first.referenced, format!("`bands`: {problem}"));
        }
        if raw.is_empty() {
            self.report(Location::UNKNOWN, "`bands` lists no band".to_owned());
        }
        bands
    }

    /// An object's own bands. What a band does not say itself it takes from a default band:
    /// the object's last band (the one that fails the check) from the last default band, any
    /// other from the narrowest default band that contains it (the widest for a threshold
    /// beyond all of them).
    fn own_bands(&mut self, name: &str, own: &RawThresholds, defaults: &[Band]) -> Vec<Band> {
        let days: Vec<u32> = own.value.iter().map(|entry| entry.value.days()).collect();
        if let Some(problem) = threshold_problem(&days) {
            self.report(own.referenced, format!("`{name}`: `thresholds`: {problem}"));
        }

        let last = own.value.len().saturating_sub(1);
        let mut bands = Vec::new();
        for (index, entry) in own.value.iter().enumerate() {
            let days = entry.value.days();
            let inherited = if index == last {
                defaults.last()
            } else {
                defaults
                    .iter()
                    .rev()
                    .find(|band| band.days >= days)
                    .or(defaults.first())
            };
            let Some(inherited) = inherited else {
                continue;
            };

            let mut band = Band {
                days,
                alert: inherited.alert.clone(),
                at: inherited.at,
            };
            if let RawThreshold::Band(raw) = &entry.value {
                if let Some(severity) = raw.severity {
                    band.alert.severity = severity;
                }
                if let Some(notify) = &raw.notify {
                    band.alert.notify.clone_from(notify);
                    band.at.notify = entry.referenced;
                }
                if let Some(template) = &raw.template {
                    band.alert.template.clone_from(template);
                    band.at.template = entry.referenced;
                }
            }
            bands.push(band);
        }
        bands
    }

    fn certificate_source(
        &mut self,
        name: &Spanned<String>,
        file: Option<PathBuf>,
        token: Option<RawToken>,
        chain: Option<Spanned<Vec<RawLink>>>,
    ) -> Option<Source> {
        let source = match (file, token) {
            (Some(file), None) => Source::File(file),
            (None, Some(token)) => Source::Token {
                environment: token.environment.value,
                label: token.label,
                chain: Vec::new(),
            },
            _ => {
                let message = format!(
                    "certificate `{}` needs exactly one of `file` or `token`",
                    name.value
                );
                self.report(name.referenced, message);
                return None;
            }
        };

        let Some(chain) = chain else {
            return Some(source);
        };
        match source {
            Source::Token {
                environment, label, ..
            } => {
                let links = chain
                    .value
                    .into_iter()
                    .map(|link| match link {
                        RawLink::Label(label) => ChainLink::Label(label),
                        RawLink::File(file) => ChainLink::File(file),
                    })
                    .collect();
                Some(Source::Token {
                    environment,
                    label,
                    chain: links,
                })
            }
            _ => {
                let message = format!(
                    "certificate `{}`: `chain` names the issuers of a token certificate; a file \
                     holds its chain itself",
                    name.value
                );
                self.report(chain.referenced, message);
                None
            }
        }
    }

    fn date(&mut self, raw: &Spanned<String>, field: &str) -> Option<Date> {
        let parsed = raw.value.parse::<Date>();
        if parsed.is_err() {
            let message = format!("`{field}`: `{}` is not a date like 2026-12-03", raw.value);
            self.report(raw.referenced, message);
        }
        parsed.ok()
    }

    fn period(&mut self, raw: &Spanned<String>) -> Option<Span> {
        match raw.value.parse::<Span>() {
            Ok(span) if span.is_positive() && span.get_hours() == 0 && span.get_minutes() == 0 => {
                Some(span)
            }
            _ => {
                let message = format!(
                    "`cryptoperiod`: `{}` is not a period in years, months or days like P2Y or \
                     P18M",
                    raw.value
                );
                self.report(raw.referenced, message);
                None
            }
        }
    }
}

fn object(
    name: &Spanned<String>,
    kind: Kind,
    source: Option<Source>,
    common: RawCommon,
    incidents: &BTreeMap<Kind, IncidentRule>,
) -> Option<(Object, Option<RawThresholds>)> {
    let incident = common
        .incident
        .map(rule)
        .or_else(|| incidents.get(&kind).cloned());
    let object = Object {
        name: name.value.clone(),
        kind,
        source: source?,
        bands: Vec::new(),
        incident,
        inputs: common.inputs,
        at: ObjectAt {
            name: name.referenced,
            environment: name.referenced,
        },
    };
    Some((object, common.thresholds))
}

fn rule(raw: RawIncident) -> IncidentRule {
    IncidentRule {
        runbook_at: raw.runbook.referenced,
        runbook: raw.runbook.value,
        at: match raw.at {
            RawTrigger::Days(days) => Trigger::Days(days),
            RawTrigger::Word(ExpiredWord::Expired) => Trigger::Expired,
        },
    }
}

/// What is wrong with a list of thresholds, if anything.
fn threshold_problem(days: &[u32]) -> Option<&'static str> {
    if days.is_empty() {
        return Some("lists no threshold");
    }
    if days.contains(&0) {
        return Some("a threshold of 0 days is expiry itself, which is always alerted");
    }
    if days.windows(2).any(|pair| pair[0] <= pair[1]) {
        return Some("thresholds go from the largest to the smallest, without repeats");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
bands:
  - { days: 90, severity: low, notify: operations, template: expiry-notice }
  - { days: 30, severity: high, notify: on-call, template: expiry-warning }
expired: { severity: critical, notify: on-call, template: expiry-expired }
incidents:
  certificate: { runbook: certificate-expiry, at: 30 }
certificates:
  ocsp: { file: certs/ocsp.pem, inputs: { cert_name: ocsp } }
  ca: { file: certs/ca.der, thresholds: [120, 60, 14] }
keys:
  zmk: { activated: 2026-01-15, cryptoperiod: P2Y }
devices:
  hsm-a: { end_of_support: 2030-06-30, incident: { runbook: hsm-migration, at: expired } }
";

    fn parse(text: &str) -> Result<Inventory, String> {
        Inventory::parse(Path::new("policies/inventory.yaml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_good_inventory_gives_every_object_its_bands() {
        let inventory = parse(GOOD).unwrap();

        let names: Vec<&str> = inventory.objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["ca", "ocsp", "zmk", "hsm-a"]);
        let ca = &inventory.objects[0];
        let bands: Vec<(u32, &str)> = ca
            .bands
            .iter()
            .map(|band| (band.days, band.alert.template.as_str()))
            .collect();
        assert_eq!(
            bands,
            [
                (120, "expiry-notice"),
                (60, "expiry-notice"),
                (14, "expiry-warning")
            ]
        );
        assert_eq!(
            inventory.objects[3].incident.as_ref().unwrap().at,
            Trigger::Expired
        );
    }

    #[test]
    fn a_name_used_by_two_kinds_is_reported_where_it_is_used_again() {
        let text = GOOD.replace("  hsm-a:", "  zmk:");

        let error = parse(&text).unwrap_err();

        assert!(
            error.contains(
                "policies/inventory.yaml:13:8: `zmk` is named twice; names are unique across kinds"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_bad_date_a_bad_period_and_unordered_thresholds_are_all_reported() {
        let text = GOOD
            .replace("2026-01-15", "15/01/2026")
            .replace("P2Y", "two years")
            .replace("[120, 60, 14]", "[14, 120]");

        let error = parse(&text).unwrap_err();

        assert!(
            error.contains("`activated`: `15/01/2026` is not a date"),
            "{error}"
        );
        assert!(
            error.contains("`cryptoperiod`: `two years` is not a period"),
            "{error}"
        );
        assert!(error.contains("thresholds go from the largest"), "{error}");
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let text = GOOD.replace("file: certs/ocsp.pem", "path: certs/ocsp.pem");

        let error = parse(&text).unwrap_err();

        assert!(error.starts_with("policies/inventory.yaml:8:"), "{error}");
    }

    #[test]
    fn an_objects_last_own_band_alerts_like_the_last_default_band_unless_it_says_otherwise() {
        let text = GOOD.replace(
            "[120, 60, 14]",
            "[365, { days: 90, notify: board }, { days: 30, severity: medium }]",
        );
        let text = text.replace(
            "  - { days: 30, severity: high, notify: on-call, template: expiry-warning }",
            "  - { days: 30, severity: high, notify: on-call, template: expiry-warning }\n  \
             - { days: 7, severity: critical, notify: ciso, template: expiry-final-warning }",
        );

        let inventory = parse(&text).unwrap();

        let ca = &inventory.objects[0];
        let bands: Vec<(u32, &str, &str, &str)> = ca
            .bands
            .iter()
            .map(|band| {
                let alert = &band.alert;
                let severity = alert.severity.as_str();
                (
                    band.days,
                    severity,
                    alert.notify.as_str(),
                    alert.template.as_str(),
                )
            })
            .collect();
        assert_eq!(
            bands,
            [
                (365, "low", "operations", "expiry-notice"),
                (90, "low", "board", "expiry-notice"),
                (30, "medium", "ciso", "expiry-final-warning"),
            ]
        );
    }

    #[test]
    fn a_band_that_is_neither_a_number_nor_a_band_is_refused_with_its_position() {
        let text = GOOD.replace("[120, 60, 14]", "[120, { days: 14, group: board }]");

        let error = parse(&text).unwrap_err();

        assert!(error.starts_with("policies/inventory.yaml:9:"), "{error}");
        assert!(error.contains("unknown field `group`"), "{error}");
    }

    #[test]
    fn a_chain_is_only_for_a_token_certificate() {
        let text = GOOD.replace(
            "thresholds: [120, 60, 14] }",
            "chain: [{ file: certs/root.pem }] }",
        );

        let error = parse(&text).unwrap_err();

        assert!(
            error.contains(
                "policies/inventory.yaml:9:36: certificate `ca`: `chain` names the issuers of a \
                 token certificate; a file holds its chain itself"
            ),
            "{error}"
        );
    }

    const REGISTER: &str = "\
keys:
  - { name: KEK-1, purpose: KEK, algorithm: aes-256, environment: hsm, state: active,
      activation: 2026-01-10, cryptoperiod: P2Y,
      attributes: { sensitive: true, extractable: false } }
  - { name: ZMK-OLD, purpose: ZMK, algorithm: aes-256, environment: hsm, state: deactivated,
      activation: 2024-01-10, cryptoperiod: P2Y,
      attributes: { sensitive: true, extractable: true } }
  - { name: ZMK-LOST, purpose: ZMK, algorithm: aes-256, environment: hsm, state: compromised,
      activation: 2025-01-10, cryptoperiod: P2Y,
      attributes: { sensitive: true, extractable: true } }
  - { name: ZPK-GONE, purpose: ZPK, algorithm: aes-128, environment: hsm, state: destroyed,
      activation: 2025-01-10, cryptoperiod: P1Y, parent: KEK-1,
      attributes: { sensitive: true, extractable: true } }
  - { name: ZPK-NEXT, purpose: ZPK, algorithm: aes-128, environment: hsm,
      state: pre-activation, activation: 2027-01-10, cryptoperiod: P18M, parent: KEK-1,
      attributes: { sensitive: true, extractable: true } }
  - { name: MAC-UNDATED, purpose: MAC, algorithm: aes-128, environment: hsm, state: active,
      attributes: { sensitive: true, extractable: true } }
";

    fn register() -> Register {
        let known = crate::policy::keys::Known::default();
        Register::parse("policies/keys.yaml", REGISTER, &known).unwrap()
    }

    #[test]
    fn register_keys_with_an_end_are_watched_with_the_default_bands() {
        let mut inventory = parse(GOOD).unwrap();

        inventory.add_register(&register()).unwrap();

        let keys: Vec<String> = inventory
            .objects
            .iter()
            .filter(|object| object.from_register())
            .map(|object| format!("{} ({})", object.name, object.source))
            .collect();
        assert_eq!(
            keys,
            [
                "KEK-1 (key register: activated 2026-01-10, cryptoperiod P2Y)",
                "ZPK-NEXT (key register: activated 2027-01-10, cryptoperiod P18M)",
            ]
        );
        let kek = inventory
            .objects
            .iter()
            .find(|o| o.name == "KEK-1")
            .unwrap();
        assert_eq!(kek.bands, inventory.bands);
        assert_eq!(kek.kind, Kind::Key);
    }

    #[test]
    fn a_register_key_listed_in_the_inventory_too_is_reported_where_the_inventory_names_it() {
        let mut inventory = parse(&GOOD.replace("  zmk:", "  KEK-1:")).unwrap();

        let error = inventory.add_register(&register()).unwrap_err().to_string();

        assert_eq!(
            error,
            "policies/inventory.yaml:11:10: `KEK-1` is a key of the key register \
             `policies/keys.yaml`, which holds its activation and cryptoperiod; remove it here\n    \
             |   KEK-1: { activated: 2026-01-15, cryptoperiod: P2Y }\n    |          ^"
        );
    }
}
