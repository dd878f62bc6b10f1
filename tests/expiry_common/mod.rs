//! Fixtures shared by the `expiry_*` integration tests: a project directory with the shipped
//! notification policies and the certificate expiry runbook, certificates made with rcgen for
//! chosen validity periods, a SoftHSM2 token holding one of them, and the drill Maildir.

// A failed fixture should stop the test at once, as `unwrap` inside a `#[test]` does.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd,
};
use tempfile::TempDir;

use crate::support::cli::{Run, custos};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A year, month and day.
pub type Ymd = (i32, u8, u8);

/// A temporary project: `policies/` (shipped notify, escalation, environments and templates),
/// `runbooks/certificate-expiry.yaml`, a store, and the drill Maildir beside `policies/`.
pub struct Project {
    pub dir: TempDir,
    /// `SOFTHSM2_CONF` of the project's tokens, once made.
    pub softhsm: Option<PathBuf>,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let policies = dir.path().join("policies");
        std::fs::create_dir_all(policies.join("templates")).unwrap();
        std::fs::create_dir_all(policies.join("certs")).unwrap();
        std::fs::create_dir_all(dir.path().join("runbooks")).unwrap();
        for file in ["notify.yaml", "escalation.yaml", "environments.yaml"] {
            copy(&format!("policies/{file}"), &policies.join(file));
        }
        for entry in std::fs::read_dir(Path::new(ROOT).join("policies/templates")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(
                &path,
                policies.join("templates").join(path.file_name().unwrap()),
            )
            .unwrap();
        }
        copy(
            "runbooks/certificate-expiry.yaml",
            &dir.path().join("runbooks/certificate-expiry.yaml"),
        );
        Project { dir, softhsm: None }
    }

    pub fn policies(&self) -> PathBuf {
        self.dir.path().join("policies")
    }

    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
        std::fs::write(self.policies().join(relative), contents).unwrap();
    }

    /// Runs `custos expiry check --drill --now NOW` and any further arguments.
    pub fn check(&self, now: &str, more: &[&str]) -> Run {
        let mut args = vec!["--drill"];
        args.extend_from_slice(more);
        self.preview(now, &args)
    }

    /// Runs `custos expiry check --now NOW` and any further arguments, without `--drill`.
    pub fn preview(&self, now: &str, more: &[&str]) -> Run {
        let mut run = custos()
            .arg("--policies")
            .arg(self.policies())
            .arg("--store")
            .arg(self.dir.path().join("incidents.sqlite"))
            .args(["expiry", "check", "--now", now])
            .args(more)
            .env("CUSTOS_DRILL_PIN", "123456");
        if let Some(config) = &self.softhsm {
            run = run.env("SOFTHSM2_CONF", config);
        }
        run.run()
    }

    /// The subjects of the mail in the drill Maildir, sorted.
    pub fn mail_subjects(&self) -> Vec<String> {
        let new = self.dir.path().join("drill-mailbox/new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return Vec::new();
        };
        let mut subjects: Vec<String> = entries
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
            .map(|text| subject(&text))
            .collect();
        subjects.sort();
        subjects
    }

    /// Makes the drill tokens, once, and puts `der` on `custos-drill-primary` labelled `label`.
    pub fn token_certificate(&mut self, label: &str, der: &[u8]) {
        let config = match &self.softhsm {
            Some(config) => config.clone(),
            None => self.tokens(),
        };

        let file = self.dir.path().join(format!("{label}.der"));
        std::fs::write(&file, der).unwrap();
        let output = Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", &config)
            .args(["--module", MODULE, "--token-label", "custos-drill-primary"])
            .args(["--login", "--pin", "123456", "--write-object"])
            .arg(&file)
            .args(["--type", "cert", "--label", label])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.softhsm = Some(config);
    }

    /// Makes the drill tokens of `scripts/rehearsal-tokens`; returns their `SOFTHSM2_CONF`.
    fn tokens(&self) -> PathBuf {
        let home = self.dir.path().join("home");
        let output = Command::new(Path::new(ROOT).join("scripts/rehearsal-tokens"))
            .env("CUSTOS_HOME", &home)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        home.join("softhsm/softhsm2.conf")
    }
}

/// The `Subject` header of a message, unfolded.
fn subject(message: &str) -> String {
    let mut lines = message.lines().skip_while(|l| !l.starts_with("Subject: "));
    let mut subject = lines
        .next()
        .unwrap()
        .trim_start_matches("Subject: ")
        .to_owned();
    for folded in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        subject.push(' ');
        subject.push_str(folded.trim_start());
    }
    subject
}

fn copy(relative: &str, to: &Path) {
    std::fs::copy(Path::new(ROOT).join(relative), to).unwrap();
}

/// A self-signed CA certificate and its issuer, valid until `until`.
pub fn ca(name: &str, until: Ymd) -> (Certificate, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = params(name, until);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let certificate = params.self_signed(&key).unwrap();
    (certificate, Issuer::new(params, key))
}

/// A certificate signed by `issuer`, valid until `until`.
pub fn leaf(name: &str, until: Ymd, issuer: &Issuer<'_, KeyPair>) -> Certificate {
    let key = KeyPair::generate().unwrap();
    params(name, until).signed_by(&key, issuer).unwrap()
}

/// A CA certificate signed by `issuer`, valid until `until`, and its own issuer.
pub fn intermediate(
    name: &str,
    until: Ymd,
    issuer: &Issuer<'_, KeyPair>,
) -> (Certificate, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = params(name, until);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let certificate = params.signed_by(&key, issuer).unwrap();
    (certificate, Issuer::new(params, key))
}

fn params(name: &str, (year, month, day): Ymd) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.not_before = date_time_ymd(2026, 1, 1);
    params.not_after = date_time_ymd(year, month, day);
    params
}

/// The bands and expiry alert of the shipped inventory, then `rest`.
pub fn inventory(rest: &str) -> String {
    format!(
        "\
bands:
  - {{ days: 90, severity: low, notify: operations, template: expiry-notice }}
  - {{ days: 60, severity: medium, notify: operations, template: expiry-notice }}
  - {{ days: 30, severity: high, notify: on-call, template: expiry-warning }}
  - {{ days: 7, severity: critical, notify: ciso-and-on-call, template: expiry-final-warning }}
expired: {{ severity: critical, notify: ciso-and-on-call, template: expiry-expired }}
{rest}"
    )
}

/// The line of the table that starts with `object`.
pub fn line<'a>(run: &'a Run, object: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|line| line.starts_with(&format!("{object} ")))
        .unwrap_or_else(|| panic!("no line for `{object}` in:\n{}", run.stdout))
}

/// The words of a table line, runs of spaces being separators.
pub fn words(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect()
}
