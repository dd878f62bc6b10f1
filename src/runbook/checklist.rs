//! The runbook as a printable checklist in Markdown: the written script a ceremony needs.
//!
//! Nodes are numbered in the order a walk first meets them (breadth first from `start`), so
//! the paper reads in the order of the work. Decisions list their branches by number, steps
//! have boxes to tick, approvals have signature lines, and a ceremony gets a participants
//! table and a closing signature block for the record kept under dual custody.

use super::model::{InputKind, NodeKind, Runbook, Word};
use super::paper::paper;
use std::collections::VecDeque;
use std::fmt::Write;

/// The checklist in Markdown. `sha256` is the hash of the file, printed so paper and file
/// can be matched.
pub fn checklist(runbook: &Runbook, sha256: &str) -> String {
    let order = walk_order(runbook);
    let mut number = vec![0; runbook.nodes.len()];
    for (position, &node) in order.iter().enumerate() {
        number[node] = position + 1;
    }

    let mut out = String::new();
    header(runbook, sha256, &mut out);
    for &at in &order {
        let node = &runbook.nodes[at];
        let _ = writeln!(out, "## {}. {}\n", number[at], node.title);
        let mut facts = vec![format!("`{}`", node.id), kind_words(&node.kind)];
        if let Some(phase) = node.phase {
            facts.push(phase.label().to_owned());
        }
        if let Some(within) = node.within {
            facts.push(format!("time limit {}", friendly(within)));
        }
        if let Some(max) = node.max_visits {
            facts.push(format!("at most {max} times"));
        }
        let _ = writeln!(out, "*{}*\n", facts.join(" · "));
        if let Some(guidance) = &node.guidance {
            let _ = writeln!(out, "{}\n", paper(guidance.text.trim_end()));
        }
        body(runbook, &number, at, &mut out);
    }
    footer(runbook, &mut out);
    out
}

