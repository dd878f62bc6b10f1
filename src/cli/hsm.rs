//! `custos hsm check ENV`: what the health probe of one environment found, for a person at an
//! 80-column terminal.
//!
//! The probe itself is [`custos::hsm::Hsm::check`]; this file only lays its report out, and
//! supplies [`TerminalSecrets`], which asks for a PIN at the terminal when the environment says
//! `pin: prompt`. A check does not substitute a drill stand-in: it reads the environment it is
//! given and changes nothing on the token except a session key it destroys.

use std::io::Write;
use std::time::Duration;

use custos::hsm::health::{HealthReport, Step, TokenState};
use custos::hsm::{EnvSecrets, HsmError, HsmGuard, Secrets, Verdict};
use custos::policy::environment::{Environments, PinSource};
use inquire::{Password, PasswordDisplayMode};
use zeroize::Zeroizing;

/// The width the report fits in.
const WIDTH: usize = 80;
/// The width of the name column, before the values.
const NAME: usize = 14;
/// How long a check waits for the module before giving up.
const TIMEOUT: Duration = Duration::from_secs(30);

/// PINs from the variable an environment names, or typed at the terminal (not echoed) when it
/// says `pin: prompt`; key components typed in hex, likewise hidden.
pub struct TerminalSecrets {
    from_env: EnvSecrets,
    prompted: Vec<String>,
}

impl TerminalSecrets {
    /// Learns which environments are prompted for from `environments`.
    pub fn new(environments: &Environments) -> Self {
        let prompted = environments
            .names()
            .filter(|name| {
                environments
                    .get(name)
                    .is_some_and(|e| e.pin == PinSource::Prompt)
            })
            .map(str::to_owned)
            .collect();
        Self {
            from_env: EnvSecrets::new(environments),
            prompted,
        }
    }
}

fn hidden(message: &str) -> Result<Zeroizing<String>, String> {
    Password::new(message)
        .without_confirmation()
        .with_display_mode(PasswordDisplayMode::Hidden)
        .prompt()
        .map(Zeroizing::new)
        .map_err(|error| error.to_string())
}

impl Secrets for TerminalSecrets {
    fn pin(&mut self, environment: &str) -> Result<Zeroizing<String>, HsmError> {
        if !self.prompted.iter().any(|name| name == environment) {
            return self.from_env.pin(environment);
        }
        // The token layer never offers a rejected PIN again: only a different one is tried.
        let question = if custos::hsm::token::rejected_earlier(environment) {
            format!(
                "user PIN for `{environment}` (the last one was rejected and is not tried again; \
                 the token counts tries):"
            )
        } else {
            format!("user PIN for `{environment}`:")
        };
        hidden(&question).map_err(|reason| HsmError::PinUnavailable {
            environment: environment.to_owned(),
            reason,
        })
    }

    fn component(
        &mut self,
        label: &str,
        index: usize,
        count: usize,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let unavailable = |reason: String| HsmError::ComponentUnavailable {
            label: label.to_owned(),
            index,
            count,
            reason,
        };
        let typed = hidden(&format!(
            "component {index} of {count} for `{label}` (hex):"
        ))
        .map_err(unavailable)?;
        let clean: Zeroizing<String> =
            Zeroizing::new(typed.chars().filter(|c| !c.is_whitespace()).collect());
        hex::decode(clean.as_str())
            .map(Zeroizing::new)
            .map_err(|_| unavailable(String::from("it is not hexadecimal")))
    }
}

/// Probes the environment `name` and prints the report; `Ok(false)` when the verdict is failed.
pub fn check(
    environments: &Environments,
    name: &str,
    secrets: &mut dyn Secrets,
) -> anyhow::Result<bool> {
    let environment = environments.require(name)?;
    // The guard finalises the module however this function returns.
    let mut hsm = HsmGuard::new();
    let report = hsm.check(environment, secrets, TIMEOUT)?;
    hsm.close()?;

    let mut text = render(&report);
    if environment.production {
        text.push_str("note: this is a production environment; a drill uses its stand-in\n");
    }
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(report.verdict != Verdict::Failed)
}

/// The report as lines no wider than 80 columns.
pub fn render(report: &HealthReport) -> String {
    let mut out = format!("custos hsm check {}\n", report.environment);
    let mut row = |name: &str, value: &str| out.push_str(&wrap(name, value));

    row("module", &report.module.display().to_string());
    row("library", report.library.as_deref().unwrap_or("not loaded"));
    row(
        "slots",
        &report
            .slots
            .map_or_else(|| String::from("unknown"), |n| n.to_string()),
    );
    match &report.token {
        Some(token) => {
            row(
                "token",
                &format!("found: `{}`, serial {}", token.label, token.serial),
            );
            row("model", &format!("{} {}", token.manufacturer, token.model));
            row("flags", &flags(token));
            let memory = token.free_memory.map_or_else(
                || String::from("not reported"),
                |bytes| format!("{bytes} bytes of private memory free"),
            );
            row("memory", &memory);
        }
        None if report.slots.is_none() => row("token", "not searched"),
        None => row("token", "not found"),
    }
    row("session", &step(&report.session));
    row("login", &step(&report.login));
    row("canary", &step(&report.canary));

    row("verdict", report.verdict.as_str());
    row("details", &report.details.join("; "));
    out
}

fn flags(token: &TokenState) -> String {
    let mut words = vec![
        if token.initialized {
            "initialised"
        } else {
            "NOT initialised"
        },
        if token.user_pin_initialized {
            "user PIN set"
        } else {
            "NO user PIN"
        },
    ];
    if token.pin_locked {
        words.push("PIN LOCKED");
    } else if token.pin_final_try {
        words.push("one PIN try left");
    } else if token.pin_count_low {
        words.push("a wrong PIN was tried");
    } else {
        words.push("no wrong PIN tries");
    }
    words.join(", ")
}

fn step(step: &Step) -> String {
    match step {
        Step::Passed(what) => format!("ok, {what}"),
        Step::Failed(why) => format!("FAILED: {why}"),
        Step::Skipped(why) => format!("skipped: {why}"),
    }
}

/// `name` in its column, then `value` wrapped at word boundaries to the terminal width.
fn wrap(name: &str, value: &str) -> String {
    let room = WIDTH - NAME - 2;
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in value.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.len() > room {
            let cut = line
                .char_indices()
                .map(|(i, _)| i)
                .take_while(|i| *i <= room)
                .last();
            let rest = line.split_off(cut.unwrap_or(line.len()));
            lines.push(std::mem::replace(&mut line, rest));
        }
    }
    lines.push(line);

    let mut out = String::new();
    for (index, text) in lines.iter().enumerate() {
        let label = if index == 0 { name } else { "" };
        out.push_str(&format!("  {label:<NAME$}{text}\n"));
    }
    out
}
