//! Drills of every shipped runbook, end to end through the real binary: each answers file under
//! `tests/drills/<runbook>/` is walked with `custos drill --answers` against fresh SoftHSM2 drill
//! tokens, and the sealed log is checked: the nodes entered, the outcome, the automated steps
//! that really ran, who approved, and `custos verify`.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use support::cli::{Run, custos, repo};

/// The drill PIN of the tokens `scripts/rehearsal-tokens` makes.
const DRILL_PIN: &str = "123456";

/// The environment variables the answers files name, with the drill roster's passphrases, and
/// the variables an initiator's passphrase is read from by default.
const PASSPHRASES: [(&str, &str); 10] = [
    ("ALICE_PASS", "alice-drill-passphrase"),
    ("BOB_PASS", "bob-drill-passphrase"),
    ("CAROL_PASS", "carol-drill-passphrase"),
    ("DAVE_PASS", "dave-drill-passphrase"),
    ("ERIN_PASS", "erin-drill-passphrase"),
    ("CUSTOS_PASSPHRASE_ALICE", "alice-drill-passphrase"),
    ("CUSTOS_PASSPHRASE_DAVE", "dave-drill-passphrase"),
    ("CUSTOS_PASSPHRASE_FRANK", "frank-drill-passphrase"),
    ("CUSTOS_PASSPHRASE_BOB", "bob-drill-passphrase"),
    ("CUSTOS_PASSPHRASE_ERIN", "erin-drill-passphrase"),
];

/// Fresh drill tokens and an empty incident log, both in a temporary directory.
struct Drill {
    dir: tempfile::TempDir,
    softhsm_conf: PathBuf,
}

impl Drill {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(repo().join("scripts/rehearsal-tokens"))
            .env("CUSTOS_HOME", dir.path())
            .env("CUSTOS_DRILL_PIN", DRILL_PIN)
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            output.status.success(),
            "scripts/rehearsal-tokens failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );

