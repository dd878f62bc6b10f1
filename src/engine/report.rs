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
    let mut debrief = Debrief::default();
    for record in records {
        debrief.add(record);
    }
    debrief.finish(runbook)
}

/// A debrief built one event at a time, so that printing it after a long walk streams the log
/// instead of holding every event: it keeps only the lines it will print.
#[derive(Default)]
pub struct Debrief {
    /// The incident, whether it is a drill, and when it opened: from the first event.
    opening: Option<(String, bool, Timestamp)>,
    last: Option<Timestamp>,
    ending: Option<String>,
    entries: Vec<(String, Timestamp)>,
    decisions: Vec<String>,
    actions: Vec<String>,
    approvals: Vec<String>,
    notes: Vec<String>,
}

impl Debrief {
    /// Takes the next event of the incident, in log order.
    pub fn add(&mut self, record: &EventRecord) {
        if self.opening.is_none() {
            self.opening = Some((record.incident.to_string(), record.rehearsal, record.at));
        }
        self.last = Some(record.at);

        match &record.event {
            Event::IncidentClosed { node, outcome } => {
                self.ending = Some(format!("{outcome} at `{node}`"));
            }
            Event::NodeEntered { node } => self.entries.push((node.clone(), record.at)),
            Event::AnswerGiven { node, option, .. } => self
                .decisions
                .push(format!("  {node}: {option} ({})", record.actor)),
            Event::ActionFinished { .. } => self.actions.extend(action_line(&record.event)),
            Event::ApprovalGranted {
                node,
                person,
                role,
                origin,
                ..
            } => self.approvals.push(format!(
                "  {node}: {person} as {role}, from {}@{} {}",
                origin.user, origin.host, origin.terminal
            )),
            Event::ApprovalRefused {
                node,
                person,
                reason,
                ..
            } => self
                .approvals
                .push(format!("  {node}: {person} REFUSED: {reason}")),
            Event::NoteAdded { node, text } => {
                self.notes
                    .push(format!("  {node} ({}): {text}", record.actor));
            }
            Event::WalkPaused { node, reason } => {
                self.notes.push(format!("  {node}: paused: {reason}"));
            }
            _ => {}
        }
    }

    /// The debrief as text; empty when no event was added.
    pub fn finish(self, runbook: &Runbook) -> String {
        let mut out = String::new();
        let Some((incident, rehearsal, opened)) = &self.opening else {
            return out;
        };
        let last = self.last.unwrap_or(*opened);
        let kind = if *rehearsal { "drill" } else { "incident" };

        let _ = writeln!(out, "Debrief of {incident} ({kind}): {}", runbook.title);
        let elapsed = friendly(last.duration_since(*opened));
        let _ = writeln!(
            out,
            "Outcome: {}, {elapsed} after opening.\n",
            self.ending.as_deref().unwrap_or("still open")
        );

        path(runbook, &stays_of(&self.entries, last), *opened, &mut out);
        section(&mut out, "Decisions", &self.decisions);
        section(&mut out, "Automated steps", &self.actions);
        section(&mut out, "Approvals", &self.approvals);
        section(&mut out, "Notes and deviations", &self.notes);
        out
    }
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
    stays_of(&entries, end)
}

/// Each entry with how long the walk stayed, until the next entry or `end`.
fn stays_of(
    entries: &[(String, Timestamp)],
    end: Timestamp,
) -> Vec<(String, Timestamp, SignedDuration)> {
    entries
        .iter()
        .enumerate()
        .map(|(index, (node, at))| {
            let left = entries.get(index + 1).map_or(end, |(_, next)| *next);
            (node.clone(), *at, left.duration_since(*at))
        })
        .collect()
}

fn path(
    runbook: &Runbook,
    stays: &[(String, Timestamp, SignedDuration)],
    opened: Timestamp,
    out: &mut String,
) {
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

/// The debrief's line for an `action_finished` event.
fn action_line(event: &Event) -> Option<String> {
    let Event::ActionFinished {
        node,
        action,
        ok,
        outputs,
        error,
        ..
    } = event
    else {
        return None;
    };
    if !ok {
        let reason = error.as_deref().unwrap_or("no reason given");
        return Some(format!("  {node}: {action} FAILED: {reason}"));
    }

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
