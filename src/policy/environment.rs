//! The HSM environments a runbook may name, read from `policies/environments.yaml`.
//!
//! An environment says which PKCS#11 module to load, how to find the token (by label or serial,
//! never by slot number, which changes between processes), where the user PIN comes from (an
//! environment variable or a prompt, never the file itself) and whether it is production. A
//! production environment may name the non-production stand-in a drill uses in its place. This
//! module only reads and checks the file; talking to the module is [`crate::hsm`]'s work.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;
use thiserror::Error;

/// Why a policy file could not be used.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// The file could not be read at all.
    #[error("{path}: cannot read the file: {source}", path = path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file was read but is not valid; every problem found is listed.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },

    /// A runbook or command named an environment the file does not define.
    #[error(
        "environment `{name}` is not defined in {path}{}",
        suggestion(known),
        path = path.display()
    )]
    UnknownEnvironment {
        name: String,
        path: PathBuf,
        known: Vec<String>,
    },

    /// A drill asked for a production environment that names no stand-in.
    #[error(
        "environment `{name}` is production and names no `rehearsal` stand-in in {path}: \
         a drill never runs against it",
        path = path.display()
    )]
    NoStandIn { name: String, path: PathBuf },
}

/// One problem in a policy file, with the position it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of the position the problem refers to.
    pub line: u64,
    /// 1-based column of that position.
    pub column: u64,
    /// What is wrong, lowercase, without the position.
    pub message: String,
    /// The offending source line, shown under the message with a caret.
    pub source_line: Option<String>,
}

/// Where the user PIN of an environment comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum PinSource {
    /// Read from the named environment variable of the custos process.
    Env(String),
    /// Asked of the operator at the terminal.
    Prompt,
}

/// How the token of an environment is recognised among the module's slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSelector {
    /// The token label (`CK_TOKEN_INFO.label`, without its blank padding).
    Label(String),
    /// The token serial number (`CK_TOKEN_INFO.serialNumber`).
    Serial(String),
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Label(label) => write!(f, "label `{label}`"),
            Self::Serial(serial) => write!(f, "serial `{serial}`"),
        }
    }
}

/// One named environment: a module, a token in it, a PIN source and whether it is production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The name runbooks use, the key in the file.
    pub name: String,
    /// Free text for people, such as the site of the HSM.
    pub description: Option<String>,
    /// The path of the PKCS#11 library.
    pub module: PathBuf,
    /// How the token is recognised among the module's slots.
    pub token: TokenSelector,
    /// Where the user PIN comes from.
    pub pin: PinSource,
    /// Whether the environment holds live keys; a drill never touches it.
    pub production: bool,
    /// For a production environment, the non-production environment a drill uses instead.
    pub rehearsal: Option<String>,
}

/// Every environment of the institution, by name.
#[derive(Debug, Clone)]
pub struct Environments {
    path: PathBuf,
    by_name: BTreeMap<String, Environment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    environments: BTreeMap<String, Spanned<RawEnvironment>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    #[serde(default)]
    description: Option<String>,
    module: PathBuf,
    token: Spanned<RawToken>,
    pin: PinSource,
    production: bool,
    #[serde(default)]
    rehearsal: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    serial: Option<String>,
}

impl Environments {
    /// Reads and checks the environments file at `path`, reporting every problem it finds.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` as if it were the file at `path` (the path only appears in messages).
    pub fn parse(path: impl AsRef<Path>, text: &str) -> Result<Self, PolicyError> {
        let path = path.as_ref().to_path_buf();
        let mut options = serde_saphyr::Options::default();
        options.strict_booleans = true;

        let raw: RawFile = match serde_saphyr::from_str_with_options(text, options) {
            Ok(raw) => raw,
            Err(error) => {
                let problem = problem_from_yaml(&error, text);
                return Err(PolicyError::Invalid {
                    path,
                    problems: vec![problem],
                });
            }
        };

        let (by_name, problems) = check(raw, text);
        if problems.is_empty() {
            Ok(Self { path, by_name })
        } else {
            Err(PolicyError::Invalid { path, problems })
        }
    }

    /// The environment called `name`, if the file defines it.
    pub fn get(&self, name: &str) -> Option<&Environment> {
        self.by_name.get(name)
    }

    /// The environment called `name`, or an error naming the ones that exist.
    pub fn require(&self, name: &str) -> Result<&Environment, PolicyError> {
        self.get(name)
            .ok_or_else(|| PolicyError::UnknownEnvironment {
                name: name.to_owned(),
                path: self.path.clone(),
                known: self.names().map(str::to_owned).collect(),
            })
    }

    /// The names of all environments, in alphabetical order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The environment a drill uses for `name`: itself when not production, else its stand-in.
    pub fn resolve_for_drill(&self, name: &str) -> Result<&Environment, PolicyError> {
        let environment = self.require(name)?;
        if !environment.production {
            return Ok(environment);
        }

        match &environment.rehearsal {
            Some(stand_in) => self.require(stand_in),
            None => Err(PolicyError::NoStandIn {
                name: name.to_owned(),
                path: self.path.clone(),
            }),
        }
    }