        let last = stdout.lines().last().unwrap();
        let conf = last.strip_prefix("export SOFTHSM2_CONF=").unwrap();
        Self {
            softhsm_conf: PathBuf::from(conf.trim_matches('\'')),
            dir,
        }
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("incidents.sqlite")
    }

    /// `custos` in the repository root, on this drill's tokens and log.
    fn custos(&self, args: &[&str]) -> Run {
        let mut command = custos()
            .current_dir(repo())
            .env("SOFTHSM2_CONF", &self.softhsm_conf)
            .env("CUSTOS_DRILL_PIN", DRILL_PIN)
            .arg("--store")
            .arg(self.store());
        for (variable, passphrase) in PASSPHRASES {
            command = command.env(variable, passphrase);
        }
        command.args(args).run()
    }

    /// Walks `tests/drills/<runbook>/<branch>.yaml` as `person` and expects the walk to close.
    fn walk(&self, runbook: &str, branch: &str, person: &str) -> Log {
        let answers = answers(runbook, branch);
        let run = self.custos(&["drill", runbook, "--answers", &answers, "--as", person]);
        assert_eq!(
            run.code, 0,
            "the drill failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        assert!(
            run.stderr.contains("INC-1 closed at"),
            "the drill did not close:\n{}",
            run.stderr
        );
        self.verified_log()
    }

    /// The log of INC-1, after `custos verify` has accepted it.
    fn verified_log(&self) -> Log {
        let verify = self.custos(&["verify", "INC-1"]);
        assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
        self.log()
    }

    fn log(&self) -> Log {
        let run = self.custos(&["log", "INC-1", "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        Log(run
            .stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect())
    }

    /// Runs `pkcs11-tool` logged in to the drill token `token`.
    fn pkcs11(&self, token: &str, args: &[&str]) {
        let output = Command::new("pkcs11-tool")
            .args(["--module", support::MODULE, "--token-label", token])
            .args(["--login", "--pin", DRILL_PIN])
            .args(args)
            .env("SOFTHSM2_CONF", &self.softhsm_conf)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pkcs11-tool {args:?} on {token} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Makes an AES key `label` on the drill token `token`, as someone would at a console.
    fn plant_key(&self, token: &str, label: &str, id: &str, bytes: u32) {
        let key_type = format!("AES:{bytes}");
        self.pkcs11(
            token,
            &[
                "--keygen",
                "--key-type",
                &key_type,
                "--label",
                label,
                "--id",
                id,
            ],
        );
    }
}

fn answers(runbook: &str, branch: &str) -> String {
    let path = format!("tests/drills/{runbook}/{branch}.yaml");
    assert!(repo().join(&path).is_file(), "{path} does not exist");
    path
}

/// The JSON log of one incident, one object per event.
struct Log(Vec<Value>);

impl Log {
    fn events(&self, kind: &str) -> impl Iterator<Item = &Value> {
        self.0
            .iter()
            .map(|record| &record["event"])
            .filter(move |event| event["type"] == kind)
    }

    /// The nodes entered, in order.
    fn path(&self) -> Vec<String> {
        self.events("node_entered")
            .map(|event| event["node"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The end node and outcome of `incident_closed`.
    fn closed(&self) -> (String, String) {
        let closed: Vec<&Value> = self.events("incident_closed").collect();
        assert_eq!(closed.len(), 1, "one incident_closed in {:#?}", self.0);
        let text = |key: &str| closed[0][key].as_str().unwrap().to_owned();
        (text("node"), text("outcome"))
    }

    /// Who approved at `node`, in order, each with the role they approved as.
    fn approvals(&self, node: &str) -> Vec<(String, String)> {
        self.events("approval_granted")
            .filter(|event| event["node"] == node)
            .map(|event| {
                let text = |key: &str| event[key].as_str().unwrap().to_owned();
                (text("person"), text("role"))
            })
            .collect()
    }

    /// The notes added at `node`, in order.
    fn notes(&self, node: &str) -> Vec<String> {
        self.events("note_added")
            .filter(|event| event["node"] == node)
            .map(|event| event["text"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Asserts the walk left the bounded loop at `node` after `limit` visits, for `instead`.
    fn assert_exhausted(&self, node: &str, limit: u32, instead: &str) {
        assert_eq!(
            self.notes(node),
            [format!(
                "`{node}` has been visited {limit} times, its limit; going to `{instead}` instead"
            )]
        );
    }

    /// Every `action_finished` at `node`, in order.
    fn actions(&self, node: &str) -> Vec<&Value> {
        self.events("action_finished")
            .filter(|event| event["node"] == node)
            .collect()
    }

    /// The outputs of the only run of the action at `node`, which must have succeeded.
    fn outputs(&self, node: &str) -> &Value {
        let actions = self.actions(node);
        assert_eq!(actions.len(), 1, "one run of `{node}` in {actions:#?}");
        assert_eq!(actions[0]["ok"], true, "`{node}` failed: {:#}", actions[0]);
        &actions[0]["outputs"]
    }

    /// Asserts that every action of the walk succeeded, and returns how many ran.
    fn all_actions_succeeded(&self) -> usize {
        let finished: Vec<&Value> = self.events("action_finished").collect();
        for action in &finished {
            assert_eq!(action["ok"], true, "an action failed: {action:#}");
        }
        finished.len()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|&item| item.to_owned()).collect()
}

fn pair(person: &str, role: &str) -> (String, String) {
    (person.to_owned(), role.to_owned())
}

fn ended(node: &str, outcome: &str) -> (String, String) {
    pair(node, outcome)
}

fn assert_healthy(outputs: &Value, token: &str) {
    assert_eq!(outputs["verdict"], "healthy", "{outputs:#}");
    assert_eq!(outputs["canary"], "ok", "{outputs:#}");
    assert_eq!(outputs["token_label"], token, "{outputs:#}");
}

/// A KCV as the actions report it: upper-case hex of `bytes` bytes.
fn assert_kcv(value: &Value, bytes: usize) {
    let text = value.as_str().unwrap();
    assert_eq!(text.len(), bytes * 2, "{text}");
    assert!(
        text.chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)),
        "{text}"
    );
}

// quorum-card-lost

#[test]
fn a_lost_card_with_the_quorum_intact_is_rotated_without_telling_the_board() {
    let drill = Drill::new();
    let log = drill.walk("quorum-card-lost", "lost-quorum-intact", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "lost_or_damaged",
            "exposure",
            "report_loss",
            "check_token",
            "token_state",
            "count_shares",
            "quorum_margin",
            "approve_rotation",
            "rotate_secret",
            "verify_login",
            "login_ok",
            "damaged_left",
            "update_register",
            "end_resolved",
        ])
    );
    assert_eq!(log.closed(), ended("end_resolved", "resolved"));
    assert_eq!(
        log.approvals("approve_rotation"),
        [pair("alice", "custodian"), pair("bob", "custodian")]
    );
    assert_eq!(log.all_actions_succeeded(), 2);
    assert_healthy(log.outputs("check_token"), "custos-drill-primary");
    assert_healthy(log.outputs("verify_login"), "custos-drill-primary");
}

#[test]
fn two_shares_lost_of_a_three_of_five_set_reach_the_board_before_the_rotation() {
    let drill = Drill::new();
    let log = drill.walk("quorum-card-lost", "two-shares-lost-board", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "lost_or_damaged",
            "exposure",
            "notify_ciso_exposure",
            "report_loss",
            "check_token",
            "token_state",
            "review_audit_log",
            "notify_ciso_attempts",
            "count_shares",
            "quorum_margin",
            "notify_board",
            "quorum_still_met",
            "approve_rotation",
            "rotate_secret",
            "verify_login",
            "login_ok",
            "damaged_left",
            "destroy_cards",
            "update_register",
            "end_resolved",
        ])
    );
    assert_eq!(log.closed(), ended("end_resolved", "resolved"));
    assert_eq!(
        log.approvals("approve_rotation"),
        [pair("alice", "custodian"), pair("erin", "custodian")]
    );
    assert_eq!(log.all_actions_succeeded(), 2);
}

#[test]
fn a_damaged_card_below_quorum_goes_to_reinitialisation_without_an_approval() {
    let drill = Drill::new();
    let log = drill.walk("quorum-card-lost", "below-quorum-reinit", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "lost_or_damaged",
            "bag_damaged_card",
            "check_token",
            "token_state",
            "count_shares",
            "quorum_margin",
            "notify_board",
            "quorum_still_met",
            "plan_reinit",
            "end_reinit",
        ])
    );
    assert_eq!(log.closed(), ended("end_reinit", "handed-over"));
    assert_eq!(log.events("approval_granted").count(), 0);
    assert_healthy(log.outputs("check_token"), "custos-drill-primary");
}

#[test]
fn a_login_that_two_fixes_cannot_repair_is_handed_to_the_vendor() {
    let drill = Drill::new();
    let log = drill.walk("quorum-card-lost", "login-fails-vendor", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "lost_or_damaged",
            "bag_damaged_card",
            "check_token",
            "token_state",
            "count_shares",
            "quorum_margin",
            "approve_rotation",
            "rotate_secret",
            "verify_login",
            "login_ok",
            "fix_login",
            "verify_login",
            "login_ok",
            "fix_login",
            "verify_login",
            "login_ok",
            "call_vendor",
            "end_vendor",
        ])
    );
    assert_eq!(log.closed(), ended("end_vendor", "handed-over"));
    log.assert_exhausted("fix_login", 2, "call_vendor");
    assert_eq!(log.actions("verify_login").len(), 3);
    assert_eq!(log.all_actions_succeeded(), 4);
}

