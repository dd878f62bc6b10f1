//! The cost of a durable walk, beside the disk's own cost of a durable append.
//!
//! Walks a generated runbook of N nodes (steps recording a field, decisions) from an answers
//! file, in process, against an incident log on disk; every move is one SQLite transaction
//! with `synchronous=FULL`, durable before the next question. In the same run, on the same
//! disk, a bare loop appends 200-byte records to a file with `fdatasync` after each: the
//! floor for "durable before the next question". Rounds alternate the two and report
//! medians; the overhead is the walk's cost per move over the bare append.
//!
//! Run: `cargo run --release --example bench_walk` (`NODES=1000 ROUNDS=5`).

#![allow(clippy::unwrap_used)]

use custos::engine::answers::{Answers, Script};
use custos::engine::{
    ActionFailure, Actions, Clock, EngineError, Gates, Start, WalkContext, WalkState, Walker,
};
use custos::runbook::{Context, Input, Loaded, Node, parse};
use custos::store::{EventRecord, Participant, Store, signing};
use serde_json::{Map, Value};
use std::io::Write;
use std::time::{Duration, Instant};

fn main() {
    let nodes = env("NODES", 1_000);
    let rounds = env("ROUNDS", 5);
    let dir = tempfile::tempdir_in(".").expect("a scratch directory on this disk");
    let (source, answers) = generate(nodes);
    let runbook = parse(&source, Some("bench-walk"), &Context::default())
        .expect("generated runbook is valid");
    let loaded = Loaded {
        runbook,
        source: source.clone(),
        sha256: String::new(),
    };
    let key = signing::load_or_create(&dir.path().join("signing.key")).expect("a signing key");

    let mut walks = Vec::new();
    let mut appends = Vec::new();
    let mut events = 0;
    for round in 0..rounds {
        let store_path = dir.path().join(format!("walk-{round}.sqlite"));
        let (elapsed, count) = walk(&store_path, &loaded, &answers, &key);
        walks.push(elapsed);
        events = count;
        appends.push(fdatasync_appends(
            &dir.path().join(format!("append-{round}.log")),
            nodes,
        ));
    }

    let walk = median(&mut walks);
    let append = median(&mut appends);
    let moves = nodes as f64;
    let per_move = walk.as_secs_f64() / moves;
    let per_event = walk.as_secs_f64() / events as f64;
    let per_append = append.as_secs_f64() / nodes as f64;
    println!("scripted walk of {nodes} nodes, {events} events, {rounds} rounds (medians)");
    println!(
        "  walk, total                         {:>10.1} ms",
        walk.as_secs_f64() * 1e3
    );
    println!(
        "  walk, per move (one transaction)    {:>10.1} us",
        per_move * 1e6
    );
    println!(
        "  walk, per durable event             {:>10.1} us",
        per_event * 1e6
    );
    println!(
        "  bare 200-byte append + fdatasync    {:>10.1} us",
        per_append * 1e6
    );
    println!(
        "  overhead per move over the disk     {:>+10.1} %",
        (per_move / per_append - 1.0) * 100.0
    );
    println!(
        "  spread of walk rounds               {:>10.1} .. {:.1} ms",
        ms(walks[0]),
        ms(walks[walks.len() - 1])
    );
    println!(
        "  spread of append rounds             {:>10.1} .. {:.1} ms",
        ms(appends[0]),
        ms(appends[appends.len() - 1])
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// One scripted walk from opening to the sealed end; returns its time and event count.
fn walk(
    store_path: &std::path::Path,
    loaded: &Loaded,
    answers: &str,
    key: &signing::SigningKey,
) -> (Duration, usize) {
    let answers: Answers = serde_saphyr::from_str(answers).expect("generated answers parse");
    let mut responder = Script::new(answers, true);
    let mut store = Store::open(store_path).expect("the store opens");
    let started = Instant::now();

    let clock = Clock::real();
    let start = Start {
        loaded,
        actor: "bench",
        rehearsal: true,
        clock,
        initiator: None,
    };
    let incident = custos::engine::open(&mut store, &start, &mut responder, &NoGates)
        .expect("the incident opens")
        .expect("the inputs are answered");
    let mut walker = Walker {
        context: WalkContext {
            store: &mut store,
            runbook: &loaded.runbook,
            incident,
            actor: "bench".into(),
            clock,
            state: WalkState::default(),
        },
        responder: &mut responder,
        actions: &mut NoActions,
        gates: &mut NoGates,
        key,
        poll: Duration::from_millis(10),
        patience: Duration::ZERO,
    };
    walker.walk().expect("the walk ends");
    let elapsed = started.elapsed();
    let count = store.events(&incident).expect("events read back").len();
    (elapsed, count)
}

/// `count` appends of 200 bytes, each followed by `fdatasync`.
fn fdatasync_appends(path: &std::path::Path, count: usize) -> Duration {
    let record = [b'x'; 199];
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("append file");
    let started = Instant::now();
    for _ in 0..count {
        file.write_all(&record).expect("append");
        file.write_all(b"\n").expect("append");
        file.sync_data().expect("fdatasync");
    }
    started.elapsed()
}

/// A straight runbook of steps with a field and two-way decisions, and answers for all.
fn generate(nodes: usize) -> (String, String) {
    let mut runbook = String::from(
        "id: bench-walk\ntitle: Bench walk\nversion: 1\nseverity: low\nsummary: Benchmark.\nstart: n0\nnodes:\n",
    );
    let mut answers = String::from("nodes:\n");
    for index in 0..nodes - 1 {
        let next = format!("n{}", index + 1);
        if index % 2 == 0 {
            runbook.push_str(&format!(
                "  n{index}:\n    kind: step\n    title: Step {index}\n    fields: {{ serial: {{ prompt: Serial }} }}\n    next: {next}\n"
            ));
            answers.push_str(&format!(
                "  n{index}: {{ fields: {{ serial: \"S-{index}\" }} }}\n"
            ));
        } else {
            runbook.push_str(&format!(
                "  n{index}:\n    kind: decision\n    title: Decision {index}\n    options: {{ go: {next}, stop: n{} }}\n",
                nodes - 1
            ));
            answers.push_str(&format!("  n{index}: go\n"));
        }
    }
    runbook.push_str(&format!(
        "  n{}:\n    kind: end\n    title: Done\n    outcome: resolved\n",
        nodes - 1
    ));
    (runbook, answers)
}

struct NoActions;

impl Actions for NoActions {
    fn run(
        &mut self,
        action: &str,
        _: &Map<String, Value>,
        _: bool,
        _: Duration,
    ) -> Result<Map<String, Value>, ActionFailure> {
        Err(ActionFailure {
            message: format!("{action} is not run in this benchmark"),
            retryable: false,
        })
    }
}

struct NoGates;

impl Gates for NoGates {
    fn attempt(
        &mut self,
        _: &mut WalkContext<'_>,
        _: &Node,
        _: &str,
        _: &str,
    ) -> Result<Result<(), String>, EngineError> {
        Ok(Err("no approvals in this benchmark".into()))
    }

    fn quorum(&self, _: &[EventRecord], _: &Node) -> (Vec<String>, bool) {
        (Vec::new(), false)
    }

    fn notify(
        &mut self,
        _: &mut WalkContext<'_>,
        _: &Node,
    ) -> Result<Result<String, String>, EngineError> {
        Ok(Ok(String::new()))
    }

    // The generated runbook has no `person` fields and is no ceremony.
    fn people(
        &self,
        _: &WalkContext<'_>,
        _: &[Input],
        _: &Map<String, Value>,
    ) -> Result<(), String> {
        Ok(())
    }

    fn participants(&self, _: &[Participant], _: jiff::Timestamp) -> Result<(), String> {
        Ok(())
    }
}
