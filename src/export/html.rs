//! The HTML report of an incident: one self-contained page (inline CSS and SVG, no scripts, no
//! external assets) that prints to PDF from a browser.
//!
//! Every text from the log or the runbook is escaped. The report reads one incident's events
//! into memory, since its sections draw from all of them; the JSON Lines export is the
//! streaming form.
//!
//! Deadlines are measured, not inferred from escalations alone: each stay at a node with a
//! `within` limit (from the pinned runbook) against the time spent there, and each deadline of
//! the escalation policy that started for the incident against when it was met.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

use super::error::write_error;
use super::svg::graph_svg;
use super::{ExportError, IncidentEntry, Manifest};
use crate::approval::{SAME_TERMINAL_WINDOW, dual_control};
use crate::engine::report::stays;
use crate::notify::{DeadlineState, Escalation, History};
use crate::runbook::checklist::friendly;
use crate::runbook::{NodeId, Phase};
use crate::store::{Event, EventRecord, IncidentId, Store};

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; color: #111; margin: 2em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0 1em; }
th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #eee; } code, .mono { font-family: ui-monospace, monospace; font-size: 0.9em; }
.drill { background: #dbeafe; color: #1e3a8a; } .real { background: #fee2e2; color: #7f1d1d; }
.badge { padding: 2px 8px; border-radius: 4px; font-weight: bold; }
.ok { color: #166534; font-weight: bold; } .bad { color: #b91c1c; font-weight: bold; }
.flag { background: #fef3c7; } .graph svg { max-width: 100%; height: auto; }
section.incident { page-break-before: always; } section.incident:first-of-type { page-break-before: auto; }
@media print { body { margin: 0; } a { color: inherit; } }
";

/// What a report checks the log against.
#[derive(Clone, Copy, Debug)]
pub struct ReportSettings<'a> {
    /// The only key whose seals count as verified, when given.
    pub trusted: Option<&'a VerifyingKey>,
    /// The escalation policy whose deadlines the report measures (empty for none).
    pub escalation: &'a Escalation,
}

/// The report of one incident as a complete HTML document.
pub fn html_report(
    store: &Store,
    manifest: &Manifest,
    entry: &IncidentEntry,
    settings: &ReportSettings<'_>,
) -> Result<String, ExportError> {
    let section = incident_section(store, entry, settings)?;
    Ok(document(&manifest.only(entry), &section))
}

/// Writes one document with a section per incident of `manifest`; `path` names it in errors.
pub fn write_html(
    store: &Store,
    manifest: &Manifest,
    settings: &ReportSettings<'_>,
    out: &mut impl Write,
    path: &Path,
) -> Result<(), ExportError> {
    let mut sections = String::new();
    for entry in &manifest.incidents {
        sections.push_str(&incident_section(store, entry, settings)?);
    }
    if manifest.incidents.is_empty() {
        sections.push_str("<p>No incident matches the filters of this export.</p>");
    }

    let io = write_error(path);
    out.write_all(document(manifest, &sections).as_bytes())
        .map_err(&io)?;
    out.flush().map_err(&io)
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn document(manifest: &Manifest, body: &str) -> String {
    let title = match manifest.incidents.as_slice() {
        [one] => format!("{}: {}", one.id, one.title),
        _ => format!("custos export of {} incidents", manifest.incidents.len()),
    };
    // `<` is escaped inside JSON so the block cannot end the script element early.
    let json = serde_json::to_string_pretty(manifest)
        .unwrap_or_default()
        .replace('<', "\\u003c");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n\
         <h2>Manifest</h2>\n<p>custos {} · format {} · exported {}</p>\n\
         <script type=\"application/json\" id=\"custos-manifest\">{json}</script>\n\
         </body>\n</html>\n",
        escape(&title),
        escape(&manifest.custos_version),
        escape(&manifest.format),
        escape(&manifest.exported_at),
    )
}

/// Everything one section needs, read from the store: the incident, its events up to the
/// manifest's head and its pinned runbook when that still parses.
struct Facts<'a> {
    history: History,
    entry: &'a IncidentEntry,
}

impl Facts<'_> {
    fn records(&self) -> &[EventRecord] {
        &self.history.events
    }
}