// certificate-expiry

#[test]
fn a_certificate_already_renewed_is_closed_as_a_false_alarm() {
    let drill = Drill::new();
    let log = drill.walk("certificate-expiry", "already-renewed", "dave");

    assert_eq!(
        log.path(),
        strings(&["intake", "measure", "expired", "end_false_alarm"])
    );
    assert_eq!(log.closed(), ended("end_false_alarm", "false-alarm"));
    assert_eq!(log.all_actions_succeeded(), 0);
}

#[test]
fn seven_days_before_expiry_the_ciso_is_told_and_a_new_key_pair_is_approved() {
    let drill = Drill::new();
    let log = drill.walk("certificate-expiry", "seven-days-new-key", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "measure",
            "expired",
            "band",
            "notify_ciso_7",
            "plan_renewal",
            "what_expired",
            "locate_key",
            "cryptoperiod",
            "approve_new_key",
            "new_key_pair",
            "issue_cert",
            "deploy",
            "verify_live",
            "live_ok",
            "update_register",
            "end_resolved",
        ])
    );
    assert_eq!(log.closed(), ended("end_resolved", "resolved"));
    assert_eq!(
        log.approvals("approve_new_key"),
        [
            pair("alice", "custodian"),
            pair("carol", "security-officer")
        ]
    );
    assert_eq!(log.outputs("locate_key")["count"], 0);
}

#[test]
fn an_expired_crl_that_two_rollbacks_cannot_fix_is_handed_to_on_call() {
    let drill = Drill::new();
    let log = drill.walk(
        "certificate-expiry",
        "expired-crl-rollback-exhausted",
        "dave",
    );

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "measure",
            "expired",
            "notify_outage",
            "what_expired",
            "publish_crl",
            "verify_live",
            "live_ok",
            "rollback",
            "deploy",
            "verify_live",
            "live_ok",
            "rollback",
            "deploy",
            "verify_live",
            "live_ok",
            "notify_stuck",
            "end_handed_over",
        ])
    );
    assert_eq!(log.closed(), ended("end_handed_over", "handed-over"));
    log.assert_exhausted("rollback", 2, "notify_stuck");
}

// secondary-hsm-unreachable

#[test]
fn a_secondary_that_answers_its_health_check_is_a_false_alarm() {
    let drill = Drill::new();
    let log = drill.walk("secondary-hsm-unreachable", "healthy-false-alarm", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "probe_secondary",
            "probe_primary",
            "primary_down",
            "secondary_result",
            "end_false_alarm",
        ])
    );
    assert_eq!(log.closed(), ended("end_false_alarm", "false-alarm"));
    assert_healthy(log.outputs("probe_secondary"), "custos-drill-secondary");
    assert_healthy(log.outputs("probe_primary"), "custos-drill-primary");
}

#[test]
fn a_primary_down_as_well_is_a_major_incident_reported_to_the_regulator() {
    let drill = Drill::new();
    let log = drill.walk("secondary-hsm-unreachable", "primary-down-major", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "probe_secondary",
            "probe_primary",
            "primary_down",
            "notify_major",
            "run_major",
            "major_reportable",
            "notify_regulator",
            "end_major",
        ])
    );
    assert_eq!(log.closed(), ended("end_major", "handed-over"));
    assert_eq!(log.all_actions_succeeded(), 2);
}

#[test]
fn a_network_that_three_waits_do_not_restore_is_handed_to_operations() {
    let drill = Drill::new();
    let log = drill.walk(
        "secondary-hsm-unreachable",
        "network-never-restored",
        "dave",
    );

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "probe_secondary",
            "probe_primary",
            "primary_down",
            "secondary_result",
            "network_reachable",
            "notify_network_team",
            "wait_network",
            "network_restored",
            "notify_ops_network",
            "wait_network",
            "network_restored",
            "notify_ops_network",
            "wait_network",
            "network_restored",
            "notify_ops_network",
            "notify_ops_handover",
            "end_handed_over",
        ])
    );
    assert_eq!(log.closed(), ended("end_handed_over", "handed-over"));
    log.assert_exhausted("wait_network", 3, "notify_ops_handover");
}

