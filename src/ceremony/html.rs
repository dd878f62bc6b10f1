//! The ceremony record as one self-contained HTML page, laid out for printing on A4.

use std::fmt::Write;

use super::markdown::{signature_lines, signed_in};
use super::{CeremonyRecord, StepLine};
use crate::store::signing::public_key_text;

const STYLE: &str = "body{font-family:serif;margin:2em;font-size:11pt}\
table{border-collapse:collapse;width:100%;margin-bottom:1em}\
td,th{border:1px solid #444;padding:3px 5px;text-align:left;vertical-align:top}\
code{font-size:9pt;word-break:break-all}.flag{font-weight:bold}\
.drill{border:3px solid #000;padding:.5em;font-weight:bold}\
.sign{page-break-inside:avoid;margin:1.5em 0}@media print{h2{page-break-after:avoid}}";

impl CeremonyRecord {
    /// The record as a printable HTML page with signature lines.
    pub fn html(&self) -> String {
        let incident = &self.incident;
        let mut out = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Ceremony record {}</title><style>{STYLE}</style></head><body>\n",
            incident.id
        );
        let _ = writeln!(out, "<h1>Ceremony record: {}</h1>", esc(&incident.title));
        if incident.rehearsal {
            out.push_str(
                "<p class=\"drill\">DRILL: a rehearsal, not a record of a production \
                 ceremony.</p>\n",
            );
        }

        out.push_str("<table>\n");
        let rows = [
            ("Incident", incident.id.to_string()),
            (
                "Runbook",
                format!(
                    "{} version {} (SHA-256 {})",
                    incident.runbook_id, incident.runbook_version, incident.runbook_sha256
                ),
            ),
            (
                "Started",
                format!("{} by {}", incident.opened_at, incident.initiator),
            ),
            (
                "Ended",
                format!(
                    "{}, outcome {}",
                    self.closed_at,
                    incident.outcome.as_deref().unwrap_or("unknown")
                ),
            ),
            ("Record printed", self.produced_at.to_string()),
        ];
        for (label, value) in rows {
            row(&mut out, "td", &[label, &value]);
        }
        out.push_str("</table>\n");

        self.html_body(&mut out);
        out.push_str("</body></html>\n");
        out
    }

    fn html_body(&self, out: &mut String) {
        out.push_str("<h2>Participants</h2>\n<table>\n");
        row(out, "th", &["Person", "Name", "Roles", "Signed in"]);
        for p in &self.participants {
            let name = p.name.as_deref().unwrap_or("not in the roster");
            row(
                out,
                "td",
                &[&p.person, name, &p.roles.join(", "), signed_in(p.recorded)],
            );
        }
        out.push_str("</table>\n<h2>Steps</h2>\n");
        steps(&self.steps, out);

        out.push_str("<h2>Key check values</h2>\n");
        if self.kcvs.is_empty() {
            out.push_str("<p>No key check value was recorded.</p>\n");
        } else {
            out.push_str("<table>\n");
            row(out, "th", &["Event", "Node", "Value", "Method", "Source"]);
            for k in &self.kcvs {
                row(
                    out,
                    "td",
                    &[&k.seq.to_string(), &k.node, &k.value, &k.method, &k.source],
                );
            }
            out.push_str("</table>\n");
        }

        self.html_dual_control(out);
        out.push_str("<h2>Deviations</h2>\n");
        if self.deviations.is_empty() {
            out.push_str("<p>None: no note, no failed action, no refused approval.</p>\n");
        } else {
            steps(&self.deviations, out);
        }
        self.html_seal(out);

        out.push_str(
            "<h2>Signatures</h2>\n<p>Each participant signs every page. By signing, each \
            confirms the steps, values and deviations above are complete and correct.</p>\n",
        );
        for line in signature_lines(self) {
            let _ = writeln!(
                out,
                "<div class=\"sign\">{}<br><br>Signature: ______________________________ \
                 Date and time: ____________________</div>",
                esc(&line)
            );
        }
        out.push_str(
            "<p>Filed under dual custody in tamper-evident bag serial ____________________ by \
             ______________________ and ______________________.</p>\n",
        );
    }

    fn html_dual_control(&self, out: &mut String) {
        out.push_str("<h2>Dual control</h2>\n");
        if self.approvals.is_empty() {
            out.push_str("<p>No approval was given.</p>\n");
            return;
        }
        out.push_str("<table>\n");
        row(
            out,
            "th",
            &["When (UTC)", "Node", "Who", "Role", "From", "Flag"],
        );
        for e in &self.approvals {
            let flag = if e.is_flagged() {
                format!("SAME TERMINAL as {}", e.same_terminal_as.join(", "))
            } else {
                String::new()
            };
            let cells = [
                &e.at.to_string(),
                &e.node,
                &e.person,
                &e.role,
                &e.place(),
                &flag,
            ];
            row(out, "td", &cells.map(String::as_str));
        }
        out.push_str("</table>\n");
        let flagged = self.flagged().count();
        if flagged > 0 {
            let _ = writeln!(
                out,
                "<p class=\"flag\">{flagged} approval(s) were given from the same terminal as \
                 another person's within 5 minutes. Ask the people named whether each typed \
                 their own passphrase.</p>"
            );
        }
    }

    fn html_seal(&self, out: &mut String) {
        out.push_str("<h2>Seal</h2>\n<ul>\n");
        if let Some(seal) = &self.seal {
            let _ = writeln!(
                out,
                "<li>Chain head: event {}, <code>{}</code></li>\n\
                 <li>Public key: <code>{}</code></li>\n\
                 <li>Signature (Ed25519): <code>{}</code></li>\n\
                 <li>Sealed at: {}</li>",
                seal.head_seq,
                seal.head_hash,
                public_key_text(&seal.public_key),
                hex::encode(seal.signature.to_bytes()),
                seal.sealed_at
            );
        } else {
            out.push_str("<li>No seal is stored for this incident.</li>\n");
        }
        let verdict = if self.verified() {
            "VERIFIED"
        } else {
            "FAILED"
        };
        let text = format!(
            "{verdict}: {} event(s) read; {}",
            self.verification.events, self.verification.seal
        );
        let _ = writeln!(out, "<li>Verification: {}</li>", esc(&text));
        for problem in &self.verification.problems {
            let _ = writeln!(out, "<li>{}</li>", esc(&problem.to_string()));
        }
        out.push_str("</ul>\n");
    }
}

fn steps(lines: &[StepLine], out: &mut String) {
    out.push_str("<table>\n");
    row(out, "th", &["Event", "When (UTC)", "Who", "Node", "What"]);
    for s in lines {
        let node = if s.title.is_empty() {
            s.node.clone()
        } else {
            format!("{} ({})", s.title, s.node)
        };
        row(
            out,
            "td",
            &[
                &s.seq.to_string(),
                &s.at.to_string(),
                &s.actor,
                &node,
                &s.what,
            ],
        );
    }
    out.push_str("</table>\n");
}

fn row(out: &mut String, tag: &str, cells: &[&str]) {
    out.push_str("<tr>");
    for text in cells {
        let _ = write!(out, "<{tag}>{}</{tag}>", esc(text));
    }
    out.push_str("</tr>\n");
}

/// Text safe inside HTML elements and attributes.
fn esc(text: &str) -> String {
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
