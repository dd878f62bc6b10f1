//! A project directory for key register tests: the shipped environments and key register, and,
//! when asked, fresh drill tokens made by `scripts/rehearsal-tokens` in the same directory.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::cli::{Run, custos, repo};

/// The drill PIN the script uses by default.
pub const PIN: &str = "123456";
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A temporary directory with `policies/` (copies of the shipped files) and perhaps tokens.
pub struct Project {
    pub dir: tempfile::TempDir,
    config: Option<PathBuf>,
}

impl Project {
    /// The shipped `environments.yaml` and `keys.yaml`, no tokens.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let policies = dir.path().join("policies");
        std::fs::create_dir_all(&policies).unwrap();
        for file in ["environments.yaml", "keys.yaml"] {
            std::fs::copy(repo().join("policies").join(file), policies.join(file)).unwrap();
        }
        Self { dir, config: None }
    }

    /// The shipped policies and the drill tokens, made as the README's first command makes them.
    pub fn with_tokens() -> Self {
        let mut project = Self::new();
        let output = Command::new(repo().join("scripts/rehearsal-tokens"))
            .env("CUSTOS_HOME", project.dir.path())
            .env("CUSTOS_DRILL_PIN", PIN)
            .output()
            .expect("scripts/rehearsal-tokens runs (apt-get install -y softhsm2 opensc)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().unwrap();
        let config = last.strip_prefix("export SOFTHSM2_CONF=").unwrap();
        project.config = Some(PathBuf::from(config));
        project
    }

    /// Copies every shipped policy file (roster, notifications, templates...) into the project.
    pub fn with_all_policies(self) -> Self {
        copy_dir(&repo().join("policies"), &self.path().join("policies"));
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn register(&self) -> PathBuf {
        self.path().join("policies/keys.yaml")
    }

    /// Replaces `from` by `to` in the project's key register (exactly once).
    pub fn edit_register(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.register()).unwrap();
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` once in the register"
        );
        std::fs::write(self.register(), text.replace(from, to)).unwrap();
    }

    /// Runs custos in the project directory, with its tokens and the drill PIN.
    pub fn custos(&self, args: &[&str]) -> Run {
        let mut command = custos()
            .current_dir(self.path())
            .env("CUSTOS_STORE", self.path().join("incidents.sqlite"))
            .env("CUSTOS_DRILL_PIN", PIN)
            // The drill roster's passphrase of `alice`, who opens runbooks that exclude the
            // initiator from their approvals and so must authenticate.
            .env("CUSTOS_PASSPHRASE_ALICE", "alice-drill-passphrase")
            .args(args);
        if let Some(config) = &self.config {
            command = command.env("SOFTHSM2_CONF", config);
        }
        command.run()
    }

    /// Runs pkcs11-tool, logged in to the drill token `token`; panics if it fails.
    pub fn p11(&self, token: &str, args: &[&str]) {
        let config = self.config.as_ref().expect("the project has tokens");
        let output = Command::new("pkcs11-tool")
            .args([
                "--module",
                MODULE,
                "--token-label",
                token,
                "--login",
                "--pin",
                PIN,
            ])
            .args(args)
            .env("SOFTHSM2_CONF", config)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pkcs11-tool {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Writes a secret key with a known value onto `token`, with extra pkcs11-tool flags.
    pub fn write_key(&self, token: &str, label: &str, key_type: &str, value: &str, flags: &[&str]) {
        let file = self.path().join(format!("{label}.key"));
        std::fs::write(&file, hex::decode(value).unwrap()).unwrap();
        let mut args = vec![
            "--write-object",
            file.to_str().unwrap(),
            "--type",
            "secrkey",
            "--key-type",
            key_type,
            "--label",
            label,
            "--id",
            "99",
            "--usage-decrypt",
        ];
        args.extend_from_slice(flags);
        self.p11(token, &args);
        std::fs::remove_file(file).unwrap();
    }

    /// The value `scripts/rehearsal-tokens` gives the key `label`: SHA-256 of a fixed phrase.
    pub fn drill_value(label: &str, bytes: usize) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("custos drill key {label}").as_bytes());
        hex::encode(&digest[..bytes])
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
