//! The notification policies in `policies/`: the mail server and recipient groups
//! (`notify.yaml`), the message templates (`templates/NAME.yaml`) and the escalation rules
//! (`escalation.yaml`).
//!
//! Every file is optional. Without `notify.yaml` custos knows no mail server and no group, and
//! says so instead of queueing; without `escalation.yaml` nothing escalates. Credentials are
//! never in a file: `notify.yaml` names the environment variables that hold them, and they are
//! read only when a message is sent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::PolicyError;
use super::escalation::Escalation;
use super::template::MessageTemplate;
use super::yaml::{self, pos};
use crate::runbook::{Diagnostic, Report, parse_duration};

/// How long one SMTP command may take when `notify.yaml` does not say.
const DEFAULT_TIMEOUT: SignedDuration = SignedDuration::from_secs(30);

/// Everything custos needs to tell people about incidents.
#[derive(Debug)]
pub struct Policy {
    /// The directory the policies were read from.
    pub dir: PathBuf,
    /// The mail server, sender, groups and drill delivery; `None` without `notify.yaml`.
    pub mail: Option<Mail>,
    /// The message templates by name; `None` without a `templates/` directory.
    pub templates: Option<BTreeMap<String, MessageTemplate>>,
    /// The escalation rules and deadlines; empty without `escalation.yaml`.
    pub escalation: Escalation,
}

/// What `notify.yaml` says.
#[derive(Debug)]
pub struct Mail {
    pub smtp: Smtp,
    pub sender: Recipient,
    pub groups: BTreeMap<String, Vec<Recipient>>,
    pub drill: Option<Drill>,
}

/// The mail server custos hands messages to.
#[derive(Clone, Debug)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// The environment variable holding the user name, if the server wants a login.
    pub username_env: Option<String>,
    /// The environment variable holding the password.
    pub password_env: Option<String>,
    /// How long one SMTP command may take.
    pub timeout: SignedDuration,
    /// A PEM file of CA certificates trusted besides the public roots, for a relay whose
    /// certificate an internal CA issued.
    pub ca_file: Option<PathBuf>,
}

/// How the connection to the mail server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which is required.
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No encryption; allowed only for a server on this machine.
    None,
}

/// A person or mailbox: display name and address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub name: String,
    pub address: String,
}

impl Recipient {
    /// `Name <address>`, as mail headers write it.
    pub fn mailbox(&self) -> String {
        let name = self.name.replace(['"', '\\'], "");
        format!("\"{name}\" <{}>", self.address)
    }
}

/// Where drill mail goes instead of the real groups.
#[derive(Clone, Debug)]
pub struct Drill {
    pub recipients: Vec<Recipient>,
    /// A local Maildir that takes drill mail without any server; it wins over `recipients`.
    pub mailbox: Option<PathBuf>,
}

impl Policy {
    /// Reads the policies in `dir`; absent files give a policy that delivers nowhere.
    pub fn load(dir: &Path) -> Result<Policy, PolicyError> {
        let mut reports = Vec::new();

        let mail = match load_mail(dir) {
            Ok(mail) => mail,
            Err(report) => {
                reports.push(report);
                None
            }
        };
        let templates = match super::template::load_all(&dir.join("templates")) {
            Ok(templates) => templates,
            Err(mut found) => {
                reports.append(&mut found);
                None
            }
        };
        let escalation = match Escalation::load(&dir.join("escalation.yaml")) {
            Ok(escalation) => escalation,
            Err(report) => {
                reports.push(report);
                Escalation::default()
            }
        };

        if !reports.is_empty() {
            return Err(PolicyError { reports });
        }
        Ok(Policy {
            dir: dir.to_owned(),
            mail,
            templates,
            escalation,
        })
    }

    /// The recipient groups `notify.yaml` defines; `None` without it.
    pub fn groups(&self) -> Option<BTreeSet<String>> {
        let mail = self.mail.as_ref()?;
        Some(mail.groups.keys().cloned().collect())
    }

    /// The templates `templates/` holds; `None` without it.
    pub fn template_names(&self) -> Option<BTreeSet<String>> {
        let templates = self.templates.as_ref()?;
        Some(templates.keys().cloned().collect())
    }

    /// A sentence for the user when this policy cannot deliver anything.
    pub fn warning(&self) -> Option<String> {
        if self.mail.is_some() {
            return None;
        }
        Some(format!(
            "there is no `{}`: notifications are neither queued nor sent",
            self.notify_path().display()
        ))
    }

