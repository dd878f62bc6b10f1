//! Exporting and verifying a large log, beside `sha256sum` over the same bytes.
//!
//! Builds an incident log of EVENTS events (default one million) in a few incidents, written
//! with the store API in large batches, then exports it as JSON Lines and verifies the export
//! offline. In the same run `sha256sum` hashes the export file, the floor for anything that
//! must read and hash every byte. Peak memory (VmHWM) is reset before each phase through
//! `/proc/self/clear_refs`, so each phase reports its own peak.
//!
//! Run: `cargo run --release --example bench_export` (`EVENTS=1000000 INCIDENTS=4`).

#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::time::Instant;

use custos::export::{Filter, Manifest, verify_jsonl, write_jsonl};
use custos::store::{Event, Opening, Store, signing};
use jiff::Timestamp;
use serde_json::{Map, Value};

const BATCH: u64 = 20_000;

fn main() {
    let events = env("EVENTS", 1_000_000);
    let incidents = env("INCIDENTS", 4);
    let dir = tempfile::tempdir_in(".").expect("a scratch directory on this disk");
    let key = signing::load_or_create(&dir.path().join("signing.key")).unwrap();
    let mut store = Store::open(&dir.path().join("incidents.sqlite")).unwrap();

    let started = Instant::now();
    build(&mut store, &key, events, incidents);
    println!(
        "built a log of {events} events in {incidents} incidents in {:.1?}",
        started.elapsed()
    );

    let file = dir.path().join("export.jsonl");
    reset_peak();
    let started = Instant::now();
    let filter = Filter {
        include_drills: true,
        ..Filter::default()
    };
    let manifest = Manifest::build(&store, &filter, Some(&key.verifying_key())).unwrap();
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&file).unwrap());
    let written = write_jsonl(&store, &manifest, &mut out, &file).unwrap();
    drop(out);
    let export = started.elapsed().as_secs_f64();
    let export_peak = peak_kib();
    let bytes = std::fs::metadata(&file).unwrap().len();

    reset_peak();
    let started = Instant::now();
    let mut input = BufReader::with_capacity(1 << 20, File::open(&file).unwrap());
    let check = verify_jsonl(&mut input, &file, Some(&key.verifying_key())).unwrap();
    let verify = started.elapsed().as_secs_f64();
    let verify_peak = peak_kib();
    assert!(check.is_ok(), "the export verifies");

    let sha = timed_tool(&file, "sha256sum", &[]);
    let openssl = timed_tool(&file, "openssl", &["dgst", "-sha256"]);
    let mb = bytes as f64 / 1e6;
    println!("export file: {written} events, {mb:.1} MB");
    report("export (SQLite to JSON Lines)", written, mb, export);
    report("verify --export", written, mb, verify);
    report("sha256sum over the same file", written, mb, sha);
    report("openssl dgst -sha256, same file", written, mb, openssl);
    println!(
        "verification runs at {:.0}% of sha256sum's throughput (target: at least 50%)",
        100.0 * sha / verify
    );
    println!(
        "verification runs at {:.0}% of openssl's throughput (issue #10's target: at least 50%)",
        100.0 * openssl / verify
    );
    println!("peak memory (VmHWM): export {export_peak} KiB, verify {verify_peak} KiB");
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

/// How long `tool ARGS FILE` takes over the export file.
fn timed_tool(file: &Path, tool: &str, args: &[&str]) -> f64 {
    let started = Instant::now();
    let output = std::process::Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|error| panic!("{tool} runs: {error}"));
    assert!(output.status.success());
    started.elapsed().as_secs_f64()
}

fn report(what: &str, events: u64, mb: f64, seconds: f64) {
    println!(
        "{what:<32} {seconds:>7.3} s  {:>10.0} events/s  {:>7.1} MB/s",
        events as f64 / seconds,
        mb / seconds
    );
}

/// Resets VmHWM to the current resident size (Linux 4.0 and later).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