#[test]
fn a_key_missing_from_the_secondary_is_found_restored_under_approval_and_compared_again() {
    let drill = Drill::new();
    drill.pkcs11(
        "custos-drill-secondary",
        &["--delete-object", "--type", "secrkey", "--label", "MAC-01"],
    );
    let answers = answers("secondary-hsm-unreachable", "out-of-sync-restore");
    let run = drill.custos(&[
        "drill",
        "secondary-hsm-unreachable",
        "--answers",
        &answers,
        "--as",
        "dave",
        "--quiet",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "custos: opened drill INC-1 from `secondary-hsm-unreachable` version 1\n\
         custos: INC-1 stopped at `restore_keys`: the answers file has no answer for node \
         `restore_keys` (visit 1)\n\
         custos: it stays open; `custos resume INC-1` continues where it stopped\n"
    );

    // The custodians restore MAC-01 from its backup (here: the seeding script puts it back).
    let reseed = Command::new(repo().join("scripts/rehearsal-tokens"))
        .env("CUSTOS_HOME", drill.dir.path())
        .env("CUSTOS_DRILL_PIN", DRILL_PIN)
        .output()
        .unwrap();
    assert!(reseed.status.success());
    let restored = drill.dir.path().join("restored.yaml");
    let text = std::fs::read_to_string(repo().join(&answers)).unwrap();
    let text = format!("{text}  restore_keys: {{ fields: {{ method: reseeded from backup }} }}\n");
    std::fs::write(&restored, text).unwrap();
    let run = drill.custos(&[
        "resume",
        "INC-1",
        "--answers",
        restored.to_str().unwrap(),
        "--as",
        "dave",
        "--quiet",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let log = drill.verified_log();
    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "probe_secondary",
            "probe_primary",
            "primary_down",
            "secondary_result",
            "tamper_check",
            "recover_member",
            "reprobe_secondary",
            "recovered",
            "compare_inventories",
            "in_sync",
            "review_diff",
            "approve_restore",
            "restore_keys",
            "compare_inventories",
            "in_sync",
            "return_to_service",
            "review",
            "end_resolved",
        ])
    );
    assert_eq!(log.closed(), ended("end_resolved", "resolved"));
    assert_eq!(
        log.approvals("approve_restore"),
        [pair("alice", "custodian"), pair("bob", "custodian")]
    );
    let compared = log.actions("compare_inventories");
    assert_eq!(compared.len(), 2);
    assert_eq!(
        compared[0]["outputs"]["summary"],
        "`drill-primary` and `drill-secondary` differ: 1 missing from `drill-secondary` (MAC-01)"
    );
    assert_eq!(
        compared[0]["outputs"]["missing"],
        serde_json::json!(["MAC-01"])
    );
    assert_eq!(compared[1]["outputs"]["in_sync"], true);
    assert_eq!(
        compared[1]["outputs"]["summary"],
        "`drill-primary` and `drill-secondary` hold the same 6 secret keys with the same KCVs"
    );
}

// test-keys-on-production

/// Plants the test keys the `test-keys-on-production` drills look for on both drill tokens.
fn plant_test_keys(drill: &Drill) {
    for token in ["custos-drill-primary", "custos-drill-secondary"] {
        drill.plant_key(token, "TEST-ZPK-01", "a1", 16);
        drill.plant_key(token, "TEST-MAC-01", "a2", 16);
    }
}

#[test]
fn an_inventory_of_production_keys_only_is_a_false_alarm() {
    let drill = Drill::new();
    let log = drill.walk("test-keys-on-production", "no-test-keys", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "inventory",
            "classify",
            "any_unknown",
            "any_test",
            "end_false_alarm",
        ])
    );
    assert_eq!(log.closed(), ended("end_false_alarm", "false-alarm"));
    assert_eq!(
        log.outputs("inventory")["labels"],
        "KEK-BACKUP,MAC-01,PVK-01,ZMK-ACME-2026,ZPK-ACME-01,ZPK-ACME-02"
    );
}

#[test]
fn a_test_key_still_in_use_and_an_unknown_label_go_to_the_ciso() {
    let drill = Drill::new();
    plant_test_keys(&drill);
    let log = drill.walk("test-keys-on-production", "test-key-in-use", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "inventory",
            "classify",
            "any_unknown",
            "notify_ciso_unknown",
            "trace_unknown",
            "any_test",
            "in_use",
            "notify_ciso_in_use",
            "end_handed_over",
        ])
    );
    assert_eq!(log.closed(), ended("end_handed_over", "handed-over"));
    assert_eq!(log.outputs("inventory")["count"], 8);
}

#[test]
fn test_keys_are_destroyed_on_both_hsms_one_per_loop_and_the_inventory_is_clean() {
    let drill = Drill::new();
    plant_test_keys(&drill);
    let log = drill.walk("test-keys-on-production", "destroy-test-keys", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "inventory",
            "classify",
            "any_unknown",
            "any_test",
            "in_use",
            "revoke_dev_access",
            "approve_destroy",
            "pick_key",
            "destroy_primary",
            "destroy_secondary",
            "more_keys",
            "pick_key",
            "destroy_primary",
            "destroy_secondary",
            "more_keys",
            "reinventory",
            "clean",
            "move_dev",
            "notify_ciso_done",
            "lessons",
            "end_resolved",
        ])
    );
    assert_eq!(log.closed(), ended("end_resolved", "resolved"));
    assert_eq!(
        log.approvals("approve_destroy"),
        [pair("bob", "custodian"), pair("carol", "security-officer")]
    );
    assert_eq!(log.all_actions_succeeded(), 6);
    for node in ["destroy_primary", "destroy_secondary"] {
        for destroyed in log.actions(node) {
            assert_eq!(destroyed["outputs"]["destroyed"], 1, "{destroyed:#}");
            assert_eq!(destroyed["outputs"]["verified_absent"], true);
        }
    }
    assert_eq!(
        log.outputs("reinventory")["labels"],
        "KEK-BACKUP,MAC-01,PVK-01,ZMK-ACME-2026,ZPK-ACME-01,ZPK-ACME-02"
    );
}

// zmk-compromise

#[test]
fn a_compromise_ruled_out_at_once_closes_as_a_false_alarm() {
    let drill = Drill::new();
    let log = drill.walk("zmk-compromise", "ruled-out", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "locate_zmk",
            "assess",
            "document_ruled_out",
            "end_ruled_out",
        ])
    );
    assert_eq!(log.closed(), ended("end_ruled_out", "false-alarm"));
    let found = log.outputs("locate_zmk");
    assert_eq!(found["labels"], "ZMK-ACME-2026");
    assert_eq!(found["objects"][0]["bits"], 256);
}

