//! From the raw file to the typed model, collecting every problem of every field on the way.
//!
//! Each check that fails adds a [`Diagnostic`] and the build goes on with a placeholder, so a
//! runbook with ten mistakes reports ten, and the graph checks of [`super::check`] still run on
//! what could be built. A placeholder never invents a path: an edge that is missing or not a
//! node id gets an empty target (a broken edge, which the graph treats as leading somewhere
//! unknown), and a node whose kind is unknown is listed in [`Built::unknown_kinds`].

mod input;
mod value;

pub use value::parse_duration;

use super::diagnostic::{Diagnostic, suggestion};
use super::model::{
    Action, Edge, EdgeLabel, Header, Named, Node, NodeId, NodeKind, Outcome, Param, Phase, Pos,
    Requirement, Runbook, Severity, Template,
};
use super::raw::{
    At, Entries, Loose, NODE_FIELDS, REQUIRE_FIELDS, RUNBOOK_FIELDS, RawNode, RawRequire,
    RawRunbook,
};
use super::source::SourceMap;
use std::cell::OnceCell;

/// What the build made of a file: the model, with placeholders where the file is wrong, and
/// everything wrong with it.
pub struct Built {
    pub runbook: Runbook,
    pub problems: Vec<Diagnostic>,
    /// Positions of nodes whose kind could not be read: where they lead is unknown.
    pub unknown_kinds: Vec<usize>,
}

/// Turns a raw runbook into the model and the list of everything wrong with it.
pub fn build(raw: &RawRunbook, file_stem: Option<&str>, source: &str) -> Built {
    let mut builder = Builder {
        source,
        map: OnceCell::new(),
        problems: Vec::new(),
        unknown_kinds: Vec::new(),
        typos: Vec::new(),
        input_names: Vec::new(),
    };
    builder.unknown(&raw.unknown, RUNBOOK_FIELDS, "the runbook");

    let header = builder.header(raw, file_stem);
    let inputs = match &raw.inputs {
        Some(entries) => builder.inputs(entries, None),
        None => Vec::new(),
    };
    builder.input_names = inputs.iter().map(|input| input.name.clone()).collect();
    let start = builder.start(raw);
    let nodes = builder.nodes(raw);

    let Builder {
        problems,
        unknown_kinds,
        ..
    } = builder;
    Built {
        runbook: Runbook::new(header, inputs, start, nodes),
        problems,
        unknown_kinds,
    }
}

/// Line 1, column 1: where a problem of the whole file is shown.
const FIRST: Pos = Pos {
    line: 1,
    column: 1,
    width: 1,
};

fn named(name: String, at: Pos) -> Named {
    Named { name, at }
}

/// Whether `name` is lowercase letters, digits and `separator`, starting with a letter.
fn is_identifier(name: &str, separator: char) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == separator)
        && !name.ends_with(separator)
}

struct Builder<'s> {
    /// The file's text, for the positions of unknown keys.
    source: &'s str,
    /// Its lines, found when first needed.
    map: OnceCell<SourceMap<'s>>,
    problems: Vec<Diagnostic>,
    unknown_kinds: Vec<usize>,
    /// The fields the unknown keys of the mapping being built were likely meant to be: a
    /// missing field that one of them misspells is not reported twice.
    typos: Vec<&'static str>,
    /// The names of the runbook's inputs, once built; a field's `component.key` names one.
    input_names: Vec<String>,
}

