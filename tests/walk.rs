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
            .contains("INC-1    card-triage                  open    real"),
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
    assert!(run.stdout.starts_with("INC-1 · DRILL · Triage a reported smart card problem\nrunbook `card-triage` version 1 · SHA-256 "));
    assert!(
        run.stdout
            .contains(" alice      answer_given node=located option=no next=search\n"),
        "{}",
        run.stdout
    );
}
