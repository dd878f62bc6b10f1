//! A token counts wrong PINs, so custos offers a rejected PIN to it once per process, and does
//! not log in at all to a token that says its PIN is locked or on its final try. Each test runs
//! against real SoftHSM2 tokens with OpenSC's `pkcs11-spy` between custos and the module, and
//! counts the `C_Login` calls (and `C_Initialize` and `C_Finalize`) in the spy's log.

// Helpers outside `#[test]` functions panic on failure too: that is how a test fails.
#![allow(clippy::unwrap_used)]

mod hsm_spy;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use custos::hsm::{Hsm, HsmError, Secrets};
use custos::policy::environment::Environments;
use hsm_spy::{calls, drill_environments};
use serde_json::{Map, Value, json};
use support::cli::{custos, rehearsal_tokens, repo};
use zeroize::Zeroizing;

const SO_PIN: &str = "12345678";
const CHILD: &str = "CUSTOS_TEST_CHILD";
const DIR: &str = "CUSTOS_TEST_DIR";

// A walk through the real binary.

#[test]
fn a_walk_with_a_wrong_pin_offers_it_to_the_token_once_and_later_actions_refuse_it() {
    let home = tempfile::tempdir().unwrap();
    let conf = rehearsal_tokens(home.path());
    std::fs::create_dir_all(home.path().join("policies")).unwrap();
    std::fs::write(
        home.path().join("policies/environments.yaml"),
        drill_environments(),
    )
    .unwrap();
    let answers = home.path().join("answers.yaml");
    std::fs::write(&answers, "nodes: {}\n").unwrap();
    let log = home.path().join("spy.log");
    let store = home.path().join("incidents.sqlite");
    let runbook = repo().join("tests/fixtures/wrong-pin-walk.yaml");

    let run = custos()
        .current_dir(home.path())
        .env("SOFTHSM2_CONF", &conf)
        .env("CUSTOS_DRILL_PIN", "999999")
        .env("PKCS11SPY", support::MODULE)
        .env("PKCS11SPY_OUTPUT", &log)
        .arg("--store")
        .arg(&store)
        .args(["drill", runbook.to_str().unwrap(), "--answers"])
        .arg(&answers)
        .args(["--as", "dave", "--quiet"])
        .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("999999") && !run.stderr.contains("999999"));

    assert_eq!(calls(&log, "C_Login"), 1, "one login for three actions");
    assert_eq!(calls(&log, "C_Initialize"), 1);
    assert_eq!(calls(&log, "C_Finalize"), 1, "finalised once, at the end");

    let shown = custos()
        .current_dir(home.path())
        .arg("--store")
        .arg(&store)
        .args(["log", "INC-1", "--json"])
        .run();
    let finished: Vec<Value> = shown
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["event"].clone())
        .filter(|event| event["type"] == "action_finished")
        .collect();
    assert_eq!(finished.len(), 3, "{}", shown.stdout);
    assert_eq!(finished[0]["outputs"]["verdict"], "failed");
    assert!(
        finished[0]["outputs"]["details"]
            .as_str()
            .unwrap()
            .contains("the token rejected the PIN"),
        "{}",
        finished[0]
    );
    let refused = "the PIN for `drill-primary` was rejected earlier in this run; custos does not \
                   try it again because the token counts tries";
    for event in &finished[1..] {
        assert_eq!(event["ok"], false);
        assert_eq!(event["error"], refused);
    }
}

// Library calls in a child process, whose SoftHSM2 and spy the parent sets up.

/// The PINs a person types at a prompt, one per question, in order.
struct Typed {
    pins: Vec<&'static str>,
}

impl Secrets for Typed {
    fn pin(&mut self, _: &str) -> Result<Zeroizing<String>, HsmError> {
        Ok(Zeroizing::new(self.pins.remove(0).to_owned()))
    }

    fn component(
        &mut self,
        label: &str,
        index: usize,
        count: usize,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        Err(HsmError::ComponentUnavailable {
            label: label.to_owned(),
            index,
            count,
            reason: String::from("none in this test"),
        })
    }
}

