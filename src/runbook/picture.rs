//! Pictures of a runbook's decision graph: Graphviz DOT and Mermaid.
//!
//! Node kinds are drawn distinctly so a reader sees at a glance where people decide
//! (diamonds), where two people must approve (double octagons), where someone is told
//! (notes) and where the machine acts (rounded boxes). Edge labels carry the options and the
//! success or failure of actions.

use super::model::{EdgeLabel, Node, NodeKind, Runbook, Word};
use std::fmt::Write;

/// The graph in Graphviz DOT, ready for `dot -Tsvg`.
pub fn dot(runbook: &Runbook) -> String {
    let mut out = String::new();
    let title = format!(
        "{} (v{}, {})",
        runbook.title,
        runbook.version,
        runbook.severity.name()
    );
    let _ = writeln!(out, "digraph {} {{", quote(&runbook.id));
    let _ = writeln!(
        out,
        "  graph [label={}, labelloc=t, fontname=Helvetica];",
        quote(&title)
    );
    let _ = writeln!(out, "  node [fontname=Helvetica, fontsize=10];");
    let _ = writeln!(out, "  edge [fontname=Helvetica, fontsize=9];");
    let _ = writeln!(out, "  __start [shape=point, width=0.15, label=\"\"];");

    for node in &runbook.nodes {
        let (shape, fill, extra) = dot_style(node);
        let label = format!("{}\n{}", node_caption(node), wrap(&node.title, 32));
        let _ = writeln!(
            out,
            "  {} [shape={shape}, style=\"filled{extra}\", fillcolor=\"{fill}\", label={}];",
            quote(node.id.as_str()),
            quote(&label)
        );
    }

    let _ = writeln!(
        out,
        "  __start -> {};",
        quote(runbook.start.target.as_str())
    );
    for node in &runbook.nodes {
        for edge in node.edges() {
            let style = match &edge.label {
                EdgeLabel::Failure => ", color=\"#b91c1c\", fontcolor=\"#b91c1c\"",
                EdgeLabel::Exhausted => ", style=dashed",
                _ => "",
            };
            let label = match &edge.label {
                EdgeLabel::Next | EdgeLabel::Start => String::new(),
                other => format!(" [label={}{style}]", quote(&other.to_string())),
            };
            let _ = writeln!(
                out,
                "  {} -> {}{label};",
                quote(node.id.as_str()),
                quote(edge.target.as_str())
            );
        }
    }
    out.push_str("}\n");
    out
}

fn dot_style(node: &Node) -> (&'static str, &'static str, &'static str) {
    match node.kind {
        NodeKind::Step { .. } => ("box", "#f8fafc", ""),
        NodeKind::Decision { .. } => ("diamond", "#fef9c3", ""),
        NodeKind::Action(_) => ("box", "#dbeafe", ",rounded"),
        NodeKind::Approval { .. } => ("doubleoctagon", "#fde68a", ",bold"),
        NodeKind::Notify { .. } => ("note", "#fed7aa", ""),
        NodeKind::End { .. } => ("box", "#dcfce7", ",rounded,bold"),
    }
}

/// The first line of a node's label: its id and what kind of thing it is.
fn node_caption(node: &Node) -> String {
    match &node.kind {
        NodeKind::Action(action) => format!("{} · {}", node.id, action.run.name),
        NodeKind::Approval { require, .. } => {
            let roles: Vec<&str> = require
                .roles
                .iter()
                .map(|role| role.name.as_str())
                .collect();
            format!(
                "{} · APPROVAL {} × {}",
                node.id,
                require.count,
                roles.join("/")
            )
        }
        NodeKind::Notify { group, .. } => format!("{} · NOTIFY {}", node.id, group.name),
        NodeKind::End { outcome } => format!("{} · END {}", node.id, outcome.name()),
        _ => node.id.to_string(),
    }
}

/// Text broken into lines of about `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.chars().count();
    }
    out
}

/// A DOT string literal.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => {}
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The graph as a Mermaid flowchart, for Markdown that renders Mermaid.
pub fn mermaid(runbook: &Runbook) -> String {
    let mut out = String::from("flowchart TD\n");
    let _ = writeln!(
        out,
        "  __start((start)) --> {}",
        mermaid_id(runbook.start.target.as_str())
    );
    for node in &runbook.nodes {
        let label = mermaid_text(&format!("{}<br/>{}", node_caption(node), node.title));
        let shape = match node.kind {
            NodeKind::Step { .. } => format!("[\"{label}\"]"),
            NodeKind::Decision { .. } => format!("{{\"{label}\"}}"),
            NodeKind::Action(_) => format!("[[\"{label}\"]]"),
            NodeKind::Approval { .. } => format!("{{{{\"{label}\"}}}}"),
            NodeKind::Notify { .. } => format!(">\"{label}\"]"),
            NodeKind::End { .. } => format!("([\"{label}\"])"),
        };
        let _ = writeln!(out, "  {}{shape}", mermaid_id(node.id.as_str()));
    }
    for node in &runbook.nodes {
        for edge in node.edges() {
            let arrow = match edge.label {
                EdgeLabel::Failure | EdgeLabel::Exhausted => "-.->",
                _ => "-->",
            };
            let (from, to) = (
                mermaid_id(node.id.as_str()),
                mermaid_id(edge.target.as_str()),
            );
            match &edge.label {
                EdgeLabel::Next | EdgeLabel::Start => {
                    let _ = writeln!(out, "  {from} {arrow} {to}");
                }
                label => {
                    let text = mermaid_text(&label.to_string());
                    let _ = writeln!(out, "  {from} {arrow}|\"{text}\"| {to}");
                }
            }
        }
    }
    out
}

/// Words Mermaid's flowchart grammar reads as keywords wherever a node id may stand.
const MERMAID_KEYWORDS: &[&str] = &[
    "end",
    "graph",
    "flowchart",
    "subgraph",
    "style",
    "class",
    "classdef",
    "linkstyle",
    "click",
    "call",
    "href",
    "callback",
    "interpolate",
    "default",
    "direction",
];

/// A node id as a Mermaid id. A keyword gets a trailing `_`, which no node id can end with,
/// so the result never collides with another node; the label still shows the real id.
pub fn mermaid_id(id: &str) -> String {
    if MERMAID_KEYWORDS.contains(&id.to_ascii_lowercase().as_str()) {
        format!("{id}_")
    } else {
        id.to_owned()
    }
}

/// Text inside a Mermaid label, with the characters that would end it escaped.
fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;").replace('\n', " ")
}
