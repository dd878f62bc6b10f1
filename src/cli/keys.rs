//! `custos keys graph` and `custos keys check`: the key register drawn, and compared with a token.
//!
//! A check reads the token of one environment through the HSM layer (`hsm.find` for every object,
//! secret keys with their ECB check value and attributes; `hsm.kcv` where the register keeps a
//! CMAC value) and compares it with the register; any object the register does not know, of any
//! class, is drift. The token of a drill environment stands for the production
//! environments that name it as their `rehearsal` stand-in, so `custos keys check drill-primary`
//! expects the keys the register places in `production-primary`; `--rehearsal` lets the command
//! name the production environment and checks its stand-in instead. Exit codes: 0 clean, 1 drift
//! (or the HSM could not be read), 2 an unusable register, environment or argument.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use custos::hsm::HsmGuard;
use custos::policy::environment::{Environment, Environments};
use custos::policy::keys::drift::{self, Finding, Object};
use custos::policy::keys::{KEYS, Known, Register, picture};
use jiff::civil::Date;
use serde_json::{Map, Value, json};

use super::{FAILED, INVALID};

/// How long a check waits for each HSM action.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The width the report fits in.
const WIDTH: usize = 80;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Draw the key hierarchy (parent to child), coloured by lifecycle state, with lifetimes.
    Graph {
        /// The picture's language.
        #[arg(long, value_enum, default_value_t = Format::Dot)]
        format: Format,
        /// Count the days left as of this date (YYYY-MM-DD) instead of today (UTC).
        #[arg(long, value_name = "DATE")]
        today: Option<Date>,
    },
    /// Compare the register with the live token of an environment; exit 1 on any drift.
    Check {
        /// The environment whose token is read, as named in `policies/environments.yaml`.
        environment: String,
        /// Name a production environment and read its drill stand-in instead.
        #[arg(long)]
        rehearsal: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// Graphviz: `custos keys graph | dot -Tsvg > keys.svg`.
    Dot,
    /// Mermaid flowchart, for Markdown pages that render it.
    Mermaid,
}

pub fn run(command: &Command, policies: &Path) -> anyhow::Result<ExitCode> {
    match command {
        Command::Graph { format, today } => graph(*format, *today, policies),
        Command::Check {
            environment,
            rehearsal,
            json,
        } => check(environment, *rehearsal, *json, policies),
    }
}

/// The register, or the problems printed and the exit code to return.
fn register(policies: &Path) -> Result<Register, ExitCode> {
    let known = Known::from_policies(policies).map_err(|error| {
        errln!("{error}");
        ExitCode::from(INVALID)
    })?;
    Register::load(policies.join(KEYS), &known).map_err(|error| {
        errln!("{error}");
        errln!("custos: the key register cannot be used");
        ExitCode::from(INVALID)
    })
}

fn graph(format: Format, today: Option<Date>, policies: &Path) -> anyhow::Result<ExitCode> {
    let register = match register(policies) {
        Ok(register) => register,
        Err(code) => return Ok(code),
    };
    let today = today.unwrap_or_else(|| {
        jiff::tz::TimeZone::UTC
            .to_datetime(jiff::Timestamp::now())
            .date()
    });

    let picture = match format {
        Format::Dot => picture::dot(&register, today),
        Format::Mermaid => picture::mermaid(&register, today),
    };
    out!("{picture}");
    Ok(ExitCode::SUCCESS)
}

fn check(name: &str, rehearsal: bool, json: bool, policies: &Path) -> anyhow::Result<ExitCode> {
    let register = match register(policies) {
        Ok(register) => register,
        Err(code) => return Ok(code),
    };
    let environments = Environments::load(policies.join(custos::policy::ENVIRONMENTS))?;
    let live = if rehearsal {
        environments.resolve_for_drill(name)
    } else {
        environments.require(name)
    };
    let live = match live {
        Ok(live) => live,
        Err(error) => {
            errln!("custos: {error}");
            return Ok(ExitCode::from(INVALID));
        }
    };
    let stands_for = stands_for(&environments, live);

    let objects = read_token(&register, &stands_for, live, &environments)?;
    let (objects, cmac) = objects;
    let findings = drift::compare(&register, &stands_for, &objects, &cmac);
    let expected = drift::expected(&register, &stands_for);

    let out = if json {
        let report = to_json(name, live, &stands_for, &expected, &objects, &findings);
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    } else {
        render(&Summary {
            asked: name,
            live,
            stands_for: &stands_for,
            register: &register,
            expected: &expected,
            objects: &objects,
            findings: &findings,
        })
    };
    out!("{out}");
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    })
}

/// The register environments the token of `live` holds keys for: its own, and those of the
/// production environments it is the drill stand-in of.
fn stands_for(environments: &Environments, live: &Environment) -> Vec<String> {
    let mut names = vec![live.name.clone()];
    for name in environments.names() {
        let stand_in = environments
            .get(name)
            .and_then(|environment| environment.rehearsal.as_deref());
        if stand_in == Some(live.name.as_str()) {
            names.push(name.to_owned());
        }
    }
    names
}

type TokenView = (Vec<Object>, BTreeMap<String, String>);