fn incident_section(
    store: &Store,
    entry: &IncidentEntry,
    settings: &ReportSettings<'_>,
) -> Result<String, ExportError> {
    let id: IncidentId = entry.id.parse()?;
    let incident = store.incident(&id)?;
    let mut events = store.events(&id)?;
    events.truncate(usize::try_from(entry.events).unwrap_or(usize::MAX));
    let runbook = crate::runbook::parse_pinned(&incident.runbook_source).ok();
    let facts = Facts {
        history: History {
            incident,
            runbook,
            events,
        },
        entry,
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<section class=\"incident\" id=\"{}\">",
        escape(&entry.id)
    );
    header(&facts, &mut out);
    verification(store, id, entry, settings.trusted, &mut out)?;
    graph(&facts, &mut out);
    phases(&facts, &mut out);
    decisions(&facts, &mut out);
    actions(&facts, &mut out);
    approvals(&facts, &mut out);
    notifications(store, id, &mut out)?;
    deadlines(&facts, settings.escalation, &mut out);
    timeline(&facts, &mut out);
    out.push_str("</section>\n");
    Ok(out)
}

fn header(facts: &Facts<'_>, out: &mut String) {
    let incident = &facts.history.incident;
    let (class, kind) = if incident.rehearsal {
        ("drill", "DRILL (rehearsal)")
    } else {
        ("real", "REAL INCIDENT")
    };
    let _ = write!(
        out,
        "<h1>{}: {}</h1>\n<p><span class=\"badge {class}\">{kind}</span></p>\n<table>\n",
        escape(&incident.id.to_string()),
        escape(&incident.title)
    );
    let closed = incident
        .closed_at
        .map_or("still open".to_owned(), |at| at.to_string());
    let rows = [
        (
            "Runbook",
            format!(
                "{} version {}",
                incident.runbook_id, incident.runbook_version
            ),
        ),
        ("Runbook SHA-256", incident.runbook_sha256.clone()),
        ("Severity", incident.severity.clone()),
        ("Opened by", incident.initiator.clone()),
        ("Opened", incident.opened_at.to_string()),
        ("Closed", closed),
        (
            "Outcome",
            incident.outcome.clone().unwrap_or_else(|| "—".to_owned()),
        ),
        ("Events", facts.entry.events.to_string()),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{}</td></tr>", escape(&value));
    }
    out.push_str("</table>\n");
}

fn verification(
    store: &Store,
    id: IncidentId,
    entry: &IncidentEntry,
    trusted: Option<&VerifyingKey>,
    out: &mut String,
) -> Result<(), ExportError> {
    let checked = store.verify(&id, trusted)?;
    out.push_str("<h2>Verification</h2>\n");
    if checked.is_ok() {
        let _ = writeln!(
            out,
            "<p class=\"ok\" id=\"verification\">Chain verified: {} events. Seal: {}.</p>",
            checked.events,
            escape(&checked.seal.to_string())
        );
    } else {
        let reason = match checked.first_problem() {
            Some(problem) => problem.to_string(),
            None => format!("seal: {}", checked.seal),
        };
        let _ = writeln!(
            out,
            "<p class=\"bad\" id=\"verification\">VERIFICATION FAILED: {}</p>",
            escape(&reason)
        );
    }

    // The values an auditor compares with the JSON Lines export and the published key.
    let head = checked.head.map_or("no events".to_owned(), |head| {
        format!("event {}, SHA-256 {}", head.seq, head.hash)
    });
    let mut rows = vec![("Chain head (recomputed)", head)];
    match &entry.seal {
        Some(seal) => rows.extend([
            (
                "Seal covers",
                format!("event {}, SHA-256 {}", seal.head_seq, seal.head_hash),
            ),
            ("Seal signature (Ed25519)", seal.signature.clone()),
            ("Sealing key", seal.public_key.clone()),
            ("Sealed at", seal.sealed_at.clone()),
        ]),
        None => rows.push(("Seal", "none: the incident is open".to_owned())),
    }
    out.push_str("<table id=\"chain\">\n");
    for (name, value) in rows {
        let _ = writeln!(
            out,
            "<tr><th>{name}</th><td class=\"mono\">{}</td></tr>",
            escape(&value)
        );
    }
    out.push_str("</table>\n");
    Ok(())
}

/// The nodes the walk entered, in order.
fn path(records: &[EventRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|record| match &record.event {
            Event::NodeEntered { node } => Some(node.clone()),
            _ => None,
        })
        .collect()
}