fn header(runbook: &Runbook, sha256: &str, out: &mut String) {
    let _ = writeln!(out, "# {}\n", runbook.title);
    let _ = writeln!(
        out,
        "Runbook `{}`, version {}, severity **{}**{}. SHA-256 `{sha256}`.\n",
        runbook.id,
        runbook.version,
        runbook.severity.name(),
        if runbook.ceremony {
            ", key ceremony"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "{}\n", runbook.summary.trim());
    let _ = writeln!(
        out,
        "Incident or ceremony id: ______________  Date: __________  Started at: ______\n"
    );

    if runbook.ceremony {
        out.push_str("## Participants\n\n| Name | Role | Signature | Time in | Time out |\n");
        out.push_str("|---|---|---|---|---|\n");
        for _ in 0..4 {
            out.push_str("| | | | | |\n");
        }
        out.push('\n');
    }

    if !runbook.inputs.is_empty() {
        out.push_str("## What to have ready\n\n");
        for input in &runbook.inputs {
            let _ = writeln!(
                out,
                "- **{}** ({}): {} ____________",
                input.name,
                kind_name(&input.kind),
                input.prompt
            );
        }
        out.push('\n');
    }
}

fn body(runbook: &Runbook, number: &[usize], at: usize, out: &mut String) {
    let node = &runbook.nodes[at];
    let goto = |target: &super::model::NodeId| {
        let position = runbook.position(target).unwrap_or(0);
        format!("go to {} (`{target}`)", number[position])
    };

    match &node.kind {
        NodeKind::Step { fields, next } => {
            for field in fields {
                let _ = writeln!(
                    out,
                    "- {} ({}): ____________",
                    field.prompt,
                    kind_name(&field.kind)
                );
            }
            let _ = writeln!(
                out,
                "- [ ] Done at ______ by ______________\n\nThen {}.\n",
                goto(&next.target)
            );
        }
        NodeKind::Decision { options } => {
            for option in options {
                let _ = writeln!(out, "- [ ] **{}**: {}", option.label, goto(&option.target));
            }
            out.push_str("\nDecided by ______________ at ______\n\n");
        }
        NodeKind::Action(action) => {
            let _ = writeln!(out, "Automated: `{}`", action.run.name);
            for param in &action.params {
                let value = param
                    .value
                    .as_str()
                    .map_or_else(|| param.value.to_string(), placeholders);
                let _ = writeln!(out, "- {}: `{value}`", param.name);
            }
            let _ = writeln!(
                out,
                "- [ ] Result recorded at ______\n\nOn success {}. On failure {}.\n",
                goto(&action.on_success.target),
                goto(&action.on_failure.target)
            );
        }
        NodeKind::Approval { require, next } => {
            let roles: Vec<&str> = require
                .roles
                .iter()
                .map(|role| role.name.as_str())
                .collect();
            let roles = if require.each_role {
                format!("at least one of each role: {}", roles.join(" and "))
            } else {
                format!("with role {}", roles.join(" or "))
            };
            let _ = writeln!(
                out,
                "**Dual control:** {} different people {roles}{}.\n",
                require.count,
                if require.exclude_initiator {
                    ", not the person who opened the incident"
                } else {
                    ""
                }
            );
            out.push_str("| Name | Role | Signature | Date and time |\n|---|---|---|---|\n");
            for _ in 0..require.count {
                out.push_str("| | | | |\n");
            }
            let _ = writeln!(out, "\nThen {}.\n", goto(&next.target));
        }
        NodeKind::Notify {
            group,
            template,
            next,
        } => {
            let _ = writeln!(
                out,
                "Tell **{}** (message `{}`).\n- [ ] Sent at ______ by ______________\n\nThen {}.\n",
                group.name,
                template.name,
                goto(&next.target)
            );
        }
        NodeKind::End { outcome } => {
            let _ = writeln!(
                out,
                "**End: {}.** Closed at ______ by ______________\n",
                outcome.name()
            );
        }
    }

    if let Some(exhausted) = &node.on_exhausted {
        let _ = writeln!(
            out,
            "After {} visits, {} instead.\n",
            node.max_visits.unwrap_or(0),
            goto(&exhausted.target)
        );
    }
}

fn footer(runbook: &Runbook, out: &mut String) {
    out.push_str("---\n\n## Sign-off\n\n");
    if runbook.ceremony {
        out.push_str(
            "We attest that this ceremony followed the script above, that every deviation is noted \
             on it, and that this record is filed under dual custody.\n\n",
        );
    }
    out.push_str(
        "| Name | Role | Signature | Date and time |\n|---|---|---|---|\n| | | | |\n| | | | |\n",
    );
}

/// Node positions in the order a breadth-first walk from `start` first meets them, following
/// the file's edges (`on_exhausted` last), then any node the walk never meets.
fn walk_order(runbook: &Runbook) -> Vec<usize> {
    let mut seen = vec![false; runbook.nodes.len()];
    let mut order = Vec::with_capacity(runbook.nodes.len());
    let mut queue = VecDeque::new();
    if let Some(start) = runbook.position(&runbook.start.target) {
        seen[start] = true;
        queue.push_back(start);
    }

    while let Some(at) = queue.pop_front() {
        order.push(at);
        for edge in runbook.nodes[at].edges() {
            let Some(to) = runbook.position(&edge.target) else {
                continue;
            };
            if !seen[to] {
                seen[to] = true;
                queue.push_back(to);
            }
        }
    }
    order.extend((0..runbook.nodes.len()).filter(|&at| !seen[at]));
    order
}

fn kind_words(kind: &NodeKind) -> String {
    match kind {
        NodeKind::Step { .. } => "manual step".into(),
        NodeKind::Decision { .. } => "decision".into(),
        NodeKind::Action(action) => format!("automated: {}", action.run.name),
        NodeKind::Approval { .. } => "APPROVAL".into(),
        NodeKind::Notify { .. } => "NOTIFY".into(),
        NodeKind::End { .. } => "end".into(),
    }
}

fn kind_name(kind: &InputKind) -> String {
    match kind {
        InputKind::Text => "text".into(),
        InputKind::Number => "number".into(),
        InputKind::Boolean => "yes or no".into(),
        InputKind::Date => "date".into(),
        InputKind::Kcv => "KCV".into(),
        InputKind::Person => "roster id".into(),
        InputKind::Choice(choices) => choices.join(" / "),
    }
}

/// Template text for paper: `{{inputs.member}}` becomes `‹inputs.member›`.
fn placeholders(text: &str) -> String {
    text.replace("{{", "‹").replace("}}", "›")
}

/// A duration as a person says it: `4 h`, `30 min`, `1 d 2 h`.
pub fn friendly(duration: jiff::SignedDuration) -> String {
    let total = duration.as_secs();
    let (days, hours, minutes, seconds) = (
        total / 86_400,
        total % 86_400 / 3_600,
        total % 3_600 / 60,
        total % 60,
    );
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")]
        .iter()
        .filter(|(amount, _)| *amount > 0)
        .map(|(amount, unit)| format!("{amount} {unit}"))
        .collect();
    if parts.is_empty() {
        "0 s".into()
    } else {
        parts.join(" ")
    }
}
