//! Exporting and verifying a large log with the real CLI, beside `sha256sum` and
//! `openssl dgst -sha256` over the same bytes.
//!
//! For each size in SIZES (default `100000,1000000` events) it builds an incident log of that
//! many events in INCIDENTS closed incidents with the store API, then runs ROUNDS alternating
//! rounds (default 5) of four child processes: `custos export` to JSON Lines, `custos verify
//! --export` with the trusted key, `sha256sum` and `openssl dgst -sha256` over the export. Each
//! runs under `/usr/bin/time -f %M`, which reports that process's own peak resident memory, so
//! the memory figures are those of the commands a user runs, measured at two sizes: flat in N
//! shows as the same number twice. Times are medians with their spread (lowest..highest);
//! the ratio to `openssl` is the ratio of the medians, with the per-round ratios beside it.
//!
//! Run: `cargo build --release --bin custos --example bench_export` then
//! `target/release/examples/bench_export` (`SIZES=100000,1000000 INCIDENTS=4 ROUNDS=5`).
//! `CUSTOS_BIN` names another custos binary, to compare two builds on the same logs; `KEEP=1`
//! keeps each log and export in its scratch directory, for profiling.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use custos::store::{Event, Opening, Store, signing};
use jiff::Timestamp;
use serde_json::{Map, Value};

const BATCH: u64 = 20_000;

/// The four commands of a round, in the order they run.
const CONTENDERS: [&str; 4] = [
    "export (custos export, SQLite to JSON Lines)",
    "verify --export",
    "sha256sum over the same file",
    "openssl dgst -sha256, same file",
];

fn main() {
    let sizes = env_list("SIZES", &[100_000, 1_000_000]);
    let incidents = env("INCIDENTS", 4);
    let rounds = env("ROUNDS", 5).max(1);
    let custos = custos_binary();
    println!("custos binary: {}", custos.display());

    let mut largest = None;
    for &events in &sizes {
        let measured = measure(&custos, events, incidents, rounds);
        println!(
            "peak memory at {events} events: export {} KiB, verify {} KiB, sha256sum {} KiB \
             (median of {rounds} rounds, /usr/bin/time %M)",
            median(&measured.peaks[0]),
            median(&measured.peaks[1]),
            median(&measured.peaks[2]),
        );
        largest = Some(measured);
    }

    let Some(measured) = largest else {
        return;
    };
    table(&measured, rounds);
}

/// What the rounds at one size gave.
struct Measured {
    events: u64,
    bytes: u64,
    /// Seconds per round, per contender.
    seconds: [Vec<f64>; 4],
    /// Peak resident KiB per round, per contender.
    peaks: [Vec<u64>; 4],
}

fn measure(custos: &Path, events: u64, incidents: u64, rounds: u64) -> Measured {
    let dir = tempfile::tempdir_in(".").expect("a scratch directory on this disk");
    let store_path = dir.path().join("incidents.sqlite");
    let key = signing::load_or_create(&dir.path().join("signing.key")).unwrap();
    let mut store = Store::open(&store_path).unwrap();
    let started = Instant::now();
    build(&mut store, &key, events, incidents);
    drop(store);
    println!(
        "built a log of {events} events in {incidents} incidents in {:.1?}",
        started.elapsed()
    );

    let file = dir.path().join("export.jsonl");
    let file_text = file.to_str().unwrap().to_owned();
    let store_text = store_path.to_str().unwrap().to_owned();
    let trusted = signing::public_key_text(&key.verifying_key());
    let commands: [Vec<&str>; 4] = [
        vec![
            custos.to_str().unwrap(),
            "--store",
            &store_text,
            "export",
            "--include-drills",
            "-o",
            &file_text,
        ],
        vec![
            custos.to_str().unwrap(),
            "verify",
            "--export",
            &file_text,
            "--trusted-key",
            &trusted,
        ],
        vec!["sha256sum", &file_text],
        vec!["openssl", "dgst", "-sha256", &file_text],
    ];

    let mut measured = Measured {
        events,
        bytes: 0,
        seconds: Default::default(),
        peaks: Default::default(),
    };
    let peak_file = dir.path().join("peak.txt");
    for _ in 0..rounds {
        for (index, command) in commands.iter().enumerate() {
            let (seconds, peak) = timed(command, &peak_file);
            measured.seconds[index].push(seconds);
            measured.peaks[index].push(peak);
        }
    }
    measured.bytes = std::fs::metadata(&file).unwrap().len();
    if env("KEEP", 0) == 1 {
        println!("kept the log and its export in {}", dir.keep().display());
    }
    measured
}

