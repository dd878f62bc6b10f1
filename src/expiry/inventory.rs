//! `policies/inventory.yaml`: what expiry monitoring watches, the alert bands and who hears of
//! each, and which runbook an object that comes too close to its end opens.
//!
//! This module reads and checks the file only: it does not open certificates, talk to tokens
//! or compute days left. Every problem in the file is reported with its `path:line:col`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use jiff::Span;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_saphyr::{Location, Spanned};

use crate::policy::environment::{PolicyError, Problem, problem_at, problem_from_yaml};

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
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    pub severity: Severity,
    pub notify: String,
    pub template: String,
}

/// A threshold in days and the alert of the band it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Band {
    pub days: u32,
    pub alert: Alert,
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
}

/// Where an object's end date comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A PEM or DER file, relative to the policies directory.
    File(PathBuf),
    /// The certificate object labelled `label` on the token of `environment`.
    Token { environment: String, label: String },
    /// A key's activation date and cryptoperiod (ISO 8601, such as `P2Y`).
    Cryptoperiod { activated: Date, period: Span },
    /// A device's vendor end-of-support date.
    EndOfSupport(Date),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Token { environment, label } => write!(f, "token {environment}/{label}"),
            Self::Cryptoperiod { activated, period } => {
                write!(f, "activated {activated}, cryptoperiod {period}")
            }
            Self::EndOfSupport(date) => write!(f, "end of support {date}"),
        }
    }
}

/// One watched object.
#[derive(Clone, Debug)]
pub struct Object {
    /// The key in the file, unique across all kinds.
    pub name: String,
    pub kind: Kind,
    pub source: Source,
    /// The object's thresholds, largest first, each with the alert of its band.
    pub bands: Vec<Band>,
    /// The incident to open, if its kind or the object names one.
    pub incident: Option<IncidentRule>,
    /// The runbook's inputs for the incident, by name.
    pub inputs: Map<String, Value>,
}

impl Object {
    /// The smallest threshold: being inside it (or expired) fails the check.
    pub fn last_band(&self) -> Option<u32> {
        self.bands.last().map(|band| band.days)
    }
}