    /// The file the environments were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Turns the raw file into environments, collecting every semantic problem on the way.
fn check(raw: RawFile, text: &str) -> (BTreeMap<String, Environment>, Vec<Problem>) {
    let mut problems = Vec::new();
    let production: BTreeMap<&str, bool> = raw
        .environments
        .iter()
        .map(|(name, env)| (name.as_str(), env.value.production))
        .collect();

    for (name, env) in &raw.environments {
        let at = |location: &serde_saphyr::Location, message: String| {
            problem_at(text, location.line(), location.column(), message)
        };
        let Some(stand_in) = &env.value.rehearsal else {
            continue;
        };

        let message = if !env.value.production {
            Some(format!(
                "environment `{name}` is not production, so it cannot name a `rehearsal` stand-in"
            ))
        } else {
            match production.get(stand_in.value.as_str()) {
                None => Some(format!(
                    "environment `{name}` names `{}` as its stand-in, which is not defined{}",
                    stand_in.value,
                    suggestion(
                        &production
                            .keys()
                            .map(|k| (*k).to_owned())
                            .collect::<Vec<_>>()
                    )
                )),
                Some(true) => Some(format!(
                    "environment `{name}` names `{}` as its stand-in, which is itself production",
                    stand_in.value
                )),
                Some(false) => None,
            }
        };
        if let Some(message) = message {
            problems.push(at(&stand_in.referenced, message));
        }
    }

    let mut by_name = BTreeMap::new();
    for (name, env) in raw.environments {
        let token_at = env.value.token.referenced;
        let token = match (env.value.token.value.label, env.value.token.value.serial) {
            (Some(label), None) if !label.is_empty() => TokenSelector::Label(label),
            (None, Some(serial)) if !serial.is_empty() => TokenSelector::Serial(serial),
            _ => {
                let message = format!(
                    "environment `{name}`: `token` needs exactly one of `label` or `serial`, \
                     not empty (a slot number is never used: it changes between processes)"
                );
                problems.push(problem_at(
                    text,
                    token_at.line(),
                    token_at.column(),
                    message,
                ));
                continue;
            }
        };

        if let PinSource::Env(var) = &env.value.pin
            && (var.is_empty() || var.contains('='))
        {
            let at = env.referenced;
            let message = format!("environment `{name}`: `pin.env` must name a variable");
            problems.push(problem_at(text, at.line(), at.column(), message));
        }

        let environment = Environment {
            name: name.clone(),
            description: env.value.description,
            module: env.value.module,
            token,
            pin: env.value.pin,
            production: env.value.production,
            rehearsal: env.value.rehearsal.map(|spanned| spanned.value),
        };
        by_name.insert(name, environment);
    }

    problems.sort_by_key(|problem| (problem.line, problem.column));
    (by_name, problems)
}

pub(crate) fn problem_from_yaml(error: &serde_saphyr::Error, text: &str) -> Problem {
    let bare = error.without_snippet();
    let message = strip_location(&bare.to_string());
    match bare.location() {
        Some(location) => problem_at(text, location.line(), location.column(), message),
        None => Problem {
            line: 1,
            column: 1,
            message,
            source_line: None,
        },
    }
}

/// The parser's message, lowercased at the start and without its own position suffix.
fn strip_location(message: &str) -> String {
    let message = message.lines().next().unwrap_or_default().trim();
    let message = match message.rfind(" at line ") {
        Some(index) => &message[..index],
        None => message,
    };
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::from("invalid YAML"),
    }
}

pub(crate) fn problem_at(text: &str, line: u64, column: u64, message: String) -> Problem {
    let source_line = usize::try_from(line)
        .ok()
        .and_then(|line| line.checked_sub(1))
        .and_then(|index| text.lines().nth(index))
        .map(str::to_owned);
    Problem {
        line,
        column,
        message,
        source_line,
    }
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (index, problem) in problems.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let path = path.display();
        out.push_str(&format!(
            "{path}:{}:{}: {}",
            problem.line, problem.column, problem.message
        ));
        if let Some(source) = &problem.source_line {
            let pad = " ".repeat(usize::try_from(problem.column.saturating_sub(1)).unwrap_or(0));
            out.push_str(&format!("\n    | {source}\n    | {pad}^"));
        }
    }
    out
}