fn table(measured: &Measured, rounds: u64) {
    let events = measured.events;
    let mb = measured.bytes as f64 / 1e6;
    println!("export file: {events} events, {mb:.1} MB");
    println!("{rounds} rounds at {events} events, alternating; median (lowest..highest)");
    for (name, samples) in CONTENDERS.iter().zip(&measured.seconds) {
        let middle = median_f(samples);
        println!(
            "{name:<46} {middle:>7.3} s ({:.3}..{:.3})  {:>10.0} events/s  {:>7.1} MB/s",
            lowest(samples),
            highest(samples),
            events as f64 / middle,
            mb / middle
        );
    }

    for (index, name, target) in [(3, "openssl", 0.5), (2, "sha256sum", 0.5)] {
        let verify = &measured.seconds[1];
        let tool = &measured.seconds[index];
        let per_round: Vec<f64> = tool.iter().zip(verify).map(|(t, v)| t / v).collect();
        println!(
            "verification beside {name}: {:.2}x its throughput (ratio of medians; per round \
             {:.2}..{:.2}; target >= {target}x)",
            median_f(tool) / median_f(verify),
            lowest(&per_round),
            highest(&per_round),
        );
    }
}

/// Runs `command` under `/usr/bin/time`; its wall time in seconds and its peak resident KiB.
fn timed(command: &[&str], peak_file: &Path) -> (f64, u64) {
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(peak_file)
        .args(command)
        .output()
        .unwrap_or_else(|error| panic!("/usr/bin/time {command:?} runs: {error}"));
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let text = std::fs::read_to_string(peak_file).unwrap();
    let peak = text.trim().lines().last().unwrap().parse().unwrap();
    (seconds, peak)
}

/// The custos binary beside this example (`target/release/custos`), or `CUSTOS_BIN`.
fn custos_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CUSTOS_BIN") {
        return PathBuf::from(path);
    }
    let example = std::env::current_exe().unwrap();
    let binary = example.parent().unwrap().parent().unwrap().join("custos");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build --release --bin custos`",
        binary.display()
    );
    binary
}

/// Writes `events` events spread over `incidents` closed incidents.
fn build(store: &mut Store, key: &ed25519_dalek::SigningKey, events: u64, incidents: u64) {
    let per_incident = events / incidents;
    let at = Timestamp::now();
    for number in 0..incidents {
        let opening = Opening {
            runbook_id: "bench-export".into(),
            runbook_version: 1,
            runbook_source: "id: bench-export\n".into(),
            title: format!("Benchmark incident {number}"),
            severity: "high".into(),
            rehearsal: number % 2 == 1,
            initiator: "bench".into(),
            inputs: Map::new(),
        };
        let id = store.open_incident(&opening, at).unwrap();

        // Event 1 is the opening and the last is the closing, so the middle takes the rest.
        let mut left = per_incident - 2;
        while left > 0 {
            let batch: Vec<Event> = (0..left.min(BATCH)).map(|i| event(left - i)).collect();
            store.append(&id, "bench", at, &batch).unwrap();
            left -= batch.len() as u64;
        }
        let closing = Event::IncidentClosed {
            node: "done".into(),
            outcome: "resolved".into(),
        };
        store.close(&id, "bench", at, closing, key).unwrap();
    }
}

/// A step with a couple of recorded fields, the size of a typical event.
fn event(n: u64) -> Event {
    let mut fields = Map::new();
    fields.insert("operator".into(), Value::from("night shift"));
    fields.insert("reading".into(), Value::from(n));
    Event::StepCompleted {
        node: format!("step_{}", n % 100),
        fields,
        next: format!("step_{}", (n + 1) % 100),
    }
}

fn median_f(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

fn median(samples: &[u64]) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

fn lowest(samples: &[f64]) -> f64 {
    samples.iter().copied().fold(f64::INFINITY, f64::min)
}

fn highest(samples: &[f64]) -> f64 {
    samples.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &[u64]) -> Vec<u64> {
    let Ok(text) = std::env::var(name) else {
        return default.to_vec();
    };
    text.split(',')
        .map(|part| part.trim().parse().unwrap())
        .collect()
}