fn graph(facts: &Facts<'_>, out: &mut String) {
    out.push_str("<h2>Runbook graph and path taken</h2>\n");
    let taken = path(facts.records());
    let drawn = match &facts.history.runbook {
        Some(runbook) => graph_svg(runbook, &taken),
        None => Err("the pinned runbook no longer parses with this custos".to_owned()),
    };
    match drawn {
        Ok(svg) => {
            let _ = writeln!(out, "<div class=\"graph\">{svg}</div>");
            out.push_str("<p>Nodes entered are yellow; the last one is orange.</p>\n");
        }
        Err(reason) => {
            let _ = writeln!(
                out,
                "<p class=\"bad\">No picture of the graph: {}. The path taken, in order:</p>",
                escape(&reason)
            );
        }
    }

    out.push_str("<ol class=\"path\">\n");
    for node in &taken {
        let _ = writeln!(out, "<li><code>{}</code></li>", escape(node));
    }
    out.push_str("</ol>\n");
}

fn phases(facts: &Facts<'_>, out: &mut String) {
    let Some(first) = facts.records().first() else {
        return;
    };
    let end = facts.records().last().map_or(first.at, |record| record.at);
    let stays = stays(facts.records(), end);

    out.push_str("<h2>Time per node and phase</h2>\n<table>\n");
    out.push_str("<tr><th>#</th><th>Node</th><th>Entered</th><th>Stayed</th></tr>\n");
    let mut per_phase: Vec<(Option<Phase>, SignedDuration)> = Vec::new();
    for (index, (node, at, stayed)) in stays.iter().enumerate() {
        let phase = facts.history.runbook.as_ref().and_then(|runbook| {
            runbook
                .node(&NodeId(node.clone()))
                .and_then(|found| found.phase)
        });
        match per_phase.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, total)) => *total += *stayed,
            None => per_phase.push((phase, *stayed)),
        }
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            index + 1,
            escape(node),
            at,
            escape(&friendly(*stayed))
        );
    }
    out.push_str("</table>\n<table>\n<tr><th>Phase</th><th>Time</th></tr>\n");
    for (phase, total) in per_phase {
        let name = phase.map_or("(no phase)", Phase::label);
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(name),
            escape(&friendly(total))
        );
    }
    out.push_str("</table>\n");
}

/// A table of `rows`, or a line saying there are none.
fn table(out: &mut String, title: &str, columns: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "<h2>{title}</h2>");
    if rows.is_empty() {
        out.push_str("<p>None.</p>\n");
        return;
    }
    out.push_str("<table>\n<tr>");
    for column in columns {
        let _ = write!(out, "<th>{column}</th>");
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn when(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn decisions(facts: &Facts<'_>, out: &mut String) {
    let rows: Vec<Vec<String>> = facts
        .records()
        .iter()
        .filter_map(|record| {
            let (node, what) = match &record.event {
                Event::AnswerGiven { node, option, next } => {
                    (node, format!("chose `{option}`, to `{next}`"))
                }
                Event::StepCompleted { node, fields, next } => {
                    (node, format!("done, to `{next}`; {}", pairs(fields)))
                }
                Event::NoteAdded { node, text } => (node, format!("note: {text}")),
                Event::WalkPaused { node, reason } => (node, format!("paused: {reason}")),
                _ => return None,
            };
            Some(vec![
                when(record.at),
                record.actor.clone(),
                node.clone(),
                what,
            ])
        })
        .collect();
    table(
        out,
        "Decisions and notes",
        &["When", "Who", "Node", "What"],
        &rows,
    );
}

/// `key=value` pairs of a JSON object, strings unquoted.
fn pairs(fields: &Map<String, Value>) -> String {
    let shown: Vec<String> = fields
        .iter()
        .map(|(key, value)| match value {
            Value::String(text) => format!("{key}={text}"),
            other => format!("{key}={other}"),
        })
        .collect();
    shown.join(", ")
}

fn actions(facts: &Facts<'_>, out: &mut String) {
    let rows: Vec<Vec<String>> = facts
        .records()
        .iter()
        .filter_map(|record| match &record.event {
            Event::ActionFinished {
                node,
                action,
                ok,
                outputs,
                error,
                ..
            } => {
                let kcv = outputs.get("kcv").and_then(Value::as_str).map(|kcv| {
                    let method = outputs.get("method").and_then(Value::as_str);
                    format!("{kcv} ({})", method.unwrap_or("ecb"))
                });
                let result = if *ok {
                    "succeeded".to_owned()
                } else {
                    format!("FAILED: {}", error.as_deref().unwrap_or("no reason given"))
                };
                Some(vec![
                    when(record.at),
                    node.clone(),
                    action.clone(),
                    result,
                    kcv.unwrap_or_default(),
                    pairs(outputs),
                ])
            }
            _ => None,
        })
        .collect();
    let columns = [
        "When",
        "Node",
        "Action",
        "Result",
        "KCV (method)",
        "Outputs",
    ];
    table(out, "Automated steps", &columns, &rows);
}

fn approvals(facts: &Facts<'_>, out: &mut String) {
    let entries = dual_control(facts.records(), SAME_TERMINAL_WINDOW);
    out.push_str("<h2>Approvals</h2>\n");
    if entries.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        out.push_str("<table>\n<tr><th>When</th><th>Node</th><th>Who</th><th>Role</th>");
        out.push_str("<th>Where</th><th>Dual control</th></tr>\n");
    }
    for entry in &entries {
        let (class, flag) = if entry.is_flagged() {
            let others = entry.same_terminal_as.join(", ");
            (" class=\"flag\"", format!("SAME TERMINAL as {others}"))
        } else {
            ("", "distinct terminal".to_owned())
        };
        let _ = writeln!(
            out,
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&when(entry.at)),
            escape(&entry.node),
            escape(&entry.person),
            escape(&entry.role),
            escape(&entry.place()),
            escape(&flag)
        );
    }
    if !entries.is_empty() {
        out.push_str("</table>\n");
    }

    let refused: Vec<Vec<String>> = facts
        .records()
        .iter()
        .filter_map(|record| match &record.event {
            Event::ApprovalRefused {
                node,
                person,
                reason,
                origin,
                ..
            } => Some(vec![
                when(record.at),
                node.clone(),
                person.clone(),
                reason.clone(),
                format!("{}@{} {}", origin.user, origin.host, origin.terminal),
            ]),
            _ => None,
        })
        .collect();
    if !refused.is_empty() {
        let columns = ["When", "Node", "Who", "Why", "Where"];
        table(out, "Refused approval attempts", &columns, &refused);
    }
}