    /// `notify.yaml` in the policy directory.
    pub fn notify_path(&self) -> PathBuf {
        self.dir.join("notify.yaml")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMail {
    smtp: RawSmtp,
    sender: RawRecipient,
    groups: BTreeMap<String, Vec<RawRecipient>>,
    drill: Option<RawDrill>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: Spanned<String>,
    port: u16,
    security: Spanned<String>,
    username_env: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    ca_file: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipient {
    name: String,
    address: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrill {
    #[serde(default)]
    recipients: Vec<RawRecipient>,
    mailbox: Option<Spanned<PathBuf>>,
}

fn load_mail(dir: &Path) -> Result<Option<Mail>, Report> {
    let path = dir.join("notify.yaml");
    let Some(parsed) = yaml::read::<RawMail>(&path)? else {
        return Ok(None);
    };
    let mut problems = Vec::new();
    let mail = build_mail(dir, parsed.value, &mut problems);
    if problems.is_empty() {
        Ok(Some(mail))
    } else {
        Err(Report::new(&path, parsed.source, problems))
    }
}

fn build_mail(dir: &Path, raw: RawMail, problems: &mut Vec<Diagnostic>) -> Mail {
    let smtp = build_smtp(dir, raw.smtp, problems);
    let sender = recipient(raw.sender, problems);

    let mut groups = BTreeMap::new();
    for (name, members) in raw.groups {
        let members: Vec<Recipient> = members
            .into_iter()
            .map(|member| recipient(member, problems))
            .collect();
        if members.is_empty() {
            problems.push(Diagnostic::new(
                None,
                format!(
                    "group `{name}` has no recipients; a notification to it would reach nobody"
                ),
            ));
        }
        groups.insert(name, members);
    }

    let drill = raw.drill.map(|drill| Drill {
        recipients: drill
            .recipients
            .into_iter()
            .map(|member| recipient(member, problems))
            .collect(),
        mailbox: drill.mailbox.map(|mailbox| dir.join(mailbox.value)),
    });
    if drill
        .as_ref()
        .is_some_and(|d| d.recipients.is_empty() && d.mailbox.is_none())
    {
        problems.push(Diagnostic::new(
            None,
            "`drill` names neither `recipients` nor a `mailbox`; drill mail would go nowhere",
        ));
    }

    Mail {
        smtp,
        sender,
        groups,
        drill,
    }
}

fn build_smtp(dir: &Path, raw: RawSmtp, problems: &mut Vec<Diagnostic>) -> Smtp {
    let security = match raw.security.value.as_str() {
        "starttls" => Security::Starttls,
        "tls" => Security::Tls,
        "none" => Security::None,
        other => {
            problems.push(Diagnostic::at(
                pos(&raw.security),
                format!("`{other}` is not a kind of SMTP security; write starttls, tls or none"),
            ));
            Security::Starttls
        }
    };
    if security == Security::None && !is_loopback(&raw.host.value) {
        problems.push(
            Diagnostic::at(
                pos(&raw.security),
                format!(
                    "`security: none` sends mail and passwords in clear text, so it is allowed \
                     only for a server on this machine, not `{}`",
                    raw.host.value
                ),
            )
            .with_hint("use `starttls` (port 587) or `tls` (port 465)"),
        );
    }

    let username_env = raw.username_env.map(|name| name.value);
    let password_env = raw.password_env.map(|name| name.value);
    if username_env.is_some() != password_env.is_some() {
        problems.push(Diagnostic::at(
            pos(&raw.host),
            "`smtp` needs both `username_env` and `password_env`, or neither",
        ));
    }

    let timeout = match &raw.timeout {
        Some(text) => parse_duration(&text.value).unwrap_or_else(|reason| {
            problems.push(Diagnostic::at(
                pos(text),
                format!("`timeout: {}` is not usable: {reason}", text.value),
            ));
            DEFAULT_TIMEOUT
        }),
        None => DEFAULT_TIMEOUT,
    };

    let ca_file = raw.ca_file.and_then(|file| {
        let problem = ca_problem(dir, &file.value, security);
        if let Some(message) = problem {
            problems.push(Diagnostic::at(pos(&file), message));
            return None;
        }
        Some(dir.join(file.value))
    });

    Smtp {
        host: raw.host.value,
        port: raw.port,
        security,
        username_env,
        password_env,
        timeout,
        ca_file,
    }
}

/// What is wrong with `ca_file`, if anything: it must be readable PEM holding at least one
/// certificate, and only a TLS connection uses it.
fn ca_problem(dir: &Path, file: &Path, security: Security) -> Option<String> {
    if security == Security::None {
        return Some(String::from(
            "`ca_file` names a CA for TLS, but `security: none` uses no TLS",
        ));
    }
    let path = dir.join(file);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) => {
            return Some(format!(
                "cannot read `ca_file` `{}`: {error}",
                path.display()
            ));
        }
    };

    let mut certificates = 0;
    for block in x509_parser::pem::Pem::iter_from_buffer(&bytes) {
        let parsed = block.map_err(|e| e.to_string()).and_then(|block| {
            let certificate = block.label == "CERTIFICATE";
            if certificate {
                block.parse_x509().map_err(|e| e.to_string())?;
            }
            Ok(certificate)
        });
        match parsed {
            Ok(true) => certificates += 1,
            Ok(false) => {}
            Err(reason) => {
                return Some(format!(
                    "`ca_file` `{}` is not valid PEM: {reason}",
                    path.display()
                ));
            }
        }
    }
    (certificates == 0).then(|| {
        format!(
            "`ca_file` `{}` holds no PEM `CERTIFICATE` block",
            path.display()
        )
    })
}

fn recipient(raw: RawRecipient, problems: &mut Vec<Diagnostic>) -> Recipient {
    if let Err(error) = raw.address.value.parse::<lettre::Address>() {
        problems.push(Diagnostic::at(
            pos(&raw.address),
            format!("`{}` is not a mail address: {error}", raw.address.value),
        ));
    }
    Recipient {
        name: raw.name,
        address: raw.address.value,
    }
}

/// Whether `host` names this machine.
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised_and_others_are_not() {
        for host in ["localhost", "127.0.0.1", "127.5.0.9", "::1", "[::1]"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["smtp.bank.example", "10.0.0.1", "localhost.evil.example"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn a_display_name_cannot_break_out_of_its_quotes() {
        let recipient = Recipient {
            name: "Chair \"of\" the board".to_owned(),
            address: "chair@bank.example".to_owned(),
        };
        assert_eq!(
            recipient.mailbox(),
            "\"Chair of the board\" <chair@bank.example>"
        );
    }
}
