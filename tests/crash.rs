//! Power-cut behaviour: scripted walks killed with SIGKILL at random moments, then resumed.
//!
//! The walker prints a node's line only after the move into it is durable, so every line a
//! killed process printed names a move that must be in the log, with the value typed at the
//! step before it. After resuming, every node is entered exactly once, every step's value is
//! recorded exactly once with the value the answers gave, and the chain verifies.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::cli::custos;

const NODES: usize = 400;

/// A straight runbook of steps and decisions, and the answers that walk all of it.
fn long_runbook() -> (String, String) {
    let mut runbook = String::from(
        "id: long-walk\ntitle: A long walk\nversion: 1\nseverity: low\nsummary: For crash tests.\nstart: n0\nnodes:\n",
    );
    let mut answers = String::from("nodes:\n");
    for index in 0..NODES {
        let next = format!("n{}", index + 1);
        if index % 2 == 0 {
            runbook.push_str(&format!(
                "  n{index}:\n    kind: step\n    title: Step {index}\n    fields: {{ value: {{ prompt: Value }} }}\n    next: {next}\n"
            ));
            answers.push_str(&format!(
                "  n{index}: {{ fields: {{ value: \"v{index}\" }} }}\n"
            ));
        } else {
            runbook.push_str(&format!(
                "  n{index}:\n    kind: decision\n    title: Decision {index}\n    options: {{ go: {next}, stop: end }}\n"
            ));
            answers.push_str(&format!("  n{index}: go\n"));
        }
    }
    runbook.push_str(&format!(
        "  n{NODES}:\n    kind: end\n    title: Done\n    outcome: resolved\n"
    ));
    runbook.push_str("  end:\n    kind: end\n    title: Stopped early\n    outcome: aborted\n");
    (runbook, answers)
}

/// A small deterministic generator, so a failing seed can be replayed.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

#[test]
fn walks_killed_at_random_points_resume_with_every_acknowledged_move_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (runbook, answers) = long_runbook();
    let runbook_path = dir.path().join("long-walk.yaml");
    let answers_path = dir.path().join("answers.yaml");
    std::fs::write(&runbook_path, runbook).unwrap();
    std::fs::write(&answers_path, answers).unwrap();
    let store = dir.path().join("incidents.sqlite");

    let seed = std::env::var("CUSTOS_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let mut random = Random(seed);

    // How long one whole walk takes on this machine now, so kills land inside walks whether
    // the build is optimised or the machine is loaded. It becomes incident 1.
    let whole = Instant::now();
    let calibration = custos()
        .args(["--policies", "/nonexistent", "--store"])
        .arg(&store)
        .arg("drill")
        .arg(&runbook_path)
        .args(["--quiet", "--answers"])
        .arg(&answers_path)
        .run();
    assert_eq!(calibration.code, 0, "{}", calibration.stderr);
    let span = u64::try_from(whole.elapsed().as_millis()).unwrap().max(20);

    let started = Instant::now();
    let mut kills = 0;
    let mut incidents = 1;
    let mut interrupted = 0;

    while kills < 30 && started.elapsed() < Duration::from_secs(60) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
            .args(["--policies", "/nonexistent", "--store"])
            .arg(&store)
            .args(["drill"])
            .arg(&runbook_path)
            .arg("--answers")
            .arg(&answers_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(random.below(span)));
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        let mut printed = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut printed)
            .unwrap();
        let acknowledged: Vec<usize> = printed
            .lines()
            .filter(|line| line.starts_with('['))
            .filter_map(|line| {
                let id = line.rsplit_once("(n")?.1.strip_suffix(')')?;
                id.parse().ok()
            })
            .collect();

        let list = custos()
            .args(["--store"])
            .arg(&store)
            .args(["incidents"])
            .run();
        let opened = list.stdout.lines().skip(1).count();
        if opened == incidents {
            assert!(
                acknowledged.is_empty(),
                "seed {seed}: moves acknowledged without an incident"
            );
            continue;
        }
        incidents = opened;
        let id = format!("INC-{incidents}");

        let (entered_before, values_before) = recorded(&store, &id);
        assert!(
            entered_before.len() >= acknowledged.len(),
            "seed {seed}: {id} printed {} nodes but the log has {} entries",
            acknowledged.len(),
            entered_before.len()
        );
        // Arriving at n{i} acknowledged the value typed at the step n{i-1}, when it is a step.
        for &index in &acknowledged {
            assert!(
                entered_before.contains(&format!("n{index}")),
                "seed {seed}: {id} printed n{index}, which the log never entered"
            );
            let Some(step) = index.checked_sub(1).filter(|step| step % 2 == 0) else {
                continue;
            };
            let expected = (format!("n{step}"), format!("v{step}"));
            assert!(
                values_before.contains(&expected),
                "seed {seed}: {id} acknowledged n{step}={}, which the log does not hold",
                expected.1
            );
        }

        let closed = list
            .stdout
            .lines()
            .any(|line| line.starts_with(&format!("{id} ")) && line.contains(" closed "));
        if !closed {
            interrupted += 1;
        }
        let resume = custos()
            .args(["--policies", "/nonexistent", "--store"])
            .arg(&store)
            .args(["resume", &id, "--quiet", "--answers"])
            .arg(&answers_path)
            .run();
        let expected_code = if closed { 2 } else { 0 };
        assert_eq!(
            resume.code, expected_code,
            "seed {seed}: resume of {id}: {}",
            resume.stderr
        );

        let expected: Vec<String> = (0..=NODES).map(|index| format!("n{index}")).collect();
        let (entered_after, values_after) = recorded(&store, &id);
        assert_eq!(
            entered_after, expected,
            "seed {seed}: {id} path after resume"
        );
        let expected_values: Vec<(String, String)> = (0..NODES)
            .step_by(2)
            .map(|index| (format!("n{index}"), format!("v{index}")))
            .collect();
        assert_eq!(
            values_after, expected_values,
            "seed {seed}: {id} values after resume"
        );
        let verify = custos()
            .args(["--store"])
            .arg(&store)
            .args(["verify", &id])
            .run();
        assert_eq!(verify.code, 0, "seed {seed}: {}", verify.stdout);
    }
    assert!(
        interrupted >= 10,
        "seed {seed}: only {interrupted} of {kills} runs were cut mid-walk"
    );
}

/// The nodes entered in an incident, in order, and each step's recorded value with its node,
/// in order; no step may be recorded twice.
fn recorded(store: &std::path::Path, id: &str) -> (Vec<String>, Vec<(String, String)>) {
    let run = custos()
        .args(["--store"])
        .arg(store)
        .args(["log", id, "--json"])
        .run();
    let mut nodes = Vec::new();
    let mut values = Vec::new();
    for line in run.stdout.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = |key: &str| event["event"][key].as_str().unwrap().to_owned();
        match event["event"]["type"].as_str() {
            Some("node_entered") => nodes.push(text("node")),
            Some("step_completed") => values.push((
                text("node"),
                event["event"]["fields"]["value"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )),
            _ => {}
        }
    }
    let unique: std::collections::HashSet<&String> = values.iter().map(|(node, _)| node).collect();
    assert_eq!(
        unique.len(),
        values.len(),
        "{id}: a step was recorded twice: {values:?}"
    );
    (nodes, values)
}
