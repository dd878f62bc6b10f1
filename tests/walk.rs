//! The scripted walk through the real binary: what it records, how it stops and resumes, and
//! what `custos verify` says when the record is altered afterwards.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use support::cli::{Run, custos, repo};

const TRIAGE: &str = "tests/fixtures/card-triage.yaml";

/// A temporary store and answers files for one test.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("incidents.sqlite")
    }

    fn answers(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn custos(&self, args: &[&str]) -> Run {
        custos()
            .current_dir(repo())
            .env("CUSTOS_STORE", self.store())
            .args(["--policies", "tests/fixtures/no-policies"])
            .args(args)
            .run()
    }

    fn log(&self, incident: &str) -> Vec<serde_json::Value> {
        let run = self.custos(&["log", incident, "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

fn kinds(log: &[serde_json::Value]) -> Vec<String> {
    log.iter()
        .map(|event| event["event"]["type"].as_str().unwrap().to_owned())
        .collect()
}

const FOUND_AFTER_ONE_SEARCH: &str = r#"
inputs: { card_serial: "C-0042", shares: 4 }
nodes:
  intake:
    fields: { reporter: night guard, seen: 2026-12-02 }
    notes: [Reported by phone at 03:10]
  located: ["no", "yes"]
  verify: { fields: { kcv: 08d7b4 } }
"#;

#[test]
fn a_scripted_drill_walks_to_the_end_and_records_every_move() {
    let scene = Scene::new();
    let answers = scene.answers("a.yaml", FOUND_AFTER_ONE_SEARCH);
    let run = scene.custos(&[
        "drill",
        TRIAGE,
        "--answers",
        answers.to_str().unwrap(),
        "--as",
        "alice",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("custos: opened drill INC-1 from `card-triage` version 1\n")
    );
    assert!(
        run.stderr
            .contains("custos: INC-1 closed at `found`: resolved; the log is sealed\n")
    );
    assert!(
        run.stdout
            .contains("[1] Record who reported the card and when (intake)\n")
    );
    assert!(
        run.stdout
            .contains("Debrief of INC-1 (drill): Triage a reported smart card problem\n")
    );
    assert!(
        run.stdout
            .contains("  located: no (alice)\n  located: yes (alice)\n")
    );

    let log = scene.log("INC-1");
    assert_eq!(
        kinds(&log),
        [
            "incident_opened",
            "node_entered",
            "note_added",
            "step_completed",
            "node_entered",
            "answer_given",
            "node_entered",
            "step_completed",
            "node_entered",
            "answer_given",
            "node_entered",
            "step_completed",
            "node_entered",
            "incident_closed",
        ]
    );
    assert!(
        log.iter()
            .all(|event| event["rehearsal"] == true && event["actor"] == "alice")
    );
    assert_eq!(
        log[0]["event"]["inputs"],
        serde_json::json!({ "card_serial": "C-0042", "shares": 4 })
    );
    assert_eq!(
        log[3]["event"]["fields"],
        serde_json::json!({ "reporter": "night guard", "seen": "2026-12-02" })
    );
    assert_eq!(
        log[11]["event"]["fields"],
        serde_json::json!({ "kcv": "08D7B4" })
    );

    let verify = scene.custos(&["verify", "INC-1"]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);
    assert!(
        verify.stdout.starts_with("INC-1: ok, 14 events, seal: "),
        "{}",
        verify.stdout
    );
}

#[test]
fn a_node_the_answers_do_not_cover_stops_the_walk_and_resume_continues_it() {
    let scene = Scene::new();
    let partial = scene.answers(
        "partial.yaml",
        "inputs: { card_serial: C-1, shares: 3 }\nnodes:\n  intake: { fields: { reporter: bob, seen: 2026-12-01 } }\n",
    );
    let run = scene.custos(&[
        "run",
        TRIAGE,
        "--answers",
        partial.to_str().unwrap(),
        "--as",
        "bob",
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains(
        "custos: INC-1 stopped at `located`: the answers file has no answer for node `located` (visit 1)\n\
         custos: it stays open; `custos resume INC-1` continues where it stopped\n"
    ), "{}", run.stderr);

    let incidents = scene.custos(&["incidents"]);
    assert!(
        incidents
            .stdout
            .contains("INC-1 card-triage                 open   real  20"),
        "{}",
        incidents.stdout
    );

    let rest = scene.answers(
        "rest.yaml",
        "nodes:\n  located: \"yes\"\n  verify: { fields: { kcv: 0A8245 } }\n",
    );
    let resumed = scene.custos(&[
        "resume",
        "INC-1",
        "--answers",
        rest.to_str().unwrap(),
        "--as",
        "bob",
    ]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        resumed
            .stderr
            .contains("custos: resuming INC-1 at `located`\n")
    );
    let log = scene.log("INC-1");
    let kinds = kinds(&log);
    assert!(
        kinds.contains(&"walk_paused".to_owned()) && kinds.contains(&"walk_resumed".to_owned())
    );
    assert_eq!(kinds.last().unwrap(), "incident_closed");
}

#[test]
fn a_bounded_loop_goes_to_its_exhausted_node_after_the_last_visit() {
    let scene = Scene::new();
    let answers = scene.answers(
        "never-found.yaml",
        "inputs: { card_serial: C-9, shares: 2 }\nnodes:\n  intake: { fields: { reporter: carol, seen: 2026-11-30 } }\n  located: \"no\"\n",
    );
    let run = scene.custos(&["drill", TRIAGE, "--answers", answers.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("closed at `lost`: handed-over"));
    let log = scene.log("INC-1");
    let entered: Vec<&str> = log
        .iter()
        .filter(|event| event["event"]["type"] == "node_entered")
        .map(|event| event["event"]["node"].as_str().unwrap())
        .collect();
    assert_eq!(
        entered,
        [
            "intake",
            "located",
            "search",
            "located",
            "search",
            "located",
            "search",
            "declare_lost",
            "lost"
        ]
    );
    assert!(log.iter().any(|event| event["event"]["text"]
        == "`located` has been visited 3 times, its limit; going to `declare_lost` instead"));
}

#[test]
fn a_value_that_does_not_fit_its_field_stops_the_walk_with_the_reason() {
    let scene = Scene::new();
    let answers = scene.answers(
        "bad.yaml",
        "inputs: { card_serial: C-1, shares: 3 }\nnodes:\n  intake: { fields: { reporter: dan, seen: yesterday } }\n",
    );
    let run = scene.custos(&["drill", TRIAGE, "--answers", answers.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains(
        "stopped at `intake`: node `intake`, field `seen`: `yesterday` is not a date like 2026-12-03"
    ), "{}", run.stderr);
}

#[test]
fn an_input_missing_from_the_answers_opens_nothing() {
    let scene = Scene::new();
    let answers = scene.answers("none.yaml", "inputs: { card_serial: C-1 }\n");
    let run = scene.custos(&["drill", TRIAGE, "--answers", answers.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: the incident was not opened: the answers file gives no value for the input `shares` \
         (How many valid shares are left?)\n"
    );
}

#[test]
fn a_malformed_answers_file_is_reported_with_its_position() {
    let scene = Scene::new();
    let answers = scene.answers("broken.yaml", "inputs: { card_serial: C-1\n");
    let run = scene.custos(&["drill", TRIAGE, "--answers", answers.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("broken.yaml:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("not a valid answers file"),
        "{}",
        run.stderr
    );
}

#[test]
fn now_is_refused_outside_a_drill() {
    let scene = Scene::new();
    let run = scene.custos(&["run", TRIAGE, "--now", "2026-12-01T03:00:00Z"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: `--now` sets the clock of a drill; a real incident runs on the real clock\n"
    );
}

#[test]
fn a_drill_with_a_set_clock_records_that_time() {
    let scene = Scene::new();
    let answers = scene.answers("a.yaml", FOUND_AFTER_ONE_SEARCH);
    let run = scene.custos(&[
        "drill",
        TRIAGE,
        "--answers",
        answers.to_str().unwrap(),
        "--now",
        "2026-06-01T03:00:00Z",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = scene.log("INC-1");
    assert!(
        log[0]["at"]
            .as_str()
            .unwrap()
            .starts_with("2026-06-01T03:00:0"),
        "{}",
        log[0]["at"]
    );
}

/// Opens the store file directly, as someone with write access to it could.
fn tamper(store: &Path, sql: &str) {
    let connection = rusqlite::Connection::open(store).unwrap();
    let triggers: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for trigger in triggers {
        connection
            .execute(&format!("DROP TRIGGER \"{trigger}\""), [])
            .unwrap();
    }
    connection.execute_batch(sql).unwrap();
}

fn walked_drill() -> Scene {
    let scene = Scene::new();
    let answers = scene.answers("a.yaml", FOUND_AFTER_ONE_SEARCH);
    let run = scene.custos(&[
        "drill",
        TRIAGE,
        "--answers",
        answers.to_str().unwrap(),
        "--as",
        "alice",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    scene
}

#[test]
fn verify_names_the_first_changed_event() {
    let scene = walked_drill();
    tamper(
        &scene.store(),
        "UPDATE events SET body = replace(body, 'night guard', 'day guard') WHERE seq = 4",
    );
    let run = scene.custos(&["verify", "INC-1"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.starts_with("INC-1: FAILED at event 4: "),
        "{}",
        run.stdout
    );
    assert_eq!(run.stderr, "custos: 1 incident(s) failed verification\n");
}

#[test]
fn verify_catches_a_deleted_event() {
    let scene = walked_drill();
    tamper(&scene.store(), "DELETE FROM events WHERE seq = 6");
    let run = scene.custos(&["verify", "INC-1"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.starts_with("INC-1: FAILED at event 6: "),
        "{}",
        run.stdout
    );
}

#[test]
fn verify_catches_two_events_swapped() {
    let scene = walked_drill();
    tamper(
        &scene.store(),
        "UPDATE events SET seq = 1000 WHERE seq = 5; UPDATE events SET seq = 5 WHERE seq = 6; \
         UPDATE events SET seq = 6 WHERE seq = 1000;",
    );
    let run = scene.custos(&["verify", "INC-1"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.starts_with("INC-1: FAILED at event 5: "),
        "{}",
        run.stdout
    );
}

#[test]
fn verify_catches_an_inserted_event() {
    let scene = walked_drill();
    tamper(
        &scene.store(),
        "UPDATE events SET seq = seq + 1000 WHERE seq >= 8; \
         UPDATE events SET seq = seq - 999 WHERE seq >= 1000; \
         INSERT INTO events (incident, seq, kind, at, written_at, actor, body, prev_hash, hash) \
         SELECT incident, 8, kind, at, written_at, actor, body, prev_hash, hash FROM events WHERE seq = 7;",
    );
    let run = scene.custos(&["verify", "INC-1"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.starts_with("INC-1: FAILED at event 8: "),
        "{}",
        run.stdout
    );
}

#[test]
fn the_log_prints_every_event_with_its_actor() {
    let scene = walked_drill();
    let run = scene.custos(&["log", "INC-1"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with(
        "INC-1 · DRILL · Triage a reported smart card problem\nrunbook `card-triage` version 1 · \
         severity medium\nSHA-256 "
    ));
    assert!(
        run.stdout
            .contains(" alice answer_given node=located option=no next=search\n"),
        "{}",
        run.stdout
    );
}

/// Lines of `text` longer than 80 characters.
fn too_wide(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| line.chars().count() > 80)
        .collect()
}

#[test]
fn the_incident_list_and_the_log_of_an_incident_with_approvals_fit_in_80_columns() {
    let scene = walked_drill();
    let answers = scene.answers(
        "dual.yaml",
        "nodes:\n  prepare: { notes: [\"Change ticket CHG-2026-0042 approved by the change \
         advisory board on the third of December, with the vendor on the bridge\"] }\n  \
         approve:\n    approvals:\n      - { person: bob, passphrase_env: BOB_PASS }\n      \
         - { person: erin, passphrase_env: ERIN_PASS }\n",
    );
    let run = custos()
        .current_dir(repo())
        .env("CUSTOS_STORE", scene.store())
        .env("BOB_PASS", "bob-drill-passphrase")
        .env("ERIN_PASS", "erin-drill-passphrase")
        .env("CUSTOS_PASSPHRASE_DAVE", "dave-drill-passphrase")
        .args(["drill", "tests/fixtures/dual-control.yaml", "--as", "dave"])
        .arg("--answers")
        .arg(&answers)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);

    let list = scene.custos(&["incidents"]);
    assert_eq!(too_wide(&list.stdout), Vec::<&str>::new());
    assert_eq!(list.stdout.lines().count(), 3, "{}", list.stdout);
    for id in ["INC-1", "INC-2"] {
        let log = scene.custos(&["log", id]);
        assert_eq!(log.code, 0, "{}", log.stderr);
        assert_eq!(too_wide(&log.stdout), Vec::<&str>::new(), "{}", log.stdout);
    }
    let log = scene.custos(&["log", "INC-2"]);
    assert!(log.stdout.contains("approval_granted"), "{}", log.stdout);
    assert!(
        log.stdout.contains("initiator_authenticated"),
        "{}",
        log.stdout
    );

    // `--json` keeps each event whole on one line.
    let json = scene.custos(&["log", "INC-2", "--json"]);
    assert_eq!(json.stdout.lines().count(), scene.log("INC-2").len());
    assert!(json.stdout.lines().any(|line| line.chars().count() > 80));
}

#[test]
fn a_drill_resumed_without_now_keeps_the_clock_it_was_opened_with() {
    let scene = Scene::new();
    let first = scene.answers(
        "first.yaml",
        "inputs: { card_serial: \"C-7\", shares: 3 }\nnodes:\n  intake: { fields: { reporter: \
         guard, seen: 2029-12-31 } }\n",
    );
    let run = scene.custos(&[
        "drill",
        TRIAGE,
        "--answers",
        first.to_str().unwrap(),
        "--now",
        "2030-01-01T00:00:00Z",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);

    let all = scene.answers("all.yaml", FOUND_AFTER_ONE_SEARCH);
    let run = scene.custos(&["resume", "INC-1", "--answers", all.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let log = scene.log("INC-1");
    let offset = log[0]["event"]["clock_offset_ms"].as_i64().unwrap();
    assert!(offset > 2_000_000_000, "a clock set years ahead: {offset}");
    for event in &log {
        let at = event["at"].as_str().unwrap();
        assert!(at.starts_with("2030-01-01T00:0"), "{event}");
    }
    assert_eq!(log.last().unwrap()["event"]["type"], "incident_closed");
}

#[test]
fn an_approval_from_another_terminal_is_stamped_on_the_drills_clock() {
    let scene = Scene::new();
    let answers = scene.answers("a.yaml", "nodes:\n  prepare: {}\n");
    let walk = custos()
        .current_dir(repo())
        .env("CUSTOS_STORE", scene.store())
        .env("CUSTOS_PASSPHRASE_DAVE", "dave-drill-passphrase")
        .args(["drill", "tests/fixtures/dual-control.yaml", "--as", "dave"])
        .args(["--now", "2030-01-01T00:00:00Z", "--answers"])
        .arg(&answers)
        .run();
    assert_eq!(walk.code, 1, "{}", walk.stderr);

    let approve = custos()
        .current_dir(repo())
        .env("CUSTOS_STORE", scene.store())
        .env("P", "bob-drill-passphrase")
        .args(["approve", "INC-1", "--as", "bob", "--passphrase-env", "P"])
        .run();
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let log = scene.log("INC-1");
    let granted = log.last().unwrap();
    assert_eq!(granted["event"]["type"], "approval_granted");
    assert!(
        granted["at"]
            .as_str()
            .unwrap()
            .starts_with("2030-01-01T00:0"),
        "{granted}"
    );
}

#[test]
fn a_real_incident_refuses_approvals_from_an_answers_file() {
    let scene = Scene::new();
    let answers = scene.answers(
        "a.yaml",
        "nodes:\n  prepare: {}\n  approve:\n    approvals:\n      - { person: bob, \
         passphrase_env: BOB_PASS }\n      - { person: erin, passphrase_env: ERIN_PASS }\n",
    );
    let run = custos()
        .current_dir(repo())
        .env("CUSTOS_STORE", scene.store())
        .env("CUSTOS_PASSPHRASE_DAVE", "dave-drill-passphrase")
        .args([
            "run",
            "tests/fixtures/dual-control.yaml",
            "--as",
            "dave",
            "--answers",
        ])
        .arg(&answers)
        .run();
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        format!(
            "custos: `{}` approves at `approve`, and this is a real incident: approvals from an \
             answers file are for drills only; in a real incident each custodian approves from \
             their own terminal: `custos approve INC-N approve --as PERSON`\n",
            answers.display()
        )
    );
    assert!(!scene.store().exists(), "nothing was opened");
}

#[test]
fn a_real_incident_scripted_to_wait_stops_for_custodians_at_their_own_terminals() {
    let scene = Scene::new();
    let answers = scene.answers(
        "a.yaml",
        "nodes:\n  prepare: {}\n  approve:\n    approvals: [{ wait: true }]\n",
    );
    let run = custos()
        .current_dir(repo())
        .env("CUSTOS_STORE", scene.store())
        .env("CUSTOS_PASSPHRASE_DAVE", "dave-drill-passphrase")
        .args([
            "run",
            "tests/fixtures/dual-control.yaml",
            "--as",
            "dave",
            "--wait",
            "0",
        ])
        .arg("--answers")
        .arg(&answers)
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "still waiting for approvals at `approve` after 0 s; `custos approve INC-1 approve` \
             adds one, then `custos resume INC-1`"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_store_this_user_cannot_write_is_refused_once_with_exit_2() {
    let scene = walked_drill();
    let store = scene.store();
    let answers = scene.answers("a.yaml", FOUND_AFTER_ONE_SEARCH);
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"));

    // Root writes any file, so it plays the second custodian's account through `setpriv`; any
    // other user meets a file it may only read.
    let mut command = if root {
        let dir = scene.dir.path();
        let status = std::process::Command::new("chmod")
            .args(["755"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success());
        let mut command = std::process::Command::new("setpriv");
        command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
        command.arg(env!("CARGO_BIN_EXE_custos"));
        command
    } else {
        let mut permissions = std::fs::metadata(&store).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o444);
        std::fs::set_permissions(&store, permissions).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_custos"))
    };
    let output = command
        .current_dir(repo())
        .env_remove("CUSTOS_STORE")
        .arg("--store")
        .arg(&store)
        .args(["--policies", "tests/fixtures/no-policies", "drill", TRIAGE])
        .arg("--answers")
        .arg(&answers)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let user = if root {
        "nobody".to_owned()
    } else {
        custos::store::os_user()
    };
    let expected = format!(
        "custos: the store `{}` is not writable by user {user}: the file is owned by uid ",
        store.display()
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(
        stderr.ends_with(
            "; custodians who share a store need write access to the file and its directory \
             (see docs/dual-control.md)\n"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.matches("readonly").count(), 0, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// A runbook an older custos accepted: today's validator refuses its unguarded use of an
/// action's outputs on the action's failure path, but it builds.
const OLDER: &str = "\
id: older-runbook
title: Opened before the validator grew stricter
version: 1
severity: low
summary: Uses an action's outputs where the action may have failed.
start: probe
nodes:
  probe:
    kind: action
    title: Probe the drill HSM
    run: hsm.health
    with: { environment: drill-primary }
    on_success: read
    on_failure: read
  read:
    kind: step
    title: Read the verdict
    guidance: 'Verdict: {{outputs.probe.verdict}}'
    next: done
  done: { kind: end, title: Done, outcome: resolved }
";

#[test]
fn an_incident_pinned_to_a_runbook_todays_validator_refuses_still_resumes() {
    use custos::store::{Event, Opening, Store};

    let scene = Scene::new();
    assert!(custos::runbook::parse(OLDER, None, &Default::default()).is_err());
    let mut store = Store::open(&scene.store()).unwrap();
    let opening = Opening {
        runbook_id: "older-runbook".to_owned(),
        runbook_version: 1,
        runbook_source: OLDER.to_owned(),
        title: "Opened before the validator grew stricter".to_owned(),
        severity: "low".to_owned(),
        rehearsal: true,
        initiator: "erin".to_owned(),
        inputs: serde_json::Map::new(),
    };
    let now = jiff::Timestamp::now();
    let incident = store.open_incident(&opening, now).unwrap();
    let entered = [Event::NodeEntered {
        node: "read".to_owned(),
    }];
    store.append(&incident, "erin", now, &entered).unwrap();
    drop(store);

    let answers = scene.answers("answers.yaml", "nodes:\n  read: {}\n");
    let run = scene.custos(&["resume", "INC-1", "--answers", answers.to_str().unwrap()]);

    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("INC-1 closed at `done`"),
        "{}",
        run.stderr
    );
}
