//! The ceremony record as Markdown, to print and sign, or to keep beside the scanned original.

use std::fmt::Write;

use super::{CeremonyRecord, StepLine};
use crate::store::signing::public_key_text;

impl CeremonyRecord {
    /// The record as Markdown with signature lines.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        self.header(&mut out);
        self.participants_table(&mut out);
        self.steps_table(&mut out);
        self.kcv_table(&mut out);
        self.dual_control_table(&mut out);
        deviations(&self.deviations, &mut out);
        self.seal_section(&mut out);
        self.signatures(&mut out);
        out
    }

    fn header(&self, out: &mut String) {
        let incident = &self.incident;
        let _ = writeln!(out, "# Ceremony record: {}\n", cell(&incident.title));
        if incident.rehearsal {
            out.push_str("**DRILL: a rehearsal, not a record of a production ceremony.**\n\n");
        }
        out.push_str("| | |\n|---|---|\n");
        let rows = [
            ("Incident", incident.id.to_string()),
            (
                "Runbook",
                format!(
                    "{} version {} (SHA-256 `{}`)",
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
            let _ = writeln!(out, "| {label} | {} |", cell(&value));
        }
        out.push('\n');
    }

    fn participants_table(&self, out: &mut String) {
        out.push_str("## Participants\n\n| Person | Name | Roles | Signed in |\n");
        out.push_str("|---|---|---|---|\n");
        for participant in &self.participants {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&participant.person),
                cell(participant.name.as_deref().unwrap_or("not in the roster")),
                cell(&participant.roles.join(", ")),
                signed_in(participant.recorded)
            );
        }
        out.push('\n');
    }

    fn steps_table(&self, out: &mut String) {
        out.push_str("## Steps\n\n");
        step_table(&self.steps, out);
    }

    fn kcv_table(&self, out: &mut String) {
        out.push_str("## Key check values\n\n");
        if self.kcvs.is_empty() {
            out.push_str("No key check value was recorded.\n\n");
            return;
        }
        out.push_str("| Event | Node | Value | Method | Source |\n|---|---|---|---|---|\n");
        for kcv in &self.kcvs {
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} | {} |",
                kcv.seq,
                cell(&kcv.node),
                cell(&kcv.value),
                cell(&kcv.method),
                cell(&kcv.source)
            );
        }
        out.push('\n');
    }

    fn dual_control_table(&self, out: &mut String) {
        out.push_str("## Dual control\n\n");
        if self.approvals.is_empty() {
            out.push_str("No approval was given.\n\n");
            return;
        }
        out.push_str("| When (UTC) | Node | Who | Role | From | Flag |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for entry in &self.approvals {
            let flag = if entry.is_flagged() {
                format!("SAME TERMINAL as {}", entry.same_terminal_as.join(", "))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                entry.at,
                cell(&entry.node),
                cell(&entry.person),
                cell(&entry.role),
                cell(&entry.place()),
                cell(&flag)
            );
        }
        let flagged = self.flagged().count();
        if flagged > 0 {
            let _ = writeln!(
                out,
                "\n**{flagged} approval(s) were given from the same terminal as another \
                 person's within 5 minutes.** Ask the people named whether each typed their \
                 own passphrase."
            );
        }
        out.push('\n');
    }

    fn seal_section(&self, out: &mut String) {
        out.push_str("## Seal\n\n");
        match &self.seal {
            Some(seal) => {
                let _ = writeln!(
                    out,
                    "- Chain head: event {}, `{}`",
                    seal.head_seq, seal.head_hash
                );
                let _ = writeln!(out, "- Public key: `{}`", public_key_text(&seal.public_key));
                let _ = writeln!(
                    out,
                    "- Signature (Ed25519): `{}`",
                    hex::encode(seal.signature.to_bytes())
                );
                let _ = writeln!(out, "- Sealed at: {}", seal.sealed_at);
            }
            None => out.push_str("- No seal is stored for this incident.\n"),
        }
        let verdict = if self.verified() {
            "VERIFIED"
        } else {
            "FAILED"
        };
        let _ = writeln!(
            out,
            "- Verification: {verdict}: {} event(s) read; {}",
            self.verification.events, self.verification.seal
        );
        for problem in &self.verification.problems {
            let _ = writeln!(out, "  - {problem}");
        }
        out.push('\n');
    }

    fn signatures(&self, out: &mut String) {
        out.push_str("## Signatures\n\n");
        out.push_str(
            "Each participant signs every page. By signing, each confirms the steps, values and \
             deviations above are complete and correct.\n\n",
        );
        for line in signature_lines(self) {
            let _ = writeln!(
                out,
                "{line}\n\nSignature: ______________________________  Date and time: \
                 ____________________\n"
            );
        }
        out.push_str(
            "Filed under dual custody in tamper-evident bag serial ____________________ \
             by ______________________ and ______________________.\n",
        );
    }
}

/// One line per participant, then one for a witness, naming who signs.
pub(super) fn signature_lines(record: &CeremonyRecord) -> Vec<String> {
    let mut lines: Vec<String> = record
        .participants
        .iter()
        .map(|participant| {
            let who = match &participant.name {
                Some(name) => format!("{name} ({})", participant.person),
                None => participant.person.clone(),
            };
            let roles = if participant.roles.is_empty() {
                "participant".to_owned()
            } else {
                participant.roles.join(", ")
            };
            format!("{who}, as {roles}")
        })
        .collect();
    if !record
        .participants
        .iter()
        .any(|p| p.roles.iter().any(|r| r == "witness"))
    {
        lines.push("Witness: ______________________ (name and organisation)".to_owned());
    }
    lines
}

/// The "signed in" cell: whether the participants event named the person.
pub(super) fn signed_in(recorded: bool) -> &'static str {
    if recorded {
        "yes"
    } else {
        "no: acted without being signed in"
    }
}

fn step_table(steps: &[StepLine], out: &mut String) {
    out.push_str("| Event | When (UTC) | Who | Node | What |\n|---|---|---|---|---|\n");
    for step in steps {
        let node = if step.title.is_empty() {
            step.node.clone()
        } else {
            format!("{} ({})", step.title, step.node)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            step.seq,
            step.at,
            cell(&step.actor),
            cell(&node),
            cell(&step.what)
        );
    }
    out.push('\n');
}

fn deviations(deviations: &[StepLine], out: &mut String) {
    out.push_str("## Deviations\n\n");
    if deviations.is_empty() {
        out.push_str("None: no note, no failed action, no refused approval.\n\n");
        return;
    }
    step_table(deviations, out);
}

/// Text safe inside a Markdown table cell: no pipes, no line breaks, no HTML tags.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "\\<")
        .replace(['\n', '\r'], " ")
}