impl Builder<'_> {
    fn header(&mut self, raw: &RawRunbook, file_stem: Option<&str>) -> Header {
        let id = self.required_text(raw.id.as_ref(), "", "id", FIRST, "the runbook has no `id`");
        let id_at = raw.id.as_ref().map(|value| value.at);
        if let Some(at) = id_at.filter(|_| !id.is_empty()) {
            if !is_identifier(&id, '-') {
                self.error(
                    at,
                    format!(
                        "runbook id `{id}` must be lowercase words joined by `-`, like `card-lost`"
                    ),
                );
            } else if let Some(stem) = file_stem.filter(|stem| *stem != id) {
                self.error(
                    at,
                    format!("runbook id `{id}` does not match its file name `{stem}.yaml`"),
                );
            }
        }

        let title = self.required_text(
            raw.title.as_ref(),
            "",
            "title",
            FIRST,
            "the runbook has no `title`",
        );
        let summary = self.required_text(
            raw.summary.as_ref(),
            "",
            "summary",
            FIRST,
            "the runbook has no `summary`",
        );
        let version = match &raw.version {
            None => {
                self.missing(
                    FIRST,
                    "version",
                    "the runbook has no `version`: start at 1, raise it on each change",
                );
                1
            }
            Some(version) => self.number("", "version", version, 1).unwrap_or(1),
        };
        let severity = match &raw.severity {
            None => {
                self.missing(
                    FIRST,
                    "severity",
                    "the runbook has no `severity` (low, medium, high or critical)",
                );
                Severity::Low
            }
            Some(word) => self.word("", word, "severity").unwrap_or(Severity::Low),
        };
        let ceremony = raw
            .ceremony
            .as_ref()
            .and_then(|flag| self.flag("", "ceremony", flag))
            .unwrap_or(false);

        Header {
            id,
            title,
            version,
            severity,
            summary,
            ceremony,
        }
    }

    fn start(&mut self, raw: &RawRunbook) -> Edge {
        let broken = Edge {
            label: EdgeLabel::Start,
            target: NodeId(String::new()),
            at: FIRST,
        };
        match &raw.start {
            None => {
                self.missing(
                    FIRST,
                    "start",
                    "the runbook has no `start`: name the node the walk begins at",
                );
                broken
            }
            Some(start) => self.edge("", "start", EdgeLabel::Start, start),
        }
    }

    fn nodes(&mut self, raw: &RawRunbook) -> Vec<Node> {
        let Some(entries) = &raw.nodes else {
            self.missing(FIRST, "nodes", "the runbook has no `nodes`");
            return Vec::new();
        };
        if let Some(found) = &entries.value.found {
            self.not_a_mapping(entries.at, "`nodes`", found, "node id: node");
            return Vec::new();
        }
        if entries.value.entries.is_empty() {
            self.error(
                entries.at,
                "`nodes` is empty: a runbook needs at least one node",
            );
        }
        let mut nodes = Vec::with_capacity(entries.value.entries.len());
        for (id, node) in &entries.value.entries {
            let built = self.node(id, node, nodes.len());
            nodes.push(built);
        }
        nodes
    }

    fn node(&mut self, id: &At<String>, raw: &RawNode, position: usize) -> Node {
        let at = id.at;
        let node_id = NodeId(id.value.clone());
        if !is_identifier(&id.value, '_') {
            self.error(
                at,
                format!("node id `{node_id}` must be lowercase words joined by `_`"),
            );
        }
        let owner = format!("node `{node_id}`");
        let mut node = Node {
            id: node_id.clone(),
            at,
            title: String::new(),
            phase: None,
            guidance: None,
            within: None,
            max_visits: None,
            on_exhausted: None,
            kind: NodeKind::End {
                outcome: Outcome::Aborted,
            },
        };
        if let Some(found) = &raw.found {
            self.not_a_mapping(at, &owner, found, "`kind: ...`, `title: ...`");
            self.unknown_kinds.push(position);
            return node;
        }
        self.unknown(&raw.unknown, NODE_FIELDS, &owner);

        node.title = self.required_text(
            raw.title.as_deref(),
            &owner,
            "title",
            at,
            &format!("node `{node_id}` has no `title`"),
        );
        node.phase = raw
            .phase
            .as_deref()
            .and_then(|phase| self.word::<Phase>(&owner, phase, "phase"));
        node.guidance = raw.guidance.as_deref().and_then(|text| {
            let guidance = self.text(&owner, "guidance", text)?;
            Some(Template {
                text: guidance,
                at: text.at,
            })
        });
        node.within = raw
            .within
            .as_deref()
            .and_then(|within| self.duration(&owner, "within", within));
        (node.max_visits, node.on_exhausted) = self.bound(&owner, at, raw);
        match self.kind(&node_id, at, raw) {
            Some(kind) => node.kind = kind,
            None => self.unknown_kinds.push(position),
        }
        node
    }

    /// `max_visits` and `on_exhausted`. When only one of them is there the node still counts as
    /// bounded (with a broken edge, or a placeholder count), so no loop is reported as
    /// unbounded for what is one mistake.
    fn bound(&mut self, owner: &str, at: Pos, raw: &RawNode) -> (Option<u32>, Option<Edge>) {
        let label = EdgeLabel::Exhausted;
        match (raw.max_visits.as_deref(), raw.on_exhausted.as_deref()) {
            (Some(max), Some(target)) => {
                let max = self.number(owner, "max_visits", max, 1).unwrap_or(1);
                (
                    Some(max),
                    Some(self.edge(owner, "on_exhausted", label, target)),
                )
            }
            (Some(max), None) => {
                self.missing(
                    max.at,
                    "on_exhausted",
                    format!("{owner} has `max_visits` but no `on_exhausted` node to go to after"),
                );
                (Some(1), Some(broken(label, at)))
            }
            (None, Some(target)) => {
                self.missing(
                    target.at,
                    "max_visits",
                    format!("{owner} has `on_exhausted` but no `max_visits`"),
                );
                (
                    Some(1),
                    Some(self.edge(owner, "on_exhausted", label, target)),
                )
            }
            (None, None) => (None, None),
        }
    }

    /// The kind and its fields, or `None` when the kind is missing or unknown.
    fn kind(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> Option<NodeKind> {
        let owner = format!("node `{node}`");
        let Some(kind) = &raw.kind else {
            self.missing(
                at,
                "kind",
                format!("node `{node}` has no `kind` ({})", KINDS.join(", ")),
            );
            return None;
        };
        let word = self.text(&owner, "kind", kind)?;
        let Some(&(name, allowed)) = FIELDS_BY_KIND.iter().find(|(name, _)| *name == word) else {
            let hint = suggestion(&word, KINDS.iter().copied());
            self.problems.push(
                Diagnostic::at(
                    kind.at,
                    format!("node `{node}` has unknown kind `{word}`{hint}"),
                )
                .with_hint(format!("a kind is one of {}", KINDS.join(", "))),
            );
            return None;
        };

        for (field, field_at) in present_fields(raw) {
            if !COMMON_FIELDS.contains(&field) && !allowed.contains(&field) {
                let article = if name.starts_with(['a', 'e']) {
                    "an"
                } else {
                    "a"
                };
                self.error(
                    field_at,
                    format!("`{field}` does not belong on node `{node}`, {article} `{name}`"),
                );
            }
        }

        Some(match name {
            "step" => self.step(node, at, raw),
            "decision" => self.decision(node, at, raw),
            "action" => self.action(node, at, raw),
            "approval" => self.approval(node, at, raw),
            "notify" => self.notify(node, at, raw),
            _ => self.end(node, at, raw),
        })
    }

    /// The edge a required field names; a broken one, reported, when it is missing.
    fn link(
        &mut self,
        node: &NodeId,
        at: Pos,
        field: &'static str,
        target: Option<&At<Loose>>,
        label: EdgeLabel,
    ) -> Edge {
        match target {
            Some(target) => self.edge(&format!("node `{node}`"), field, label, target),
            None => {
                self.missing(
                    at,
                    field,
                    format!("node `{node}` has no `{field}`: name the node that comes after it"),
                );
                broken(label, at)
            }
        }
    }

    fn step(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let fields = match raw.fields.as_deref() {
            Some(fields) => self.inputs(fields, Some(node)),
            None => Vec::new(),
        };
        let next = self.link(node, at, "next", raw.next.as_deref(), EdgeLabel::Next);
        NodeKind::Step { fields, next }
    }

    fn decision(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let owner = format!("node `{node}`");
        let Some(options) = raw.options.as_deref() else {
            self.missing(
                at,
                "options",
                format!("decision `{node}` has no `options`; a decision needs at least two"),
            );
            return NodeKind::Decision {
                options: vec![broken(EdgeLabel::Option(String::new()), at)],
            };
        };
        if let Some(found) = &options.value.found {
            let what = format!("{owner}: `options`");
            self.not_a_mapping(options.at, &what, found, "`label: node`, one per option");
            return NodeKind::Decision {
                options: vec![broken(EdgeLabel::Option(String::new()), options.at)],
            };
        }

        let mut edges = Vec::with_capacity(options.value.entries.len());
        for (label, target) in &options.value.entries {
            let field = format!("option `{}`", label.value);
            let label = EdgeLabel::Option(label.value.clone());
            edges.push(self.edge(&owner, &field, label, target));
        }
        if edges.len() < 2 {
            let count = edges.len();
            self.error(
                options.at,
                format!("decision `{node}` has {count} option(s); a decision needs at least two"),
            );
        }
        NodeKind::Decision { options: edges }
    }

    fn action(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let owner = format!("node `{node}`");
        let run = match raw.run.as_deref() {
            Some(run) => named(self.text(&owner, "run", run).unwrap_or_default(), run.at),
            None => {
                self.missing(
                    at,
                    "run",
                    format!("action `{node}` has no `run`: name the action from the catalog"),
                );
                named(String::new(), at)
            }
        };
        let params = raw
            .params
            .as_deref()
            .map_or_else(Vec::new, |params| self.params(&owner, params));
        let on_success = self.link(
            node,
            at,
            "on_success",
            raw.on_success.as_deref(),
            EdgeLabel::Success,
        );
        let on_failure = self.link(
            node,
            at,
            "on_failure",
            raw.on_failure.as_deref(),
            EdgeLabel::Failure,
        );
        let timeout = raw
            .timeout
            .as_deref()
            .and_then(|timeout| self.duration(&owner, "timeout", timeout));
        NodeKind::Action(Action {
            run,
            params,
            on_success,
            on_failure,
            timeout,
        })
    }

    fn params(&mut self, owner: &str, params: &At<Entries<At<serde_json::Value>>>) -> Vec<Param> {
        if let Some(found) = &params.value.found {
            let what = format!("{owner}: `with`");
            self.not_a_mapping(params.at, &what, found, "`name: value`, one per parameter");
            return Vec::new();
        }
        let entries = params.value.entries.iter();
        entries
            .map(|(name, value)| Param {
                name: name.value.clone(),
                at: name.at,
                value: value.value.clone(),
            })
            .collect()
    }

    fn approval(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let require = match raw.require.as_deref() {
            Some(require) => self.requirement(node, require),
            None => {
                self.missing(
                    at,
                    "require",
                    format!("approval `{node}` has no `require`: say which roles, how many"),
                );
                Requirement {
                    roles: Vec::new(),
                    count: 2,
                    exclude_initiator: false,
                    each_role: false,
                }
            }
        };
        let next = self.link(node, at, "next", raw.next.as_deref(), EdgeLabel::Next);
        NodeKind::Approval { require, next }
    }

    fn requirement(&mut self, node: &NodeId, require: &At<RawRequire>) -> Requirement {
        let raw = &require.value;
        let owner = format!("node `{node}`");
        let mut requirement = Requirement {
            roles: Vec::new(),
            count: 2,
            exclude_initiator: false,
            each_role: false,
        };
        if let Some(found) = &raw.found {
            let what = format!("node `{node}`: `require`");
            self.not_a_mapping(require.at, &what, found, "`roles: [...]`, `count: 2`");
            return requirement;
        }
        let saved = std::mem::take(&mut self.typos);
        self.unknown(
            &raw.unknown,
            REQUIRE_FIELDS,
            &format!("`require` of node `{node}`"),
        );

        requirement.roles = match &raw.roles {
            Some(roles) => self.texts(&owner, "require.roles", roles),
            None => Vec::new(),
        };
        if requirement.roles.is_empty()
            && raw.roles.as_ref().is_none_or(|r| r.value.found.is_none())
        {
            let at = raw.roles.as_ref().map_or(require.at, |roles| roles.at);
            self.error(at, format!("approval `{node}` names no roles"));
        }
        if let Some(count) = &raw.count {
            match self.number(&owner, "require.count", count, 0) {
                Some(number) if number < 2 => self.error(
                    count.at,
                    format!(
                        "approval `{node}` asks for {number} person; dual control needs at least 2"
                    ),
                ),
                Some(number) => requirement.count = number,
                None => {}
            }
        }
        requirement.exclude_initiator = raw
            .exclude_initiator
            .as_ref()
            .and_then(|flag| self.flag(&owner, "require.exclude_initiator", flag))
            .unwrap_or(false);
        requirement.each_role = raw
            .each_role
            .as_ref()
            .and_then(|flag| self.flag(&owner, "require.each_role", flag))
            .unwrap_or(false);
        let roles = u32::try_from(requirement.roles.len()).unwrap_or(u32::MAX);
        if requirement.each_role && requirement.count < roles {
            let at = raw.count.as_ref().map_or(require.at, |count| count.at);
            self.error(
                at,
                format!(
                    "approval `{node}` asks for each of {roles} roles but only {} people; with \
                     `each_role`, `count` is at least the number of roles",
                    requirement.count
                ),
            );
        }
        self.typos = saved;
        requirement
    }

    fn notify(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let owner = format!("node `{node}`");
        let required =
            |builder: &mut Self, field: &'static str, value: Option<&At<Loose>>| match value {
                Some(value) => named(
                    builder.text(&owner, field, value).unwrap_or_default(),
                    value.at,
                ),
                None => {
                    builder.missing(at, field, format!("notify `{node}` has no `{field}`"));
                    named(String::new(), at)
                }
            };
        let group = required(self, "to", raw.to.as_deref());
        let template = required(self, "template", raw.template.as_deref());
        let next = self.link(node, at, "next", raw.next.as_deref(), EdgeLabel::Next);
        NodeKind::Notify {
            group,
            template,
            next,
        }
    }

    fn end(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let owner = format!("end `{node}`");
        let outcome = match raw.outcome.as_deref() {
            Some(outcome) => self
                .word(&owner, outcome, "outcome")
                .unwrap_or(Outcome::Aborted),
            None => {
                self.missing(at, "outcome", format!("end `{node}` has no `outcome`"));
                Outcome::Aborted
            }
        };
        NodeKind::End { outcome }
    }
}