#[test]
fn a_suspicion_ruled_out_after_analysis_sets_the_suspended_zmk_back_to_active() {
    let drill = Drill::new();
    let log = drill.walk("zmk-compromise", "suspected-ruled-out", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "locate_zmk",
            "assess",
            "suspend",
            "suspend_in_register",
            "notify_ciso_suspected",
            "investigate",
            "reassess",
            "reactivate_in_register",
            "document_ruled_out",
            "end_ruled_out",
        ])
    );
    assert_eq!(log.closed(), ended("end_ruled_out", "false-alarm"));
    assert_eq!(log.all_actions_succeeded(), 3);
    let suspended = log.outputs("suspend_in_register");
    assert_eq!(
        (&suspended["from"], &suspended["to"]),
        (&"active".into(), &"suspended".into())
    );
    let active = log.outputs("reactivate_in_register");
    assert_eq!(
        (&active["from"], &active["to"]),
        (&"suspended".into(), &"active".into())
    );
}

#[test]
fn a_confirmed_compromise_replaces_the_zpks_under_the_new_zmk_and_destroys_the_old_one() {
    let drill = Drill::new();
    // The custodians load the new ZMK from components at the console; the runbook only checks it.
    drill.plant_key("custos-drill-primary", "ZMK-ACME-2027", "21", 32);
    let log = drill.walk("zmk-compromise", "confirmed-rotation", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "locate_zmk",
            "assess",
            "notify_executives",
            "notify_regulator",
            "notify_counterparty",
            "compromise_in_register",
            "register_zpks",
            "inventory_zpks",
            "list_dependents",
            "approve_new_zmk",
            "load_components",
            "combined_kcv",
            "kcv_match",
            "next_zpk",
            "generate_zpk",
            "wrap_zpk",
            "send_zpk",
            "more_zpks",
            "next_zpk",
            "generate_zpk",
            "wrap_zpk",
            "send_zpk",
            "more_zpks",
            "cutover",
            "cutover_ok",
            "approve_destroy",
            "destroy_zmk_primary",
            "destroy_zmk_secondary",
            "destroyed_in_register",
            "prove_destroyed",
            "notify_board",
            "lessons",
            "end_resolved",
        ])
    );
    assert_eq!(log.closed(), ended("end_resolved", "resolved"));
    assert_eq!(
        log.approvals("approve_new_zmk"),
        [pair("erin", "custodian"), pair("carol", "security-officer")]
    );
    assert_eq!(
        log.approvals("approve_destroy"),
        [pair("alice", "custodian"), pair("erin", "custodian")]
    );
    assert_eq!(log.all_actions_succeeded(), 12);
    // The register moves are checked against each other, though a drill writes none of them.
    let compromised = log.outputs("compromise_in_register");
    assert_eq!(
        compromised["moved"],
        serde_json::json!(["ZMK-ACME-2026", "ZPK-ACME-01", "ZPK-ACME-02"])
    );
    assert_eq!(compromised["persisted"], false);
    let destroyed = log.outputs("destroyed_in_register");
    assert_eq!(
        (&destroyed["from"], &destroyed["to"]),
        (&"compromised".into(), &"destroyed".into())
    );

    let combined = log.outputs("combined_kcv");
    assert_eq!(combined["method"], "cmac");
    assert_kcv(&combined["kcv"], 5);
    let generated = log.actions("generate_zpk");
    let wrapped = log.actions("wrap_zpk");
    for (index, label) in ["ZPK-ACME-11", "ZPK-ACME-12"].into_iter().enumerate() {
        let outputs = &generated[index]["outputs"];
        assert_eq!(outputs["label"], label);
        assert_eq!(outputs["method"], "ecb");
        assert_kcv(&outputs["kcv"], 3);
        // The wrapped key is the one just generated: same check value.
        assert_eq!(wrapped[index]["outputs"]["kcv"], outputs["kcv"]);
        let blob = wrapped[index]["outputs"]["wrapped"].as_str().unwrap();
        assert_eq!(
            blob.len(),
            48,
            "AES key wrap with padding of 16 bytes: {blob}"
        );
    }
    for node in ["destroy_zmk_primary", "destroy_zmk_secondary"] {
        assert_eq!(
            *log.outputs(node),
            serde_json::json!({ "destroyed": 1, "verified_absent": true })
        );
    }
}

#[test]
fn a_suspicion_never_ruled_out_becomes_a_rotation_that_stops_after_three_bad_loads() {
    let drill = Drill::new();
    let log = drill.walk("zmk-compromise", "suspected-components-mismatch", "dave");

    let mut expected = strings(&[
        "intake",
        "locate_zmk",
        "assess",
        "suspend",
        "suspend_in_register",
        "notify_ciso_suspected",
        "investigate",
        "reassess",
        "investigate",
        "reassess",
        "notify_executives",
        "notify_regulator",
        "notify_counterparty",
        "compromise_in_register",
        "register_zpks",
        "inventory_zpks",
        "list_dependents",
        "approve_new_zmk",
    ]);
    for _ in 0..3 {
        expected.extend(strings(&["load_components", "combined_kcv", "kcv_match"]));
    }
    expected.extend(strings(&["notify_ciso_blocked", "end_blocked"]));
    assert_eq!(log.path(), expected);
    assert_eq!(log.closed(), ended("end_blocked", "handed-over"));
    log.assert_exhausted("investigate", 2, "notify_executives");
    log.assert_exhausted("load_components", 3, "notify_ciso_blocked");

    let compromised = log.outputs("compromise_in_register");
    assert_eq!(
        compromised["from"], "suspended",
        "the drill's own suspension"
    );
    assert_eq!(compromised["count"], 3);

    // Nobody loaded the new ZMK on the token, so each KCV check fails and says why.
    let checks = log.actions("combined_kcv");
    assert_eq!(checks.len(), 3);
    for check in checks {
        assert_eq!(check["ok"], false);
        assert_eq!(
            check["error"],
            "environment `drill-primary`: no secret key labelled `ZMK-ACME-2027` on the token"
        );
    }
}

