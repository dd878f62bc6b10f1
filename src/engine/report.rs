//! The debrief after a walk: the path taken, time per node and per phase, the decisions.
//!
//! Built from the log alone, so it can be printed at the end of a drill or any time later.
//! Lines stay within 80 columns for a terminal over SSH.

use crate::runbook::{Phase, Runbook, checklist::friendly};
use crate::store::{Event, EventRecord};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The debrief of one incident as text.
pub fn debrief(runbook: &Runbook, records: &[EventRecord]) -> String {
    let mut out = String::new();
    let Some(first) = records.first() else {
        return out;
    };
    let last = records.last().map_or(first.at, |record| record.at);
    let kind = if first.rehearsal { "drill" } else { "incident" };

    let _ = writeln!(
        out,
        "Debrief of {} ({kind}): {}",
        first.incident, runbook.title
    );
    let ending = records.iter().find_map(|record| match &record.event {
        Event::IncidentClosed { node, outcome } => Some(format!("{outcome} at `{node}`")),
        _ => None,
    });
    let elapsed = friendly(last.duration_since(first.at));
    let _ = writeln!(
        out,
        "Outcome: {}, {elapsed} after opening.\n",
        ending.as_deref().unwrap_or("still open")
    );

    path(runbook, records, last, &mut out);
    decisions(records, &mut out);
    actions(records, &mut out);
    approvals(records, &mut out);
    notes(records, &mut out);
    out
}

/// When each node was entered and how long the walk stayed there (until the next entry, or
/// `end` for the last).
pub fn stays(records: &[EventRecord], end: Timestamp) -> Vec<(String, Timestamp, SignedDuration)> {
    let entries: Vec<(String, Timestamp)> = records
        .iter()
        .filter_map(|record| match &record.event {
            Event::NodeEntered { node } => Some((node.clone(), record.at)),
            _ => None,
        })
        .collect();
    entries
        .iter()
        .enumerate()
        .map(|(index, (node, at))| {
            let left = entries.get(index + 1).map_or(end, |(_, next)| *next);
            (node.clone(), *at, left.duration_since(*at))
        })
        .collect()
}

fn path(runbook: &Runbook, records: &[EventRecord], end: Timestamp, out: &mut String) {
    let opened = records[0].at;
    let stays = stays(records, end);
    out.push_str("Path taken\n");
    let mut phases: BTreeMap<Option<Phase>, SignedDuration> = BTreeMap::new();
    for (index, (node, at, stayed)) in stays.iter().enumerate() {
        let found = runbook.node(&crate::runbook::NodeId(node.clone()));
        let title = found.map_or("(not in this runbook)", |n| n.title.as_str());
        let offset = clock_offset(at.duration_since(opened));
        let title: String = title.chars().take(40).collect();
        let _ = writeln!(
            out,
            "  {:>3}. +{offset}  {node:<24} {title}  ({})",
            index + 1,
            friendly(*stayed)
        );
        let phase = found.and_then(|n| n.phase);
        *phases.entry(phase).or_default() += *stayed;
    }

    out.push_str("\nTime per phase\n");
    for (phase, spent) in &phases {
        let name = phase.map_or("(no phase)", Phase::label);
        let _ = writeln!(out, "  {name:<40} {}", friendly(*spent));
    }
    out.push('\n');
}

fn decisions(records: &[EventRecord], out: &mut String) {
    let taken: Vec<String> = records
        .iter()
        .filter_map(|record| match &record.event {
            Event::AnswerGiven { node, option, .. } => {
                Some(format!("  {node}: {option} ({})", record.actor))
            }
            _ => None,
        })
        .collect();
    section(out, "Decisions", &taken);
}

fn actions(records: &[EventRecord], out: &mut String) {
    let finished: Vec<String> = records
        .iter()
        .filter_map(|record| match &record.event {
            Event::ActionFinished {
                node,
                action,
                ok: true,
                outputs,
                ..
            } => {
                let kcv = outputs.get("kcv").and_then(|kcv| kcv.as_str());
                let method = outputs
                    .get("method")
                    .and_then(|method| method.as_str())
                    .unwrap_or("ecb");
                let detail = kcv
                    .map(|kcv| format!(", KCV {kcv} ({method})"))
                    .unwrap_or_default();
                Some(format!("  {node}: {action} succeeded{detail}"))
            }
            Event::ActionFinished {
                node,
                action,
                error,
                ..
            } => Some(format!(
                "  {node}: {action} FAILED: {}",
                error.as_deref().unwrap_or("no reason given")
            )),
            _ => None,
        })
        .collect();
    section(out, "Automated steps", &finished);
}

fn approvals(records: &[EventRecord], out: &mut String) {
    let lines: Vec<String> = records
        .iter()
        .filter_map(|record| match &record.event {
            Event::ApprovalGranted {
                node,
                person,
                role,
                origin,
                ..
            } => Some(format!(
                "  {node}: {person} as {role}, from {}@{} {}",
                origin.user, origin.host, origin.terminal
            )),
            Event::ApprovalRefused {
                node,
                person,
                reason,
                ..
            } => Some(format!("  {node}: {person} REFUSED: {reason}")),
            _ => None,
        })
        .collect();
    section(out, "Approvals", &lines);
}

fn notes(records: &[EventRecord], out: &mut String) {
    let lines: Vec<String> = records
        .iter()
        .filter_map(|record| match &record.event {
            Event::NoteAdded { node, text } => Some(format!("  {node} ({}): {text}", record.actor)),
            Event::WalkPaused { node, reason } => Some(format!("  {node}: paused: {reason}")),
            _ => None,
        })
        .collect();
    section(out, "Notes and deviations", &lines);
}

fn section(out: &mut String, title: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}");
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
}

/// `hh:mm:ss` since the incident opened.
fn clock_offset(duration: SignedDuration) -> String {
    let seconds = duration.as_secs().max(0);
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}