/// An edge that leads nowhere known: its target is empty.
fn broken(label: EdgeLabel, at: Pos) -> Edge {
    Edge {
        label,
        target: NodeId(String::new()),
        at,
    }
}

const KINDS: &[&str] = &["step", "decision", "action", "approval", "notify", "end"];

const COMMON_FIELDS: &[&str] = &[
    "kind",
    "title",
    "phase",
    "guidance",
    "within",
    "max_visits",
    "on_exhausted",
];

const FIELDS_BY_KIND: &[(&str, &[&str])] = &[
    ("step", &["fields", "next"]),
    ("decision", &["options"]),
    (
        "action",
        &["run", "with", "on_success", "on_failure", "timeout"],
    ),
    ("approval", &["require", "next"]),
    ("notify", &["to", "template", "next"]),
    ("end", &["outcome"]),
];

/// The kind-specific fields a raw node has, with their positions.
fn present_fields(raw: &RawNode) -> Vec<(&'static str, Pos)> {
    let mut present = Vec::new();
    let mut note = |name: &'static str, at: Option<Pos>| {
        if let Some(at) = at {
            present.push((name, at));
        }
    };
    note("next", raw.next.as_deref().map(|value| value.at));
    note("fields", raw.fields.as_deref().map(|value| value.at));
    note("options", raw.options.as_deref().map(|value| value.at));
    note("run", raw.run.as_deref().map(|value| value.at));
    note("with", raw.params.as_deref().map(|value| value.at));
    note(
        "on_success",
        raw.on_success.as_deref().map(|value| value.at),
    );
    note(
        "on_failure",
        raw.on_failure.as_deref().map(|value| value.at),
    );
    note("timeout", raw.timeout.as_deref().map(|value| value.at));
    note("require", raw.require.as_deref().map(|value| value.at));
    note("to", raw.to.as_deref().map(|value| value.at));
    note("template", raw.template.as_deref().map(|value| value.at));
    note("outcome", raw.outcome.as_deref().map(|value| value.at));
    present
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_lowercase_words() {
        assert!(is_identifier("destroy_old", '_'));
        assert!(is_identifier("card-lost", '-'));
        assert!(!is_identifier("Destroy", '_'));
        assert!(!is_identifier("trailing_", '_'));
        assert!(!is_identifier("", '_'));
    }
}
