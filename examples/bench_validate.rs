//! How validation cost grows with the size of a runbook.
//!
//! Generates runbooks of 1,000, 10,000 and 100,000 nodes in four shapes and times
//! `custos::runbook::parse` on each, beside the YAML parser alone reading the same bytes in the
//! same run:
//!
//! - `lean`: nodes with only a kind, a title and their edges (about 60 bytes);
//! - `full`: nodes that look like real ones: guidance over fields and outputs (under `{{#if}}`
//!   where the action may have failed), a bounded loop back, automated actions, approvals
//!   before destruction (about 210 bytes);
//! - `early`: every node's guidance uses a field recorded by the first node, `{{fields.n0...}}`,
//!   and every action fails to one shared escalation node (many edges into one node);
//! - `previous`: every node uses a value of the node before it: an action's parameter a field of
//!   the step before, a decision the action's outputs under `{{#if}}` (the action leads there
//!   on success and on failure alike), a step the decision's answer.
//!
//! Prints the median of several rounds, the cost per node (about flat when the cost grows
//! linearly) and, for each shape, how much the time grew against the size before it next to how
//! much the node count grew.
//!
//! Run: `cargo run --release --example bench_validate`; `SIZES=1000,10000`, `SHAPES=lean,early`
//! and `ROUNDS=3` choose what runs.

#![allow(clippy::unwrap_used)]