// hsm-migration

#[test]
fn a_migration_transfers_keys_under_the_kek_rekeys_one_and_loops_until_only_planned_gaps_remain() {
    let drill = Drill::new();
    let log = drill.walk("hsm-migration", "rekey-and-transfer", "frank");

    let transfer = |unwrap: &str| -> Vec<String> {
        strings(&[
            "next_key",
            "how_move",
            "wrap_legacy",
            "unwrap_algorithm",
            unwrap,
            "more_keys",
        ])
    };
    let rekey = strings(&["next_key", "how_move", "generate_new", "more_keys"]);
    let mut expected = strings(&[
        "kickoff",
        "enough_time",
        "inventory_legacy",
        "map_keys",
        "approve_plan",
        "install_new",
        "health_new",
        "new_ready",
        "approve_rekey",
    ]);
    expected.extend(transfer("unwrap_aes256"));
    expected.extend(transfer("unwrap_aes128"));
    expected.extend(rekey);
    expected.extend(strings(&["parallel_compare", "in_sync"]));
    expected.extend(transfer("unwrap_aes128"));
    expected.extend(transfer("unwrap_aes128"));
    expected.extend(strings(&[
        "parallel_compare",
        "in_sync",
        "parallel_run",
        "parallel_ok",
        "approve_cutover",
        "notify_ops_cutover",
        "cutover",
        "verify_cutover",
        "cutover_ok",
        "soak",
        "approve_decommission",
        "decommission",
        "end_completed",
    ]));
    assert_eq!(log.path(), expected);
    assert_eq!(log.closed(), ended("end_completed", "completed"));
    assert_eq!(
        log.approvals("approve_plan"),
        [
            pair("dave", "operations-manager"),
            pair("carol", "security-officer")
        ]
    );
    assert_eq!(
        log.approvals("approve_rekey"),
        [pair("alice", "custodian"), pair("erin", "custodian")]
    );
    assert_eq!(
        log.approvals("approve_decommission"),
        [pair("bob", "custodian"), pair("erin", "custodian")]
    );
    assert_eq!(log.all_actions_succeeded(), 14);
    assert_healthy(log.outputs("health_new"), "custos-drill-new");

    // Each transferred key arrives with the check value it had on the legacy HSM.
    let wrapped = log.actions("wrap_legacy");
    let unwrapped: Vec<&Value> = log
        .actions("unwrap_aes256")
        .into_iter()
        .chain(log.actions("unwrap_aes128"))
        .collect();
    let labels: Vec<&str> = unwrapped
        .iter()
        .map(|action| action["outputs"]["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["ZMK-ACME-2026", "ZPK-ACME-01", "ZPK-ACME-02", "MAC-01"]
    );
    for (wrap, unwrap) in wrapped.iter().zip(&unwrapped) {
        assert_kcv(&unwrap["outputs"]["kcv"], 3);
        assert_eq!(wrap["outputs"]["kcv"], unwrap["outputs"]["kcv"]);
    }

    let compared = log.actions("parallel_compare");
    assert_eq!(
        compared[0]["outputs"]["summary"],
        "`drill-primary` and `drill-new` differ: 3 missing from `drill-new` (MAC-01, PVK-01, \
         ZPK-ACME-02); 1 only on `drill-new` (PVK-02)"
    );
    assert_eq!(
        compared[1]["outputs"]["summary"],
        "`drill-primary` and `drill-new` differ: 1 missing from `drill-new` (PVK-01); 1 only on \
         `drill-new` (PVK-02)"
    );
    let rekeyed = log.outputs("generate_new");
    assert_eq!(rekeyed["label"], "PVK-02");
    assert_kcv(&rekeyed["kcv"], 3);
}

#[test]
fn a_new_hsm_that_fails_three_installs_reports_the_delay_to_executives() {
    let drill = Drill::new();
    let log = drill.walk("hsm-migration", "new-hsm-never-ready", "frank");

    let mut expected = strings(&[
        "kickoff",
        "enough_time",
        "notify_exec_timeline",
        "inventory_legacy",
        "map_keys",
        "approve_plan",
    ]);
    for _ in 0..3 {
        expected.extend(strings(&["install_new", "health_new", "new_ready"]));
    }
    expected.extend(strings(&["notify_exec_delay", "end_handed_over"]));
    assert_eq!(log.path(), expected);
    assert_eq!(log.closed(), ended("end_handed_over", "handed-over"));
    log.assert_exhausted("install_new", 3, "notify_exec_delay");
    assert_eq!(
        log.approvals("approve_plan"),
        [
            pair("carol", "security-officer"),
            pair("dave", "operations-manager")
        ]
    );
    assert_eq!(log.actions("health_new").len(), 3);
    assert_eq!(log.all_actions_succeeded(), 4);
    assert_eq!(
        log.outputs("inventory_legacy")["labels"],
        "KEK-BACKUP,MAC-01,PVK-01,ZMK-ACME-2026,ZPK-ACME-01,ZPK-ACME-02"
    );
}

// hsm-key-ceremony

#[test]
fn the_installation_ceremony_generates_its_key_on_the_hsm_and_prints_a_signed_record() {
    let drill = Drill::new();
    let answers = answers("hsm-key-ceremony", "key-generated");
    let run = drill.custos(&[
        "drill",
        "hsm-key-ceremony",
        "--answers",
        &answers,
        "--as",
        "frank",
        "--quiet",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "custos: INC-1 stopped at `record_kcvs`: the answers file has no answer for node \
             `record_kcvs` (visit 1)\n"
        ),
        "{}",
        run.stderr
    );

    // The custodians read both check values off the screen and write them down.
    let log = drill.log();
    let ecb = log.outputs("generate_key")["kcv"]
        .as_str()
        .unwrap()
        .to_owned();
    let cmac = log.outputs("kcv_cmac")["kcv"].as_str().unwrap().to_owned();
    let typed = drill.dir.path().join("typed.yaml");
    let text = std::fs::read_to_string(repo().join(&answers)).unwrap();
    let text = format!(
        "{text}  record_kcvs: {{ fields: {{ kcv_cmac: \"{cmac}\", kcv_ecb: \"{ecb}\" }} }}\n"
    );
    std::fs::write(&typed, text).unwrap();
    let run = drill.custos(&[
        "resume",
        "INC-1",
        "--answers",
        typed.to_str().unwrap(),
        "--as",
        "frank",
        "--quiet",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let log = drill.verified_log();
    assert_eq!(
        log.path(),
        strings(&[
            "script_ready",
            "approve_script",
            "participants",
            "separation_check",
            "room_check",
            "unpack_hsm",
            "seals_ok",
            "install",
            "health",
            "health_ok",
            "approve_generation",
            "generate_key",
            "kcv_cmac",
            "record_kcvs",
            "backup",
            "confirm_inventory",
            "register_key",
            "approve_record",
            "sign_record",
            "end_completed",
        ])
    );
    assert_eq!(log.closed(), ended("end_completed", "completed"));
    assert_eq!(
        log.approvals("approve_script"),
        [
            pair("carol", "security-officer"),
            pair("dave", "operations-manager")
        ]
    );
    assert_eq!(
        log.approvals("approve_generation"),
        [pair("alice", "custodian"), pair("bob", "custodian")]
    );
    assert_eq!(
        log.approvals("approve_record"),
        [
            pair("alice", "custodian"),
            pair("carol", "security-officer")
        ]
    );
    assert_eq!(log.all_actions_succeeded(), 4);
    assert_healthy(log.outputs("health"), "custos-drill-new");
    assert_kcv(&serde_json::json!(ecb), 3);
    assert_kcv(&serde_json::json!(cmac), 5);
    let inventory = log.outputs("confirm_inventory");
    assert_eq!(inventory["labels"], "KEK-CEREMONY-2026");
    assert_eq!(inventory["objects"][0]["kcv"]["value"], ecb.as_str());

    let record = drill.custos(&["ceremony", "record", "INC-1"]);
    assert_eq!(record.code, 0, "{}", record.stderr);
    let markdown = record.stdout;
    for line in [
        "# Ceremony record: HSM installation and key ceremony",
        "**DRILL: a rehearsal, not a record of a production ceremony.**",
        "| frank | Frank Flores | ceremony-master | yes |",
        "| alice | Alice Andrade | custodian | yes |",
        "| bob | Bob Benavides | custodian | yes |",
        "| carol | Carol Castillo | witness, security-officer | yes |",
        &format!("| 33 | generate_key | `{ecb}` | ecb | action hsm.generate |"),
        &format!("| 36 | kcv_cmac | `{cmac}` | cmac | action hsm.kcv |"),
        &format!(
            "| 40 | record_kcvs | `{cmac}` | by hand; see the field name | field kcv_cmac typed by \
             frank |"
        ),
        &format!(
            "| 40 | record_kcvs | `{ecb}` | by hand; see the field name | field kcv_ecb typed by \
             frank |"
        ),
        "None: no note, no failed action, no refused approval.",
        "Frank Flores (frank), as ceremony-master",
        "Alice Andrade (alice), as custodian",
    ] {
        assert!(
            markdown.lines().any(|text| text == line),
            "no line {line:?} in\n{markdown}"
        );
    }
    let seal = markdown.split("## Seal\n").nth(1).unwrap();
    assert!(seal.contains("- Chain head: event 55, `"), "{seal}");
    assert!(seal.contains("- Signature (Ed25519): `"), "{seal}");
    assert!(
        seal.contains("- Verification: VERIFIED: 55 event(s) read; sealed by ed25519:"),
        "{seal}"
    );

    let html = drill.custos(&["ceremony", "record", "INC-1", "--format", "html"]);
    assert_eq!(html.code, 0, "{}", html.stderr);
    assert!(
        html.stdout.starts_with("<!DOCTYPE html>"),
        "{}",
        html.stdout
    );
    assert!(
        html.stdout
            .contains("<tr><td>frank</td><td>Frank Flores</td>")
    );
    assert!(html.stdout.contains(&cmac) && html.stdout.contains(&ecb));
    assert!(html.stdout.contains("VERIFIED: 55 event(s) read"));
}

#[test]
fn a_ceremony_with_a_broken_seal_stops_before_the_hsm_is_touched() {
    let drill = Drill::new();
    let log = drill.walk("hsm-key-ceremony", "broken-seal", "frank");

    assert_eq!(
        log.path(),
        strings(&[
            "script_ready",
            "approve_script",
            "participants",
            "separation_check",
            "room_check",
            "unpack_hsm",
            "seals_ok",
            "record_deviation",
            "notify_ciso_abort",
            "end_aborted",
        ])
    );
    assert_eq!(log.closed(), ended("end_aborted", "aborted"));
    assert_eq!(log.events("action_started").count(), 0);
    let record = drill.custos(&["ceremony", "record", "INC-1"]);
    assert_eq!(record.code, 0, "{}", record.stderr);
    assert!(
        record.stdout.contains("outcome aborted"),
        "{}",
        record.stdout
    );
}

#[test]
fn roles_that_two_fixes_cannot_separate_abort_the_ceremony() {
    let drill = Drill::new();
    let log = drill.walk("hsm-key-ceremony", "roles-never-separated", "frank");

    let mut expected = strings(&["script_ready", "approve_script"]);
    expected.extend(strings(&["participants", "separation_check", "fix_roles"]));
    expected.extend(strings(&["participants", "separation_check", "fix_roles"]));
    expected.extend(strings(&["participants", "separation_check"]));
    expected.extend(strings(&[
        "record_deviation",
        "notify_ciso_abort",
        "end_aborted",
    ]));
    assert_eq!(log.path(), expected);
    assert_eq!(log.closed(), ended("end_aborted", "aborted"));
    log.assert_exhausted("fix_roles", 2, "record_deviation");
}

// Drills and production

#[test]
fn a_drill_refuses_to_start_when_an_action_names_production_without_a_stand_in() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::copy(
        repo().join("policies/roster.yaml"),
        policies.join("roster.yaml"),
    )
    .unwrap();
    std::fs::write(
        policies.join("environments.yaml"),
        "\
environments:
  production-primary:
    description: primary payment HSM
    module: /opt/hsm/lib/libcs_pkcs11_R3.so
    token: { label: bank-prod-primary }
    pin: prompt
    production: true
",
    )
    .unwrap();
    let runbook = dir.path().join("check-primary.yaml");
    std::fs::write(
        &runbook,
        "\
id: check-primary
title: Check the primary HSM
version: 1
severity: low
summary: One health check of the primary.
start: check
nodes:
  check:
    kind: action
    title: Check the primary
    phase: detection
    run: hsm.health
    with:
      environment: production-primary
    on_success: done
    on_failure: done
  done:
    kind: end
    title: Checked
    phase: post-incident
    outcome: resolved
",
    )
    .unwrap();
    let answers = dir.path().join("answers.yaml");
    std::fs::write(&answers, "nodes: {}\n").unwrap();
    let store = dir.path().join("incidents.sqlite");

    let run = custos()
        .current_dir(repo())
        .arg("--store")
        .arg(&store)
        .arg("--policies")
        .arg(&policies)
        .arg("drill")
        .arg(&runbook)
        .arg("--answers")
        .arg(&answers)
        .args(["--as", "dave"])
        .run();

    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "custos: this drill would touch production, so it does not start: node `check`: \
             environment `production-primary` is production and names no `rehearsal` stand-in \
             in {}: a drill never runs against it\n",
            policies.join("environments.yaml").display()
        )
    );
    assert!(!store.exists(), "no incident is opened");
}