/// The inventory: every object (certificates, keys, then devices, each by name) and the alert
/// for expiry itself.
#[derive(Clone, Debug)]
pub struct Inventory {
    /// The file it was read from.
    pub path: PathBuf,
    pub objects: Vec<Object>,
    /// The default bands, largest first.
    pub bands: Vec<Band>,
    /// The alert of an object that is past its end.
    pub expired: Alert,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    bands: Vec<Spanned<RawBand>>,
    expired: Alert,
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
    notify: String,
    template: String,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncident {
    runbook: String,
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
    thresholds: Option<Spanned<Vec<u32>>>,
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
    description: Option<String>,
    #[serde(default)]
    thresholds: Option<Spanned<Vec<u32>>>,
    #[serde(default)]
    incident: Option<RawIncident>,
    #[serde(default)]
    inputs: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    environment: String,
    label: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    activated: Spanned<String>,
    cryptoperiod: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    thresholds: Option<Spanned<Vec<u32>>>,
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
    thresholds: Option<Spanned<Vec<u32>>>,
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
            checker
                .problems
                .sort_by_key(|problem| (problem.line, problem.column));
            Err(invalid(checker.problems))
        }
    }

    /// Every alert that names a recipient group or a template the notification policies do not
    /// define, as a sentence naming this file; `None` sets are not checked.
    pub fn unknown_names(
        &self,
        groups: Option<&BTreeSet<String>>,
        templates: Option<&BTreeSet<String>>,
    ) -> Vec<String> {
        let alerts = self
            .bands
            .iter()
            .map(|band| (format!("band {}", band.days), &band.alert))
            .chain([(String::from("`expired`"), &self.expired)]);

        let mut problems = BTreeSet::new();
        for (band, alert) in alerts {
            if groups.is_some_and(|known| !known.contains(&alert.notify)) {
                problems.insert(format!(
                    "{}: {band} notifies `{}`, which is not a group of notify.yaml",
                    self.path.display(),
                    alert.notify
                ));
            }
            if templates.is_some_and(|known| !known.contains(&alert.template)) {
                problems.insert(format!(
                    "{}: {band} uses template `{}`, which is not in templates/",
                    self.path.display(),
                    alert.template
                ));
            }
        }
        problems.into_iter().collect()
    }
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
        let incidents: BTreeMap<Kind, RawIncident> = raw.incidents;

        let mut objects = Vec::new();
        let mut seen = BTreeSet::new();
        for (name, raw) in raw.certificates {
            let (at, raw) = (raw.referenced, raw.value);
            let name = Spanned::new(name, at, at);
            let source = self.certificate_source(&name, raw.file, raw.token);
            let common = common!(raw);
            let object = self.object(&name, Kind::Certificate, source, common, &incidents);
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
            let object = self.object(&name, Kind::Key, source, common, &incidents);
            self.push(&mut objects, &mut seen, &name, object, &defaults);
        }
        for (name, raw) in raw.devices {
            let (at, raw) = (raw.referenced, raw.value);
            let name = Spanned::new(name, at, at);
            let source = self
                .date(&raw.end_of_support, "end_of_support")
                .map(Source::EndOfSupport);
            let common = common!(raw);
            let object = self.object(&name, Kind::Device, source, common, &incidents);
            self.push(&mut objects, &mut seen, &name, object, &defaults);
        }

        Inventory {
            path: path.to_path_buf(),
            objects,
            bands: defaults,
            expired: raw.expired,
        }
    }

    /// Keeps `object` unless its name is taken by an object of another kind.
    fn push(
        &mut self,
        objects: &mut Vec<Object>,
        seen: &mut BTreeSet<String>,
        name: &Spanned<String>,
        object: Option<(Object, Option<Spanned<Vec<u32>>>)>,
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

    fn object(
        &mut self,
        name: &Spanned<String>,
        kind: Kind,
        source: Option<Source>,
        common: RawCommon,
        incidents: &BTreeMap<Kind, RawIncident>,
    ) -> Option<(Object, Option<Spanned<Vec<u32>>>)> {
        let incident = common.incident.or_else(|| incidents.get(&kind).cloned());
        let object = Object {
            name: name.value.clone(),
            kind,
            source: source?,
            bands: Vec::new(),
            incident: incident.map(|raw| IncidentRule {
                runbook: raw.runbook,
                at: match raw.at {
                    RawTrigger::Days(days) => Trigger::Days(days),
                    RawTrigger::Word(ExpiredWord::Expired) => Trigger::Expired,
                },
            }),
            inputs: common.inputs,
        };
        Some((object, common.thresholds))
    }

    /// The default bands, checked: at least one, each positive, largest first.
    fn bands(&mut self, raw: &[Spanned<RawBand>]) -> Vec<Band> {
        let bands: Vec<Band> = raw
            .iter()
            .map(|band| Band {
                days: band.value.days,
                alert: Alert {
                    severity: band.value.severity,
                    notify: band.value.notify.clone(),
                    template: band.value.template.clone(),
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

    /// An object's own thresholds, each with the alert of the narrowest default band that
    /// contains it (the widest band for a threshold beyond all of them).
    fn own_bands(&mut self, name: &str, own: &Spanned<Vec<u32>>, defaults: &[Band]) -> Vec<Band> {
        if let Some(problem) = threshold_problem(&own.value) {
            self.report(own.referenced, format!("`{name}`: `thresholds`: {problem}"));
        }
        let widest = defaults.first();
        own.value
            .iter()
            .filter_map(|&days| {
                let alert = defaults
                    .iter()
                    .rev()
                    .find(|band| band.days >= days)
                    .or(widest)?
                    .alert
                    .clone();
                Some(Band { days, alert })
            })
            .collect()
    }

    fn certificate_source(
        &mut self,
        name: &Spanned<String>,
        file: Option<PathBuf>,
        token: Option<RawToken>,
    ) -> Option<Source> {
        match (file, token) {
            (Some(file), None) => Some(Source::File(file)),
            (None, Some(token)) => Some(Source::Token {
                environment: token.environment,
                label: token.label,
            }),
            _ => {
                let message = format!(
                    "certificate `{}` needs exactly one of `file` or `token`",
                    name.value
                );
                self.report(name.referenced, message);
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
  ca: { file: certs/ca.der, thresholds: [120, 14] }
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
        assert_eq!(ca.bands[0].days, 120);
        assert_eq!(ca.bands[0].alert.template, "expiry-notice");
        assert_eq!(ca.bands[1].alert.template, "expiry-warning");
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
            .replace("[120, 14]", "[14, 120]");

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
}