use custos::runbook::{Context, parse};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SHAPES: &[&str] = &["lean", "full", "early", "previous"];

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
        "{:>8} {:>8} {:>10} {:>12} {:>12} {:>12} {:>10}  growth",
        "shape", "nodes", "bytes", "yaml only", "validate", "per node", "vs yaml"
    );
    let shapes: Vec<String> = std::env::var("SHAPES").map_or_else(
        |_| SHAPES.iter().map(|&shape| shape.to_owned()).collect(),
        |text| text.split(',').map(str::to_owned).collect(),
    );
    let mut before: HashMap<String, (usize, Duration)> = HashMap::new();
    for (shape, size) in sizes
        .iter()
        .flat_map(|&size| shapes.iter().map(move |shape| (shape.as_str(), size)))
    {
        let text = generate(shape, size);
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
        let growth = match before.insert(shape.to_owned(), (size, full)) {
            Some((nodes, time)) => format!(
                "{:.1}x the time for {:.0}x the nodes",
                full.as_secs_f64() / time.as_secs_f64(),
                size as f64 / nodes as f64
            ),
            None => String::new(),
        };
        println!(
            "{shape:>8} {size:>8} {:>10} {:>10.1}ms {:>10.1}ms {:>10.2}us {:>9.2}x  {growth}",
            text.len(),
            yaml.as_secs_f64() * 1e3,
            full.as_secs_f64() * 1e3,
            full.as_secs_f64() * 1e6 / size as f64,
            full.as_secs_f64() / yaml.as_secs_f64(),
        );
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// A runbook of `size` nodes of the named shape.
pub fn generate(shape: &str, size: usize) -> String {
    match shape {
        "lean" => generate_lean(size),
        "full" => generate_full(size),
        "early" => generate_early(size),
        _ => generate_previous(size),
    }
}

fn header(text: &mut String, severity: &str) {
    text.push_str(&format!(
        "id: generated\ntitle: Generated\nversion: 1\nseverity: {severity}\n"
    ));
    text.push_str("summary: A generated runbook for benchmarks.\n");
}

/// A chain of steps with titles, every tenth a decision whose second option skips ahead.
pub fn generate_lean(size: usize) -> String {
    let mut text = String::with_capacity(size * 60);
    header(&mut text, "low");
    text.push_str("start: n0\nnodes:\n");
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

/// Blocks of five: a step recording a KCV, an action computing one, a decision comparing them
/// (looping back at most three times), an approval and a destroy. Each block leads to the next;
/// the last leads to the end.
pub fn generate_full(size: usize) -> String {
    let mut text = String::with_capacity(size * 200);
    header(&mut text, "high");
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
            "  n{decision}:\n    kind: decision\n    title: Does {{{{outputs.n{action}.kcv}}}} match?\n    guidance: Compare {{{{#if outputs.n{action}}}}}{{{{outputs.n{action}.kcv}}}}{{{{else}}}}the console KCV{{{{/if}}}} with {{{{fields.n{step}.kcv}}}}.\n    options: {{ \"yes\": n{approval}, \"no\": n{step} }}\n"
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

/// A first step recording a serial, then steps, decisions and actions that all use it; every
/// action fails to one shared escalation step just before the end.
pub fn generate_early(size: usize) -> String {
    let mut text = String::with_capacity(size * 120);
    header(&mut text, "low");
    text.push_str("start: n0\nnodes:\n");
    text.push_str(
        "  n0: { kind: step, title: Record, fields: { serial: { prompt: Serial } }, next: n1 }\n",
    );
    let (escalate, end) = (size - 2, size - 1);
    for node in 1..escalate {
        let next = node + 1;
        let guidance = "guidance: \"Card {{fields.n0.serial}}.\"";
        match node % 3 {
            0 => text.push_str(&format!(
                "  n{node}: {{ kind: action, title: Probe, run: hsm.health, {guidance}, with: {{ environment: drill-primary }}, on_success: n{next}, on_failure: n{escalate} }}\n"
            )),
            1 => text.push_str(&format!(
                "  n{node}: {{ kind: step, title: Step {node}, {guidance}, next: n{next} }}\n"
            )),
            _ => text.push_str(&format!(
                "  n{node}: {{ kind: decision, title: Go on?, {guidance}, options: {{ a: n{next}, b: n{escalate} }} }}\n"
            )),
        }
    }
    text.push_str(&format!(
        "  n{escalate}: {{ kind: step, title: Escalate, guidance: \"Serial {{{{fields.n0.serial}}}}.\", next: n{end} }}\n"
    ));
    text.push_str(&format!(
        "  n{end}: {{ kind: end, title: Done, outcome: resolved }}\n"
    ));
    text
}

/// Blocks of three, each node using a value of the one before: an action whose label is the
/// field of the step before, a decision that shows the action's outputs under `{{#if}}` (the
/// action leads there on success and on failure), a step that shows the decision's answer.
pub fn generate_previous(size: usize) -> String {
    let mut text = String::with_capacity(size * 170);
    header(&mut text, "low");
    text.push_str("start: n0\nnodes:\n");
    text.push_str(
        "  n0: { kind: step, title: Record, fields: { label: { prompt: Label } }, next: n1 }\n",
    );
    let (escalate, end) = (size - 2, size - 1);
    for node in 1..escalate {
        let (previous, next) = (node - 1, node + 1);
        match node % 3 {
            1 => text.push_str(&format!(
                "  n{node}: {{ kind: action, title: Compute, run: hsm.kcv, with: {{ environment: drill-primary, label: \"{{{{fields.n{previous}.label}}}}\" }}, on_success: n{next}, on_failure: n{next} }}\n"
            )),
            2 => text.push_str(&format!(
                "  n{node}: {{ kind: decision, title: Match?, guidance: \"{{{{#if outputs.n{previous}}}}}KCV {{{{outputs.n{previous}.kcv}}}}{{{{else}}}}failed{{{{/if}}}}\", options: {{ \"yes\": n{next}, \"no\": n{escalate} }} }}\n"
            )),
            _ => text.push_str(&format!(
                "  n{node}: {{ kind: step, title: Note, guidance: \"Answer {{{{answers.n{previous}}}}}.\", fields: {{ label: {{ prompt: Label }} }}, next: n{next} }}\n"
            )),
        }
    }
    text.push_str(&format!(
        "  n{escalate}: {{ kind: step, title: Escalate, next: n{end} }}\n"
    ));
    text.push_str(&format!(
        "  n{end}: {{ kind: end, title: Done, outcome: resolved }}\n"
    ));
    text
}
