//! The key hierarchy as a picture: Graphviz DOT or Mermaid, parent to child.
//!
//! Each key is a box with its name, purpose, algorithm and state, and its lifetime from
//! activation to the end of its cryptoperiod with the days left on `today`. Boxes are filled by
//! lifecycle state. The date is a parameter so a picture can be redrawn as of any day.

use std::fmt::Write as _;

use jiff::civil::Date;

use super::{Key, Register, State};

/// The fill and border colour of a state.
fn colours(state: State) -> (&'static str, &'static str) {
    match state {
        State::PreActivation => ("#dae8fc", "#6c8ebf"),
        State::Active => ("#d5e8d4", "#82b366"),
        State::Suspended => ("#fff2cc", "#d6b656"),
        State::Deactivated => ("#eeeeee", "#999999"),
        State::Compromised => ("#f8cecc", "#b85450"),
        State::Destroyed => ("#ffffff", "#666666"),
    }
}

/// The lifetime of `key` in words, as of `today`.
pub fn lifetime(key: &Key, today: Date) -> String {
    let Some(activation) = key.activation else {
        return String::from("no activation date");
    };
    let Some(end) = key.end() else {
        return format!("from {activation}, no cryptoperiod");
    };
    let days = today.until(end).map_or(0, |span| span.get_days());
    let left = match days {
        0 => String::from("ends today"),
        1 => String::from("1 day left"),
        -1 => String::from("ended 1 day ago"),
        d if d < 0 => format!("ended {} days ago", -d),
        d => format!("{d} days left"),
    };
    format!("{activation} to {end} ({left})")
}

/// The lines inside a key's box.
fn lines(key: &Key, today: Date) -> [String; 3] {
    [
        key.name.clone(),
        format!(
            "{} {} - {}",
            key.purpose.as_str(),
            key.algorithm.as_str(),
            key.state
        ),
        lifetime(key, today),
    ]
}

/// The register as a Graphviz digraph.
pub fn dot(register: &Register, today: Date) -> String {
    let mut out = String::from("digraph keys {\n");
    out.push_str("  graph [rankdir=TB, label=\"key register\", labelloc=t, fontname=Helvetica];\n");
    out.push_str("  node [shape=box, style=\"rounded,filled\", fontname=Helvetica];\n");
    for key in register.keys() {
        let (fill, border) = colours(key.state);
        let label = lines(key, today).map(|line| escape_dot(&line)).join("\\n");
        let dashed = if key.state == State::Destroyed {
            ",dashed"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{label}\", fillcolor=\"{fill}\", color=\"{border}\", \
             style=\"rounded,filled{dashed}\"];",
            escape_dot(&key.name)
        );
    }
    for key in register.keys() {
        if let Some(parent) = &key.parent {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\";",
                escape_dot(parent),
                escape_dot(&key.name)
            );
        }
    }
    out.push_str("}\n");
    out
}

/// The register as a Mermaid flowchart.
pub fn mermaid(register: &Register, today: Date) -> String {
    let keys = register.keys();
    let id = |name: &str| {
        keys.iter()
            .position(|key| key.name == name)
            .map_or_else(|| String::from("unknown"), |index| format!("k{index}"))
    };

    let mut out = String::from("flowchart TD\n");
    for (index, key) in keys.iter().enumerate() {
        let label = lines(key, today)
            .map(|line| escape_mermaid(&line))
            .join("<br/>");
        let _ = writeln!(out, "  k{index}[\"{label}\"]");
    }
    for key in keys {
        if let Some(parent) = &key.parent {
            let _ = writeln!(out, "  {} --> {}", id(parent), id(&key.name));
        }
    }
    for state in super::STATES.iter().filter_map(|word| State::parse(word)) {
        let members: Vec<String> = keys
            .iter()
            .enumerate()
            .filter(|(_, key)| key.state == state)
            .map(|(index, _)| format!("k{index}"))
            .collect();
        if members.is_empty() {
            continue;
        }
        let (fill, border) = colours(state);
        let class = state.as_str().replace('-', "_");
        let _ = writeln!(out, "  classDef {class} fill:{fill},stroke:{border}");
        let _ = writeln!(out, "  class {} {class}", members.join(","));
    }
    out
}

fn escape_dot(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn escape_mermaid(text: &str) -> String {
    text.replace('"', "#quot;")
}
