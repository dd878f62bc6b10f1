//! How validation cost grows with the size of a runbook.
//!
//! Generates runbooks of 1,000, 10,000 and 100,000 nodes in two shapes and times
//! `custos::runbook::parse` on each, beside the YAML parser alone reading the same bytes in the
//! same run: `lean` nodes carry only a kind, a title and their edges (about 60 bytes); `full`
//! nodes look like real ones (guidance templates over fields and outputs, a bounded loop back,
//! automated actions, approvals before destruction; about 190 bytes). Prints the median of several rounds and the cost per node,
//! which stays about flat when the cost grows linearly.
//!
//! Run: `cargo run --release --example bench_validate`

#![allow(clippy::unwrap_used)]

use custos::runbook::{Context, parse};
use std::time::{Duration, Instant};

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let sizes: Vec<usize> = std::env::var("SIZES")
        .ok()
        .map(|text| text.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);

    println!(
        "{:>6} {:>8} {:>10} {:>12} {:>12} {:>12} {:>10}",
        "shape", "nodes", "bytes", "yaml only", "validate", "per node", "ratio"
    );
    for (shape, size) in sizes
        .iter()
        .flat_map(|&size| [("lean", size), ("full", size)])
    {
        let text = if shape == "lean" {
            generate_lean(size)
        } else {
            generate(size)
        };
        let mut yaml = Vec::new();
        let mut full = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let value: Result<serde::de::IgnoredAny, _> = serde_saphyr::from_str_with_options(
                &text,
                serde_saphyr::options! { budget: None, emit_comments: false },
            );
            assert!(value.is_ok());
            yaml.push(started.elapsed());

            let started = Instant::now();
            let runbook = parse(&text, Some("generated"), &Context::default());
            full.push(started.elapsed());
            let runbook = runbook
                .unwrap_or_else(|problems| panic!("generated runbook invalid: {problems:?}"));
            assert_eq!(runbook.nodes.len(), size);
        }
        let (yaml, full) = (median(&mut yaml), median(&mut full));
        println!(
            "{shape:>6} {size:>8} {:>10} {:>10.1}ms {:>10.1}ms {:>10.2}us {:>9.2}x",
            text.len(),
            yaml.as_secs_f64() * 1e3,
            full.as_secs_f64() * 1e3,
            full.as_secs_f64() * 1e6 / size as f64,
            full.as_secs_f64() / yaml.as_secs_f64(),
        );
    }
}

/// A runbook of `size` nodes with only what every node needs: a chain of steps with titles,
/// every tenth a decision whose second option skips ahead.
pub fn generate_lean(size: usize) -> String {
    let mut text = String::with_capacity(size * 60);
    text.push_str("id: generated\ntitle: Generated\nversion: 1\nseverity: low\n");
    text.push_str("summary: A generated runbook for benchmarks.\nstart: n0\nnodes:\n");
    for node in 0..size - 1 {
        let next = node + 1;
        if node % 10 == 9 {
            let skip = (node + 5).min(size - 1);
            text.push_str(&format!(
                "  n{node}: {{ kind: decision, title: Go on?, options: {{ a: n{next}, b: n{skip} }} }}\n"
            ));
        } else {
            text.push_str(&format!(
                "  n{node}: {{ kind: step, title: Step {node}, next: n{next} }}\n"
            ));
        }
    }
    text.push_str(&format!(
        "  n{}: {{ kind: end, title: Done, outcome: resolved }}\n",
        size - 1
    ));
    text
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// A runbook of `size` nodes in blocks of five: a step recording a KCV, an action computing
/// one, a decision comparing them (looping back at most three times), an approval and a
/// destroy. Each block leads to the next; the last leads to the end.
pub fn generate(size: usize) -> String {
    let mut text = String::with_capacity(size * 200);
    text.push_str("id: generated\ntitle: Generated\nversion: 1\nseverity: high\n");
    text.push_str("summary: A generated runbook for benchmarks.\n");
    text.push_str("inputs:\n  label: { prompt: Which key? }\nstart: n0\nnodes:\n");
    let blocks = (size - 1) / 5;
    for block in 0..blocks {
        let base = block * 5;
        let next = if block + 1 == blocks {
            format!("n{}", blocks * 5)
        } else {
            format!("n{}", base + 5)
        };
        let (step, action, decision, approval, destroy) =
            (base, base + 1, base + 2, base + 3, base + 4);
        text.push_str(&format!(
            "  n{step}:\n    kind: step\n    phase: containment\n    title: Load the components of block {block}\n    guidance: Load {{{{inputs.label}}}} for block {block}.\n    max_visits: 3\n    on_exhausted: n{approval}\n    fields: {{ kcv: {{ prompt: Component KCV, type: kcv }} }}\n    next: n{action}\n"
        ));
        text.push_str(&format!(
            "  n{action}:\n    kind: action\n    title: Compute the KCV\n    run: hsm.kcv\n    with: {{ environment: drill-primary, label: \"{{{{inputs.label}}}}\" }}\n    on_success: n{decision}\n    on_failure: n{decision}\n"
        ));
        text.push_str(&format!(
            "  n{decision}:\n    kind: decision\n    title: Does {{{{outputs.n{action}.kcv}}}} match?\n    guidance: Compare {{{{outputs.n{action}.kcv}}}} with {{{{fields.n{step}.kcv}}}}.\n    options: {{ \"yes\": n{approval}, \"no\": n{step} }}\n"
        ));
        text.push_str(&format!(
            "  n{approval}:\n    kind: approval\n    title: Approve\n    require: {{ roles: [custodian], count: 2 }}\n    next: n{destroy}\n"
        ));
        text.push_str(&format!(
            "  n{destroy}:\n    kind: action\n    title: Destroy the old key\n    run: hsm.destroy\n    with: {{ environment: drill-primary, label: OLD-{block} }}\n    on_success: {next}\n    on_failure: {next}\n"
        ));
    }
    for filler in blocks * 5..size - 1 {
        text.push_str(&format!(
            "  n{filler}:\n    kind: step\n    title: Filler\n    next: n{}\n",
            filler + 1
        ));
    }
    text.push_str(&format!(
        "  n{}:\n    kind: end\n    title: Done\n    outcome: resolved\n",
        size - 1
    ));
    text
}