// Coverage of the drills themselves

#[test]
fn every_shipped_runbook_has_drills_of_several_branches_and_every_answers_file_is_walked() {
    let source = include_str!("drills.rs");
    let mut runbooks: Vec<String> = std::fs::read_dir(repo().join("runbooks"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| path.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    runbooks.sort();
    assert_eq!(runbooks.len(), 7, "{runbooks:?}");

    for runbook in runbooks {
        let dir = repo().join("tests/drills").join(&runbook);
        let branches: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .map(|path| path.file_stem().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert!(branches.len() >= 2, "{runbook} has drills of {branches:?}");
        for branch in branches {
            assert!(
                source.contains(&format!("\"{branch}\"")),
                "no test walks tests/drills/{runbook}/{branch}.yaml"
            );
        }
    }
}

// Dual control in a drill

#[test]
fn the_initiator_cannot_approve_a_rotation_so_the_walk_stops_for_another_custodian() {
    let drill = Drill::new();
    let answers = answers("quorum-card-lost", "lost-quorum-intact");
    let run = drill.custos(&[
        "drill",
        "quorum-card-lost",
        "--answers",
        &answers,
        "--as",
        "alice",
        "--quiet",
    ]);

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "custos: opened drill INC-1 from `quorum-card-lost` version 1\n\
         custos: INC-1 stopped at `approve_rotation`: the approvals the answers file gives for \
         `approve_rotation` are used up and the quorum is not met; add approvers, or \
         `{ wait: true }` to wait for `custos approve`\n\
         custos: it stays open; `custos resume INC-1` continues where it stopped\n"
    );
    let log = drill.log();
    let refused: Vec<&Value> = log.events("approval_refused").collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["person"], "alice");
    assert_eq!(
        refused[0]["reason"],
        "initiator excluded: the person who opened the incident may not approve here"
    );
    assert_eq!(
        log.approvals("approve_rotation"),
        [pair("bob", "custodian")]
    );
    assert_eq!(log.events("incident_closed").count(), 0);
    assert_eq!(log.path().last().unwrap(), "approve_rotation");
}

#[test]
fn thirty_days_before_expiry_operations_are_told_and_the_key_found_on_the_hsm_is_kept() {
    let drill = Drill::new();
    drill.pkcs11(
        "custos-drill-primary",
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "OCSP-SIGN-2025",
            "--id",
            "c1",
        ],
    );
    let log = drill.walk("certificate-expiry", "thirty-days-same-key", "dave");

    assert_eq!(
        log.path(),
        strings(&[
            "intake",
            "measure",
            "expired",
            "band",
            "notify_ops_30",
            "plan_renewal",
            "what_expired",
            "locate_key",
            "cryptoperiod",
            "issue_cert",
            "deploy",
            "verify_live",
            "live_ok",
            "update_register",
            "end_resolved",
        ])
    );
    assert_eq!(log.closed(), ended("end_resolved", "resolved"));
    assert_eq!(log.events("approval_granted").count(), 0);
    let found = log.outputs("locate_key");
    assert_eq!(found["count"], 1, "{found:#}");
    assert_eq!(found["objects"][0]["label"], "OCSP-SIGN-2025");
    assert_eq!(found["objects"][0]["class"], "private-key");
}