fn notifications(store: &Store, id: IncidentId, out: &mut String) -> Result<(), ExportError> {
    let mut rows = Vec::new();
    for notification in store.outbox()? {
        if notification.id.incident != id {
            continue;
        }
        let attempts: Vec<String> = store
            .deliveries(notification.id)?
            .iter()
            .map(|d| {
                format!(
                    "#{} {} at {}: {}",
                    d.attempt,
                    d.outcome,
                    when(d.at),
                    d.detail
                )
            })
            .collect();
        rows.push(vec![
            notification.id.to_string(),
            when(notification.queued_at),
            notification.group.clone(),
            notification.recipients.join(", "),
            notification.subject.clone(),
            notification.state.as_str().to_owned(),
            attempts.join("; "),
        ]);
    }
    let columns = [
        "Id",
        "Queued",
        "Group",
        "To",
        "Subject",
        "State",
        "Delivery attempts",
    ];
    table(out, "Notifications", &columns, &rows);
    Ok(())
}

fn deadlines(facts: &Facts<'_>, escalation: &Escalation, out: &mut String) {
    let (as_of, why) = deadline_clock(facts);
    let limits = node_limits(facts);
    let regulator = escalation.deadlines(&facts.history);
    let missed = limits.iter().filter(|row| row.missed).count()
        + regulator
            .iter()
            .filter(|state| deadline_status(state, as_of).1)
            .count();
    let met = limits
        .iter()
        .filter(|row| !row.missed && !row.running)
        .count()
        + regulator
            .iter()
            .filter(|state| state.met_at.is_some_and(|met| met <= state.due))
            .count();

    out.push_str("<h2>Deadlines met or missed</h2>\n");
    let (class, verdict) = if missed > 0 {
        ("bad", format!("{missed} missed"))
    } else {
        ("ok", "none missed".to_owned())
    };
    let _ = writeln!(
        out,
        "<p class=\"{class}\" id=\"deadlines\">{met} met, {}; as of {} ({why}).</p>",
        escape(&verdict),
        escape(&when(as_of))
    );

    node_limit_table(&limits, out);
    regulator_table(&regulator, escalation, as_of, out);
    escalations(facts, out);
}

/// The instant deadlines that are not met are judged at: the export for a real incident, the
/// last event for a drill, whose clock may be set apart from the wall clock.
fn deadline_clock(facts: &Facts<'_>) -> (Timestamp, &'static str) {
    let last = facts.records().last().map(|record| record.at);
    match last {
        Some(at) if facts.history.incident.rehearsal => (at, "the last event of the drill"),
        _ => (Timestamp::now(), "the time of this export"),
    }
}