/// Every object on the token of `live`, and the CMAC values the register needs.
fn read_token(
    register: &Register,
    stands_for: &[String],
    live: &Environment,
    environments: &Environments,
) -> anyhow::Result<TokenView> {
    let mut secrets = super::hsm::TerminalSecrets::new(environments);
    // The guard finalises the module however this function returns, `?` included.
    let mut hsm = HsmGuard::new();
    let mut params = Map::new();
    params.insert("environment".into(), json!(live.name));
    let found = hsm.run(
        "hsm.find",
        &params,
        environments,
        &mut secrets,
        false,
        TIMEOUT,
    )?;
    let objects: Vec<Object> = found["objects"]
        .as_array()
        .map(|list| list.iter().map(Object::from_find).collect())
        .unwrap_or_default();

    let mut cmac = BTreeMap::new();
    for key in drift::expected(register, stands_for) {
        let Some(kcv) = key.kcv.as_ref().filter(|kcv| kcv.method.as_str() == "cmac") else {
            continue;
        };
        let carrying = objects
            .iter()
            .filter(|o| o.is_secret_key() && o.label == key.label);
        if carrying.count() != 1 {
            continue;
        }
        let mut params = Map::new();
        params.insert("environment".into(), json!(live.name));
        params.insert("label".into(), json!(key.label));
        params.insert("method".into(), json!("cmac"));
        params.insert("length".into(), json!(kcv.length()));
        let out = hsm.run(
            "hsm.kcv",
            &params,
            environments,
            &mut secrets,
            false,
            TIMEOUT,
        );
        match out {
            Ok(out) => {
                let value = out["kcv"].as_str().unwrap_or_default().to_owned();
                cmac.insert(key.label.clone(), value);
            }
            Err(error) => tracing::debug!(label = key.label, "no CMAC KCV: {error}"),
        }
    }
    hsm.close()?;
    Ok((objects, cmac))
}

/// What the text report is made from.
struct Summary<'a> {
    asked: &'a str,
    live: &'a Environment,
    stands_for: &'a [String],
    register: &'a Register,
    expected: &'a [&'a custos::policy::keys::Key],
    objects: &'a [Object],
    findings: &'a [Finding],
}

fn render(summary: &Summary<'_>) -> String {
    let mut out = format!("custos keys check {}\n", summary.asked);
    let mut places = summary.stands_for.to_vec();
    places.sort();
    out.push_str(&row(
        "register",
        "",
        &format!(
            "{}: {} in {}",
            summary.register.path().display(),
            plural(summary.expected.len(), "key"),
            places.join(", ")
        ),
    ));
    let secret = summary.objects.iter().filter(|o| o.is_secret_key()).count();
    let others = summary.objects.len() - secret;
    let others = if others == 0 {
        String::new()
    } else {
        format!(", {}", plural(others, "other object"))
    };
    out.push_str(&row(
        "token",
        "",
        &format!(
            "{} ({}): {}{others}",
            summary.live.name,
            summary.live.token,
            plural(secret, "secret key")
        ),
    ));
    out.push('\n');

    for key in summary.expected {
        if summary.findings.iter().any(|f| f.subject() == key.name) {
            continue;
        }
        let kcv = key.kcv.as_ref().map_or_else(
            || String::from("no KCV on record"),
            |kcv| format!("KCV {kcv}"),
        );
        let what = if key.state.on_token() {
            format!("{} {}, {kcv}", key.purpose.as_str(), key.algorithm.as_str())
        } else {
            String::from("destroyed, and absent")
        };
        out.push_str(&row("ok", &subject(&key.name), &what));
    }
    for finding in summary.findings {
        let kind = finding.kind().to_ascii_uppercase();
        out.push_str(&row(&kind, &subject(finding.subject()), &finding.detail()));
    }
    out.push('\n');

    if summary.findings.is_empty() {
        out.push_str(&format!(
            "clean: the token matches the register ({})\n",
            plural(summary.expected.len(), "key")
        ));
        return out;
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for finding in summary.findings {
        *counts.entry(finding.kind()).or_default() += 1;
    }
    let counts: Vec<String> = counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    out.push_str(&format!(
        "drift: {}: {}\n",
        plural(summary.findings.len(), "finding"),
        counts.join(", ")
    ));
    out
}

/// A key name in its column: padded to 17, or followed by one space when longer.
fn subject(name: &str) -> String {
    format!("{name:<16} ")
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `name` in the margin, then `lead` (such as a key name in its column), then `value` wrapped
/// at spaces to 80 columns, continued under the start of `value`.
fn row(name: &str, lead: &str, value: &str) -> String {
    const MARGIN: usize = 16;
    let indent = MARGIN + lead.len();
    let room = WIDTH.saturating_sub(indent).max(20);
    let mut lines: Vec<String> = vec![String::new()];
    for word in value.split(' ').filter(|word| !word.is_empty()) {
        let used = lines.last().map_or(0, String::len);
        if used > 0 && used + 1 + word.len() > room {
            lines.push(String::new());
        }
        if let Some(line) = lines.last_mut() {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }

    let mut out = String::new();
    for (index, text) in lines.iter().enumerate() {
        if index == 0 {
            out.push_str(&format!(
                "  {name:<width$}{lead}{text}\n",
                width = MARGIN - 2
            ));
        } else {
            out.push_str(&format!("{:indent$}{text}\n", ""));
        }
    }
    out
}

fn to_json(
    asked: &str,
    live: &Environment,
    stands_for: &[String],
    expected: &[&custos::policy::keys::Key],
    objects: &[Object],
    findings: &[Finding],
) -> Value {
    let keys: Vec<Value> = expected
        .iter()
        .map(|key| {
            let drift = findings.iter().any(|f| f.subject() == key.name);
            json!({
                "name": key.name,
                "label": key.label,
                "state": key.state.as_str(),
                "status": if drift { "drift" } else { "ok" },
            })
        })
        .collect();
    json!({
        "environment": asked,
        "token_environment": live.name,
        "register_environments": stands_for,
        "clean": findings.is_empty(),
        "token_keys": objects.iter().filter(|o| o.is_secret_key()).count(),
        "token_objects": objects.len(),
        "keys": keys,
        "findings": findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
    })
}