fn suggestion(known: &[String]) -> String {
    if known.is_empty() {
        return String::new();
    }
    let list: Vec<String> = known.iter().map(|name| format!("`{name}`")).collect();
    format!(" (defined: {})", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
environments:
  production-primary:
    module: /opt/hsm/lib/libpkcs11.so
    token: { label: bank-prod-a }
    pin: { env: CUSTOS_PROD_PIN }
    production: true
    rehearsal: drill-primary
  drill-primary:
    module: /usr/lib/softhsm/libsofthsm2.so
    token: { label: custos-drill-primary }
    pin: { env: CUSTOS_DRILL_PIN }
    production: false
  lab:
    module: /usr/lib/softhsm/libsofthsm2.so
    token: { serial: 4f2a9c }
    pin: prompt
    production: false
  production-orphan:
    module: /opt/hsm/lib/libpkcs11.so
    token: { label: orphan }
    pin: prompt
    production: true
";

    fn parse_error(text: &str) -> String {
        Environments::parse("policies/environments.yaml", text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_valid_file_yields_every_environment_with_its_token_and_pin_source() {
        let envs = Environments::parse("environments.yaml", GOOD).unwrap();
        assert_eq!(
            envs.names().collect::<Vec<_>>(),
            [
                "drill-primary",
                "lab",
                "production-orphan",
                "production-primary"
            ]
        );

        let lab = envs.get("lab").unwrap();
        assert_eq!(lab.token, TokenSelector::Serial("4f2a9c".into()));
        assert_eq!(lab.pin, PinSource::Prompt);
        let drill = envs.get("drill-primary").unwrap();
        assert_eq!(drill.pin, PinSource::Env("CUSTOS_DRILL_PIN".into()));
    }

    #[test]
    fn a_drill_replaces_production_by_its_stand_in_and_keeps_other_environments() {
        let envs = Environments::parse("environments.yaml", GOOD).unwrap();
        assert_eq!(
            envs.resolve_for_drill("production-primary").unwrap().name,
            "drill-primary"
        );
        assert_eq!(envs.resolve_for_drill("lab").unwrap().name, "lab");
    }

    #[test]
    fn a_drill_refuses_a_production_environment_without_a_stand_in() {
        let envs = Environments::parse("environments.yaml", GOOD).unwrap();
        let error = envs.resolve_for_drill("production-orphan").unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment `production-orphan` is production and names no `rehearsal` stand-in in \
             environments.yaml: a drill never runs against it"
        );
    }

    #[test]
    fn an_unknown_environment_is_reported_with_the_defined_names() {
        let envs = Environments::parse("environments.yaml", GOOD).unwrap();
        let error = envs.require("drill-primay").unwrap_err().to_string();
        assert!(
            error.starts_with("environment `drill-primay` is not defined in"),
            "{error}"
        );
        assert!(error.contains("`drill-primary`"), "{error}");
    }

    #[test]
    fn a_duplicate_environment_is_an_error_with_its_position() {
        let text = GOOD.replace("  lab:", "  drill-primary:");
        let error = parse_error(&text);
        assert!(
            error.starts_with("policies/environments.yaml:13:3: "),
            "{error}"
        );
        assert!(error.contains("duplicate"), "{error}");
    }

    #[test]
    fn a_yaml_1_1_boolean_is_rejected() {
        let text = GOOD.replace("production: false\n  lab", "production: no\n  lab");
        let error = parse_error(&text);
        assert!(
            error.starts_with("policies/environments.yaml:12:17: "),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_field_is_rejected_with_its_position() {
        let text = GOOD.replace(
            "    pin: prompt\n    production: true",
            "    pin: prompt\n    slot: 0\n    production: true",
        );
        let error = parse_error(&text);
        assert!(
            error.starts_with("policies/environments.yaml:22:5: "),
            "{error}"
        );
        assert!(error.contains("slot"), "{error}");
    }

    #[test]
    fn every_bad_stand_in_and_token_is_reported_not_only_the_first() {
        let text = GOOD
            .replace("rehearsal: drill-primary", "rehearsal: drill-primay")
            .replace(
                "token: { serial: 4f2a9c }",
                "token: { label: a, serial: b }",
            );
        let error = parse_error(&text);
        let lines: Vec<&str> = error
            .lines()
            .filter(|line| !line.starts_with(' '))
            .collect();
        assert_eq!(lines.len(), 2, "{error}");
        assert!(lines[0].starts_with("policies/environments.yaml:7:16: environment `production-primary` names `drill-primay`"), "{error}");
        assert!(
            lines[1].starts_with(
                "policies/environments.yaml:15:12: environment `lab`: `token` needs exactly one"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_non_production_environment_cannot_name_a_stand_in() {
        let text = GOOD.replace(
            "    pin: prompt\n    production: false",
            "    pin: prompt\n    production: false\n    rehearsal: drill-primary",
        );
        let error = parse_error(&text);
        assert!(error.contains("`lab` is not production"), "{error}");
    }

    #[test]
    fn the_shipped_file_defines_the_environments_runbooks_use() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/environments.yaml");
        let envs = Environments::load(path).unwrap();
        for (production, drill) in [
            ("production-primary", "drill-primary"),
            ("production-secondary", "drill-secondary"),
            ("production-new", "drill-new"),
        ] {
            assert!(envs.get(production).unwrap().production);
            let stand_in = envs.resolve_for_drill(production).unwrap();
            assert_eq!(stand_in.name, drill);
            assert!(!stand_in.production);
            assert_eq!(
                stand_in.token,
                TokenSelector::Label(format!("custos-{drill}"))
            );
            assert_eq!(stand_in.pin, PinSource::Env("CUSTOS_DRILL_PIN".into()));
        }
    }
}