/// One stay at a node that has a `within` limit.
struct LimitRow {
    node: String,
    entered: Timestamp,
    limit: SignedDuration,
    spent: SignedDuration,
    missed: bool,
    /// The walk is still at the node and has not overrun yet.
    running: bool,
}

/// Every stay at a node with a `within` limit in the pinned runbook, with the time spent.
fn node_limits(facts: &Facts<'_>) -> Vec<LimitRow> {
    let records = facts.records();
    let Some(last) = records.last() else {
        return Vec::new();
    };
    let open = facts.history.incident.closed_at.is_none();
    let all = stays(records, last.at);
    let count = all.len();
    all.into_iter()
        .enumerate()
        .filter_map(|(index, (node, entered, spent))| {
            let limit = facts.history.within(&node)?;
            let running = open && index + 1 == count && spent <= limit;
            Some(LimitRow {
                node,
                entered,
                limit,
                spent,
                missed: spent > limit,
                running,
            })
        })
        .collect()
}

fn node_limit_table(rows: &[LimitRow], out: &mut String) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let status = if row.missed {
                format!("MISSED by {}", friendly(row.spent - row.limit))
            } else if row.running {
                "running, within the limit so far".to_owned()
            } else {
                "met".to_owned()
            };
            vec![
                row.node.clone(),
                when(row.entered),
                friendly(row.limit),
                friendly(row.spent),
                status,
            ]
        })
        .collect();
    let columns = ["Node", "Entered", "Limit (within)", "Time spent", "Status"];
    table(out, "Time limits of the runbook's nodes", &columns, &cells);
}

/// `(status, missed)` of a reporting deadline judged at `as_of`.
fn deadline_status(state: &DeadlineState, as_of: Timestamp) -> (String, bool) {
    match state.met_at {
        Some(met) if met <= state.due => ("met".to_owned(), false),
        Some(met) => (
            format!(
                "MISSED: met {} late",
                friendly(met.duration_since(state.due))
            ),
            true,
        ),
        None if as_of >= state.due => ("MISSED: not met".to_owned(), true),
        None => ("open: not met yet, not due yet".to_owned(), false),
    }
}

fn regulator_table(
    states: &[DeadlineState],
    escalation: &Escalation,
    as_of: Timestamp,
    out: &mut String,
) {
    out.push_str("<h2>Reporting deadlines (escalation policy)</h2>\n");
    if escalation.deadlines.is_empty() {
        out.push_str("<p>The escalation policy this export was made with defines none.</p>\n");
        return;
    }
    if states.is_empty() {
        out.push_str("<p>None started for this incident.</p>\n");
        return;
    }
    out.push_str("<table id=\"reporting-deadlines\">\n<tr><th>Deadline</th><th>Due</th>");
    out.push_str("<th>Met at</th><th>Status</th></tr>\n");
    for state in states {
        let (status, missed) = deadline_status(state, as_of);
        let class = if missed { " class=\"flag\"" } else { "" };
        let met = state.met_at.map_or("—".to_owned(), when);
        let _ = writeln!(
            out,
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&state.title),
            escape(&when(state.due)),
            escape(&met),
            escape(&status)
        );
    }
    out.push_str("</table>\n");
}

fn escalations(facts: &Facts<'_>, out: &mut String) {
    let rows: Vec<Vec<String>> = facts
        .records()
        .iter()
        .filter_map(|record| match &record.event {
            Event::EscalationFired {
                rule,
                reason,
                notification,
            } => Some(vec![
                when(record.at),
                rule.clone(),
                reason.clone(),
                notification.clone(),
            ]),
            _ => None,
        })
        .collect();
    let columns = ["Fired at", "Rule", "Why", "Notification"];
    table(out, "Escalations fired", &columns, &rows);
}

fn timeline(facts: &Facts<'_>, out: &mut String) {
    let rows: Vec<Vec<String>> = facts
        .records()
        .iter()
        .map(|record| {
            let value = serde_json::to_value(&record.event).unwrap_or_default();
            let mut fields = value.as_object().cloned().unwrap_or_default();
            fields.shift_remove("type");
            vec![
                record.seq.to_string(),
                when(record.at),
                record.actor.clone(),
                record.event.kind().to_owned(),
                pairs(&fields),
                record.hash.to_string()[..16].to_owned(),
            ]
        })
        .collect();
    let columns = ["Seq", "At", "Actor", "Event", "Detail", "Hash (start)"];
    table(out, "Timeline", &columns, &rows);
}
