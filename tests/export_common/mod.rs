//! A store with a mix of real incidents and drills, made by driving the real binary, for the
//! export tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use crate::support::cli::{Run, custos, repo};

pub const TRIAGE: &str = "tests/fixtures/card-triage.yaml";

pub const ANSWERS: &str = r#"
inputs: { card_serial: "C-0042", shares: 4 }
nodes:
  intake:
    fields: { reporter: night guard, seen: 2026-12-02 }
    notes: [Reported by phone at 03:10]
  located: ["no", "yes"]
  verify: { fields: { kcv: 08d7b4 } }
"#;

/// A temporary store holding, in order: INC-1 a drill of `card-triage` on 2026-01-15,
/// INC-2 a real `card-triage`, INC-3 a real `card-escalated` of severity `high`, and INC-4 a
/// drill of `card-triage` on 2026-06-01.
pub struct Mixed {
    pub dir: tempfile::TempDir,
}

impl Mixed {
    pub fn new() -> Self {
        let mixed = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let answers = mixed.write("answers.yaml", ANSWERS);
        let answers = answers.to_str().unwrap();
        let source = std::fs::read_to_string(repo().join(TRIAGE)).unwrap();
        let escalated = source
            .replace("id: card-triage", "id: card-escalated")
            .replace("severity: medium", "severity: high");
        let escalated = mixed.write("card-escalated.yaml", &escalated);
        let escalated = escalated.to_str().unwrap();

        let now = "2026-01-15T03:00:00Z";
        mixed.ok(&[
            "drill",
            TRIAGE,
            "--answers",
            answers,
            "--as",
            "alice",
            "--now",
            now,
        ]);
        mixed.ok(&["run", TRIAGE, "--answers", answers, "--as", "bob"]);
        mixed.ok(&["run", escalated, "--answers", answers, "--as", "carol"]);
        let now = "2026-06-01T03:00:00Z";
        mixed.ok(&[
            "drill",
            TRIAGE,
            "--answers",
            answers,
            "--as",
            "dave",
            "--now",
            now,
        ]);
        mixed
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn store(&self) -> PathBuf {
        self.path("incidents.sqlite")
    }

    pub fn custos(&self, args: &[&str]) -> Run {
        custos()
            .current_dir(repo())
            .env("CUSTOS_STORE", self.store())
            .args(["--policies", "tests/fixtures/no-policies"])
            .args(args)
            .run()
    }

    fn ok(&self, args: &[&str]) {
        let run = self.custos(args);
        assert_eq!(run.code, 0, "custos {args:?}: {}", run.stderr);
    }

    /// The installation's signing key, beside the store: what an exporting machine signs with.
    pub fn signing_key(&self) -> ed25519_dalek::SigningKey {
        let text = std::fs::read_to_string(self.path("signing.key")).unwrap();
        let digits = text.trim().strip_prefix("ed25519-secret:").unwrap();
        let mut secret = [0; 32];
        hex::decode_to_slice(digits, &mut secret).unwrap();
        ed25519_dalek::SigningKey::from_bytes(&secret)
    }

    /// The installation's public key as `custos key export` prints it.
    pub fn public_key(&self) -> String {
        self.custos(&["key", "export"]).stdout.trim().to_owned()
    }

    /// Exports with `args` into `name` and returns the file's text.
    pub fn export(&self, name: &str, args: &[&str]) -> String {
        let out = self.path(name);
        let mut all = vec!["export", "-o", out.to_str().unwrap()];
        all.extend_from_slice(args);
        self.ok(&all);
        std::fs::read_to_string(out).unwrap()
    }
}

/// Verifies `file` as another machine would: from another directory, with no store at all.
pub fn verify_alone(file: &Path, extra: &[&str]) -> Run {
    let elsewhere = tempfile::tempdir().unwrap();
    custos()
        .current_dir(elsewhere.path())
        .env(
            "CUSTOS_STORE",
            elsewhere.path().join("no-store-here.sqlite"),
        )
        .args(["verify", "--export", file.to_str().unwrap()])
        .args(extra)
        .run()
}

/// The manifest of a JSON Lines export.
pub fn manifest(text: &str) -> serde_json::Value {
    let first = text.lines().next().unwrap();
    serde_json::from_str::<serde_json::Value>(first).unwrap()["manifest"].clone()
}

/// The ids the manifest lists.
pub fn ids(text: &str) -> Vec<String> {
    manifest(text)["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Applies `change` to the manifest of an export's lines and writes line 1 anew; the signature
/// on line 2 is left as it was.
pub fn edit_manifest(lines: &mut [String], change: impl FnOnce(&mut serde_json::Value)) {
    let mut line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    change(&mut line["manifest"]);
    lines[0] = line.to_string();
}

/// Signs line 1 with `key` as custos does and writes the signature line, line 2.
pub fn sign_manifest(lines: &mut [String], key: &ed25519_dalek::SigningKey) {
    use ed25519_dalek::Signer;

    let mut message = b"custos-export-manifest-v1:".to_vec();
    message.extend_from_slice(lines[0].as_bytes());
    let signature = key.sign(&message);
    lines[1] = serde_json::json!({
        "manifest_signature": {
            "public_key": format!("ed25519:{}", hex::encode(key.verifying_key().as_bytes())),
            "signature": hex::encode(signature.to_bytes()),
        }
    })
    .to_string();
}
