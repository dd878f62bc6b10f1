//! The runbook's graph as inline SVG with the path taken highlighted, drawn by Graphviz.
//!
//! The DOT comes from [`crate::runbook::picture::dot`]; the nodes the walk entered are restyled
//! by attribute statements appended to the graph, which Graphviz applies over the earlier ones.
//! Without a working `dot` there is no picture and the report says so.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::runbook::{Runbook, picture};

/// The fill of a node the walk entered, and of the node it ended at.
const TAKEN: &str = "#fde047";
const LAST: &str = "#f97316";

/// The SVG of `runbook` with `taken` nodes highlighted, or why it could not be drawn.
pub fn graph_svg(runbook: &Runbook, taken: &[String]) -> Result<String, String> {
    let mut dot = picture::dot(runbook);
    let Some(close) = dot.rfind('}') else {
        return Err("the DOT text of the runbook has no closing brace".to_owned());
    };
    dot.truncate(close);
    for (index, node) in taken.iter().enumerate() {
        let fill = if index + 1 == taken.len() {
            LAST
        } else {
            TAKEN
        };
        let name = node.replace('\\', "\\\\").replace('"', "\\\"");
        dot.push_str(&format!(
            "  \"{name}\" [fillcolor=\"{fill}\", penwidth=3, color=\"#7c2d12\"];\n"
        ));
    }
    dot.push_str("}\n");
    run_dot(&dot)
}

fn run_dot(dot: &str) -> Result<String, String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("Graphviz `dot` could not be started: {e}"))?;

    // Write from another thread: a large graph could fill the stdout pipe while we still write.
    let stdin = child.stdin.take();
    let text = dot.to_owned();
    let writer =
        std::thread::spawn(move || stdin.map(|mut stdin| stdin.write_all(text.as_bytes())));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("Graphviz `dot` failed: {e}"))?;
    let _ = writer.join();

    if !output.status.success() {
        let reason = String::from_utf8_lossy(&output.stderr);
        return Err(format!("Graphviz `dot` failed: {}", reason.trim()));
    }
    let svg = String::from_utf8_lossy(&output.stdout);
    let start = svg.find("<svg").unwrap_or(0);
    Ok(svg[start..].to_owned())
}