/// Runs `body` in a child process with fresh drill tokens behind the spy. `flags` are token
/// flags written into the tokens' files first, per token label.
fn in_spied_child(name: &str, flags: &[(&str, u64)], body: impl FnOnce(&Environments, &Path)) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        let dir = PathBuf::from(std::env::var(DIR).unwrap());
        let environments = Environments::load(dir.join("environments.yaml")).unwrap();
        body(&environments, &dir.join("spy.log"));
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("softhsm2.conf");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("environments.yaml"), drill_environments()).unwrap();
    for label in ["custos-drill-primary", "custos-drill-secondary"] {
        let output = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", SO_PIN, "--pin", support::PIN])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for (label, flag) in flags {
        set_token_flag(&tokens, label, *flag);
    }

    let output = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .env(DIR, dir.path())
        .env("SOFTHSM2_CONF", &conf)
        .env("CUSTOS_DRILL_PIN", support::PIN)
        .env("PKCS11SPY", support::MODULE)
        .env("PKCS11SPY_OUTPUT", dir.path().join("spy.log"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the test body failed in its SoftHSM2 process:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Sets `flag` in the token flags SoftHSM2 2.6 keeps in the token's file (the attribute
/// `CKA_OS_TOKENFLAGS`, 0x8000534B, an unsigned long stored big-endian), as a token does after
/// wrong PINs. SoftHSM2 itself never sets the final-try or locked flags.
fn set_token_flag(tokens: &Path, label: &str, flag: u64) {
    let marker = hex::decode("000000008000534b0000000000000002").unwrap();
    let mut padded = label.as_bytes().to_vec();
    padded.resize(32, b' ');
    for entry in std::fs::read_dir(tokens).unwrap() {
        let file = entry.unwrap().path().join("token.object");
        let mut bytes = std::fs::read(&file).unwrap();
        if !bytes.windows(32).any(|window| window == padded.as_slice()) {
            continue;
        }
        let at = bytes
            .windows(marker.len())
            .position(|window| window == marker.as_slice())
            .unwrap()
            + marker.len();
        let value = u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap()) | flag;
        bytes[at..at + 8].copy_from_slice(&value.to_be_bytes());
        std::fs::write(&file, bytes).unwrap();
        return;
    }
    panic!("no token file for `{label}`");
}

fn find(
    hsm: &mut Hsm,
    environments: &Environments,
    secrets: &mut dyn Secrets,
    name: &str,
) -> Result<Map<String, Value>, HsmError> {
    let params: Map<String, Value> = [("environment".to_owned(), json!(name))]
        .into_iter()
        .collect();
    hsm.run(
        "hsm.find",
        &params,
        environments,
        secrets,
        false,
        Duration::from_secs(20),
    )
}

#[test]
fn a_new_pin_typed_after_a_rejection_is_tried_but_the_rejected_one_never_again() {
    let name = "a_new_pin_typed_after_a_rejection_is_tried_but_the_rejected_one_never_again";
    in_spied_child(name, &[], |environments, log| {
        let mut hsm = Hsm::new();
        let mut typed = Typed {
            pins: vec!["999999", "999999", support::PIN],
        };

        let first = find(&mut hsm, environments, &mut typed, "drill-primary").unwrap_err();
        assert!(matches!(first, HsmError::PinRejected { .. }), "{first}");
        assert!(custos::hsm::token::rejected_earlier("drill-primary"));
        assert!(!custos::hsm::token::rejected_earlier("drill-secondary"));

        let again = find(&mut hsm, environments, &mut typed, "drill-primary").unwrap_err();
        assert_eq!(
            again.to_string(),
            "the PIN for `drill-primary` was rejected earlier in this run; custos does not try \
             it again because the token counts tries"
        );
        assert!(!again.retryable());
        assert_eq!(
            calls(log, "C_Login"),
            1,
            "the same PIN was not offered again"
        );

        find(&mut hsm, environments, &mut typed, "drill-primary").unwrap();
        assert_eq!(calls(log, "C_Login"), 2, "a new PIN is tried");
        hsm.close(Duration::from_secs(5)).unwrap();
    });
}

const CKF_USER_PIN_FINAL_TRY: u64 = 0x0002_0000;
const CKF_USER_PIN_LOCKED: u64 = 0x0004_0000;

#[test]
fn a_token_on_its_final_try_or_locked_is_not_logged_in_to_and_says_why() {
    let name = "a_token_on_its_final_try_or_locked_is_not_logged_in_to_and_says_why";
    let flags = [
        ("custos-drill-primary", CKF_USER_PIN_FINAL_TRY),
        ("custos-drill-secondary", CKF_USER_PIN_LOCKED),
    ];
    in_spied_child(name, &flags, |environments, log| {
        let mut hsm = Hsm::new();
        let mut secrets = support::secrets();

        let error = find(&mut hsm, environments, &mut secrets, "drill-primary").unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment `drill-primary`: the token says one more wrong PIN locks it, so custos \
             does not log in on its own; a person logs in once with the vendor's tool (a good \
             PIN clears the warning), or a security officer resets the PIN"
        );
        assert!(!error.retryable());
        let error = find(&mut hsm, environments, &mut secrets, "drill-secondary").unwrap_err();
        assert!(matches!(error, HsmError::PinLocked { .. }), "{error}");

        let params: Map<String, Value> = [("environment".to_owned(), json!("drill-primary"))]
            .into_iter()
            .collect();
        let health = hsm
            .run(
                "hsm.health",
                &params,
                environments,
                &mut secrets,
                false,
                Duration::from_secs(20),
            )
            .unwrap();
        assert_eq!(health["verdict"], json!("failed"));
        assert_eq!(health["pin_final_try"], json!(true));
        assert!(
            health["details"]
                .as_str()
                .unwrap()
                .contains("one more wrong PIN locks"),
            "{health:?}"
        );
        assert_eq!(calls(log, "C_Login"), 0, "no try was spent");
    });
}
