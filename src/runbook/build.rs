//! From the raw file to the typed model, collecting every problem of every field on the way.
//!
//! Each check that fails adds a [`Diagnostic`] and the build goes on with a placeholder, so a
//! runbook with ten mistakes reports ten. Graph properties are left to [`super::check`], which
//! only runs when the build produced no diagnostics.

use super::diagnostic::{Diagnostic, suggestion};
use super::model::{
    Action, Edge, EdgeLabel, Header, Holding, Input, InputKind, Named, Node, NodeId, NodeKind,
    Outcome, Param, Phase, Pos, Requirement, Runbook, Severity, Template, Word,
};
use super::raw::{At, Entries, RawHolding, RawInput, RawNode, RawRequire, RawRunbook};
use jiff::{SignedDuration, Span, SpanRelativeTo};

/// The position of a value read from the file.
pub fn pos<T>(value: &At<T>) -> Pos {
    value.at
}

/// Turns a raw runbook into the model, or the list of everything wrong with it.
pub fn build(raw: &RawRunbook, file_stem: Option<&str>) -> Result<Runbook, Vec<Diagnostic>> {
    let mut builder = Builder::default();
    let header = builder.header(raw, file_stem);
    let inputs = builder.inputs(&raw.inputs, "input", false);
    builder.input_names = inputs.iter().map(|input| input.name.clone()).collect();
    let start = raw
        .start
        .as_ref()
        .map(|start| edge(EdgeLabel::Start, start));
    if start.is_none() {
        builder.missing(
            None,
            "the runbook has no `start`: name the node the walk begins at",
        );
    }

    let mut nodes = Vec::new();
    match &raw.nodes {
        None => builder.missing(None, "the runbook has no `nodes`"),
        Some(entries) if entries.value.0.is_empty() => {
            builder.error(
                pos(entries),
                "`nodes` is empty: a runbook needs at least one node",
            );
        }
        Some(entries) => {
            nodes = entries
                .value
                .0
                .iter()
                .map(|(id, node)| builder.node(id, node))
                .collect();
        }
    }

    match (builder.problems.is_empty(), start) {
        (true, Some(start)) => Ok(Runbook::new(header, inputs, start, nodes)),
        _ => Err(builder.problems),
    }
}

fn edge(label: EdgeLabel, target: &At<String>) -> Edge {
    Edge {
        label,
        target: NodeId(target.value.clone()),
        at: pos(target),
    }
}

fn named(spanned: &At<String>) -> Named {
    Named {
        name: spanned.value.clone(),
        at: pos(spanned),
    }
}

/// Whether `name` is lowercase letters, digits and `separator`, starting with a letter.
fn is_identifier(name: &str, separator: char) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == separator)
        && !name.ends_with(separator)
}

/// Parses an ISO 8601 duration such as `PT30M` or `P1D` (a day counts as 24 hours).
pub fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    let not_iso = || "it is not an ISO 8601 duration".to_owned();
    let span: Span = text.parse().map_err(|_| not_iso())?;
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| not_iso())?;
    if duration.is_positive() {
        Ok(duration)
    } else {
        Err("it must be longer than zero".into())
    }
}

#[derive(Default)]
struct Builder {
    problems: Vec<Diagnostic>,
    /// The names of the runbook's inputs, once built; a field's `component.key` names one.
    input_names: Vec<String>,
}

impl Builder {
    fn error(&mut self, at: Pos, message: impl Into<String>) {
        self.problems.push(Diagnostic::at(at, message));
    }

    fn missing(&mut self, at: Option<Pos>, message: impl Into<String>) {
        self.problems.push(Diagnostic::new(
            at.or(Some(Pos {
                line: 1,
                column: 1,
                width: 1,
            })),
            message,
        ));
    }

    fn header(&mut self, raw: &RawRunbook, file_stem: Option<&str>) -> Header {
        let id = self.required_text(raw.id.as_ref(), None, "the runbook has no `id`");
        if let Some(spanned) = &raw.id {
            if !is_identifier(&id, '-') {
                self.error(
                    pos(spanned),
                    format!(
                        "runbook id `{id}` must be lowercase words joined by `-`, like `card-lost`"
                    ),
                );
            } else if let Some(stem) = file_stem.filter(|stem| *stem != id) {
                self.error(
                    pos(spanned),
                    format!("runbook id `{id}` does not match its file name `{stem}.yaml`"),
                );
            }
        }

        let title = self.required_text(raw.title.as_ref(), None, "the runbook has no `title`");
        let summary =
            self.required_text(raw.summary.as_ref(), None, "the runbook has no `summary`");
        let version = match &raw.version {
            None => {
                self.missing(
                    None,
                    "the runbook has no `version`: start at 1, raise it on each change",
                );
                1
            }
            Some(version) if version.value == 0 => {
                self.error(pos(version), "`version` must be 1 or more");
                1
            }
            Some(version) => version.value,
        };
        let severity = match &raw.severity {
            None => {
                self.missing(
                    None,
                    "the runbook has no `severity` (low, medium, high or critical)",
                );
                Severity::Low
            }
            Some(word) => self.word(word, "severity").unwrap_or(Severity::Low),
        };

        Header {
            id,
            title,
            version,
            severity,
            summary,
            ceremony: raw.ceremony,
        }
    }

    fn required_text(
        &mut self,
        text: Option<&At<String>>,
        at: Option<Pos>,
        message: &str,
    ) -> String {
        match text {
            Some(text) if !text.value.trim().is_empty() => text.value.clone(),
            Some(text) => {
                self.error(pos(text), message.replace("has no", "has an empty"));
                String::new()
            }
            None => {
                self.missing(at, message);
                String::new()
            }
        }
    }

    /// A word of a closed set, with a suggestion when it is misspelt.
    fn word<W: Word + PartialEq>(&mut self, word: &At<String>, what: &str) -> Option<W> {
        let parsed = W::parse(&word.value);
        if parsed.is_none() {
            let names = W::ALL.iter().map(|(name, _)| *name);
            let hint = suggestion(&word.value, names.clone());
            let all: Vec<_> = names.collect();
            let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            self.problems.push(
                Diagnostic::at(pos(word), format!("unknown {what} `{}`{hint}", word.value))
                    .with_hint(format!("{article} {what} is one of {}", all.join(", "))),
            );
        }
        parsed
    }

    fn inputs(&mut self, entries: &Entries<RawInput>, what: &str, allow_kcv: bool) -> Vec<Input> {
        let mut inputs = Vec::with_capacity(entries.0.len());
        for (name, raw) in &entries.0 {
            if !is_identifier(&name.value, '_') {
                self.error(
                    pos(name),
                    format!(
                        "{what} name `{}` must be lowercase words joined by `_`",
                        name.value
                    ),
                );
            }
            let missing = format!("{what} `{}` has no `prompt`", name.value);
            let prompt = self.required_text(raw.prompt.as_ref(), Some(pos(name)), &missing);
            let kind = self.input_kind(&name.value, raw, allow_kcv, pos(name));
            let required = raw.required.unwrap_or(true);
            let holds = raw
                .component
                .as_ref()
                .and_then(|holding| self.holding(&name.value, holding, &kind, allow_kcv));
            inputs.push(Input {
                name: name.value.clone(),
                prompt,
                kind,
                required,
                holds,
            });
        }
        self.distinct_holdings(entries, &inputs);
        inputs
    }

    /// The component a `person` field names the holder of.
    fn holding(
        &mut self,
        name: &str,
        raw: &At<RawHolding>,
        kind: &InputKind,
        is_field: bool,
    ) -> Option<Holding> {
        let at = pos(raw);
        if !is_field || *kind != InputKind::Person {
            self.error(
                at,
                format!("`{name}` has a `component` but is not a step field of type `person`"),
            );
            return None;
        }
        let key = raw.value.key.as_ref();
        let component = raw.value.name.as_ref();
        let (Some(key), Some(component)) = (key, component) else {
            self.error(
                at,
                format!("the `component` of `{name}` needs a `key` (an input) and a `name`"),
            );
            return None;
        };
        if !self.input_names.contains(&key.value) {
            let hint = suggestion(&key.value, self.input_names.iter().map(String::as_str));
            self.error(
                pos(key),
                format!(
                    "the `component` of `{name}` names the key by input `{}`, which the runbook \
                     does not have{hint}",
                    key.value
                ),
            );
            return None;
        }
        Some(Holding {
            key: key.value.clone(),
            component: component.value.clone(),
        })
    }

    /// Two fields of one step may not hold the same component of one key.
    fn distinct_holdings(&mut self, entries: &Entries<RawInput>, inputs: &[Input]) {
        for (index, input) in inputs.iter().enumerate() {
            let Some(holds) = &input.holds else { continue };
            let earlier = inputs[..index]
                .iter()
                .find(|other| other.holds.as_ref() == Some(holds));
            let (Some(earlier), Some((name, _))) = (earlier, entries.0.get(index)) else {
                continue;
            };
            self.error(
                pos(name),
                format!(
                    "`{}` and `{}` both hold component {} of the key in input `{}`",
                    earlier.name, input.name, holds.component, holds.key
                ),
            );
        }
    }

    fn input_kind(&mut self, name: &str, raw: &RawInput, allow_kcv: bool, at: Pos) -> InputKind {
        let word = raw.kind.as_ref().map_or("text", |kind| kind.value.as_str());
        let kind = match word {
            "text" => InputKind::Text,
            "number" => InputKind::Number,
            "boolean" => InputKind::Boolean,
            "date" => InputKind::Date,
            "kcv" if allow_kcv => InputKind::Kcv,
            "person" if allow_kcv => InputKind::Person,
            "choice" => InputKind::Choice(Vec::new()),
            other => {
                let mut known = vec!["text", "number", "boolean", "date", "choice"];
                if allow_kcv {
                    known.extend(["kcv", "person"]);
                }
                let hint = suggestion(other, known.iter().copied());
                let at = raw.kind.as_ref().map_or(at, pos);
                self.problems.push(
                    Diagnostic::at(at, format!("`{name}` has unknown type `{other}`{hint}"))
                        .with_hint(format!("a type is one of {}", known.join(", "))),
                );
                InputKind::Text
            }
        };

        match (kind, &raw.choices) {
            (InputKind::Choice(_), Some(choices)) if choices.value.len() >= 2 => {
                InputKind::Choice(choices.value.clone())
            }
            (InputKind::Choice(_), Some(choices)) => {
                self.error(
                    pos(choices),
                    format!("`{name}` needs at least two `choices`"),
                );
                InputKind::Text
            }
            (InputKind::Choice(_), None) => {
                self.error(at, format!("`{name}` is a `choice` but lists no `choices`"));
                InputKind::Text
            }
            (_, Some(choices)) => {
                self.error(
                    pos(choices),
                    format!("`{name}` has `choices` but is not of type `choice`"),
                );
                InputKind::Text
            }
            (kind, None) => kind,
        }
    }

    fn node(&mut self, id: &At<String>, raw: &RawNode) -> Node {
        let at = pos(id);
        if !is_identifier(&id.value, '_') {
            self.error(
                at,
                format!(
                    "node id `{}` must be lowercase words joined by `_`",
                    id.value
                ),
            );
        }
        let node_id = NodeId(id.value.clone());
        let title = self.required_text(
            raw.title.as_deref(),
            Some(at),
            &format!("node `{node_id}` has no `title`"),
        );
        let phase = raw
            .phase
            .as_ref()
            .and_then(|phase| self.word::<Phase>(phase, "phase"));
        let guidance = raw.guidance.as_deref().map(|text| Template {
            text: text.value.clone(),
            at: pos(text),
        });
        let within = raw
            .within
            .as_ref()
            .and_then(|within| self.duration(&node_id, "within", within));
        let (max_visits, on_exhausted) = self.bound(&node_id, raw);
        let kind = self.kind(&node_id, at, raw);

        Node {
            id: node_id,
            at,
            title,
            phase,
            guidance,
            within,
            max_visits,
            on_exhausted,
            kind,
        }
    }

    fn duration(
        &mut self,
        node: &NodeId,
        field: &str,
        text: &At<String>,
    ) -> Option<SignedDuration> {
        match parse_duration(&text.value) {
            Ok(duration) => Some(duration),
            Err(reason) => {
                self.problems.push(
                    Diagnostic::at(
                        pos(text),
                        format!("node `{node}`: `{field}: {}`: {reason}", text.value),
                    )
                    .with_hint("write an ISO 8601 duration, like `PT30M`, `PT4H` or `P1D`"),
                );
                None
            }
        }
    }

    fn bound(&mut self, node: &NodeId, raw: &RawNode) -> (Option<u32>, Option<Edge>) {
        match (&raw.max_visits, &raw.on_exhausted) {
            (Some(max), Some(target)) if max.value >= 1 => {
                (Some(max.value), Some(edge(EdgeLabel::Exhausted, target)))
            }
            (Some(max), Some(_)) => {
                self.error(
                    pos(max),
                    format!("node `{node}`: `max_visits` must be 1 or more"),
                );
                (None, None)
            }
            (Some(max), None) => {
                self.error(
                    pos(max),
                    format!(
                        "node `{node}` has `max_visits` but no `on_exhausted` node to go to after"
                    ),
                );
                (None, None)
            }
            (None, Some(target)) => {
                self.error(
                    pos(target),
                    format!("node `{node}` has `on_exhausted` but no `max_visits`"),
                );
                (None, None)
            }
            (None, None) => (None, None),
        }
    }

    fn kind(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let placeholder = NodeKind::End {
            outcome: Outcome::Aborted,
        };
        let Some(kind) = &raw.kind else {
            self.error(
                at,
                format!("node `{node}` has no `kind` ({})", KINDS.join(", ")),
            );
            return placeholder;
        };
        let Some(&(name, allowed)) = FIELDS_BY_KIND.iter().find(|(name, _)| *name == kind.value)
        else {
            let hint = suggestion(&kind.value, KINDS.iter().copied());
            self.problems.push(
                Diagnostic::at(
                    pos(kind),
                    format!("node `{node}` has unknown kind `{}`{hint}", kind.value),
                )
                .with_hint(format!("a kind is one of {}", KINDS.join(", "))),
            );
            return placeholder;
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

        match name {
            "step" => self.step(node, at, raw),
            "decision" => self.decision(node, at, raw),
            "action" => self.action(node, at, raw),
            "approval" => self.approval(node, at, raw),
            "notify" => self.notify(node, at, raw),
            _ => self.end(node, at, raw),
        }
    }

    fn link(
        &mut self,
        node: &NodeId,
        at: Pos,
        field: &str,
        target: Option<&At<String>>,
        label: EdgeLabel,
    ) -> Edge {
        match target {
            Some(target) => edge(label, target),
            None => {
                self.error(
                    at,
                    format!("node `{node}` has no `{field}`: name the node that comes after it"),
                );
                Edge {
                    label,
                    target: node.clone(),
                    at,
                }
            }
        }
    }

    fn step(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let fields = match &raw.fields {
            Some(fields) => self.inputs(&fields.value, "field", true),
            None => Vec::new(),
        };
        let next = self.link(node, at, "next", raw.next.as_deref(), EdgeLabel::Next);
        NodeKind::Step { fields, next }
    }

    fn decision(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let options: Vec<Edge> = raw.options.as_deref().map_or_else(Vec::new, |options| {
            let edges = options.value.0.iter();
            edges
                .map(|(label, target)| edge(EdgeLabel::Option(label.value.clone()), target))
                .collect()
        });
        if options.len() < 2 {
            let at = raw.options.as_deref().map_or(at, pos);
            let count = options.len();
            self.error(
                at,
                format!("decision `{node}` has {count} option(s); a decision needs at least two"),
            );
        }
        NodeKind::Decision { options }
    }

    fn action(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let run = match &raw.run {
            Some(run) => named(run),
            None => {
                self.error(
                    at,
                    format!("action `{node}` has no `run`: name the action from the catalog"),
                );
                Named {
                    name: String::new(),
                    at,
                }
            }
        };
        let params = raw.params.as_deref().map_or_else(Vec::new, |params| {
            let entries = params.value.0.iter();
            entries
                .map(|(name, value)| Param {
                    name: name.value.clone(),
                    at: pos(name),
                    value: value.value.clone(),
                })
                .collect()
        });
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
            .as_ref()
            .and_then(|timeout| self.duration(node, "timeout", timeout));
        NodeKind::Action(Action {
            run,
            params,
            on_success,
            on_failure,
            timeout,
        })
    }

    fn approval(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let require = match &raw.require {
            Some(require) => self.requirement(node, require),
            None => {
                self.error(
                    at,
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
        let roles: Vec<Named> = raw
            .roles
            .as_ref()
            .map_or_else(Vec::new, |roles| roles.value.iter().map(named).collect());
        if roles.is_empty() {
            let at = raw.roles.as_ref().map_or_else(|| pos(require), pos);
            self.error(at, format!("approval `{node}` names no roles"));
        }
        let count = raw.count.as_ref().map_or(2, |count| count.value);
        if let Some(spanned) = raw.count.as_ref().filter(|count| count.value < 2) {
            self.error(
                pos(spanned),
                format!("approval `{node}` asks for {count} person; dual control needs at least 2"),
            );
        }
        let roles_count = u32::try_from(roles.len()).unwrap_or(u32::MAX);
        if raw.each_role && count < roles_count {
            let at = raw.count.as_ref().map_or_else(|| pos(require), pos);
            self.error(
                at,
                format!(
                    "approval `{node}` asks for each of {roles_count} roles but only {count} \
                     people; with `each_role`, `count` is at least the number of roles"
                ),
            );
        }
        Requirement {
            roles,
            count,
            exclude_initiator: raw.exclude_initiator,
            each_role: raw.each_role,
        }
    }

    fn notify(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let mut required = |field: &str, value: Option<&At<String>>| match value {
            Some(value) => named(value),
            None => {
                self.problems.push(Diagnostic::at(
                    at,
                    format!("notify `{node}` has no `{field}`"),
                ));
                Named {
                    name: String::new(),
                    at,
                }
            }
        };
        let group = required("to", raw.to.as_deref());
        let template = required("template", raw.template.as_deref());
        let next = self.link(node, at, "next", raw.next.as_deref(), EdgeLabel::Next);
        NodeKind::Notify {
            group,
            template,
            next,
        }
    }

    fn end(&mut self, node: &NodeId, at: Pos, raw: &RawNode) -> NodeKind {
        let outcome = match &raw.outcome {
            Some(outcome) => self.word(outcome, "outcome").unwrap_or(Outcome::Aborted),
            None => {
                self.error(at, format!("end `{node}` has no `outcome`"));
                Outcome::Aborted
            }
        };
        NodeKind::End { outcome }
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
    note("next", raw.next.as_deref().map(pos));
    note("fields", raw.fields.as_deref().map(pos));
    note("options", raw.options.as_deref().map(pos));
    note("run", raw.run.as_deref().map(pos));
    note("with", raw.params.as_deref().map(pos));
    note("on_success", raw.on_success.as_deref().map(pos));
    note("on_failure", raw.on_failure.as_deref().map(pos));
    note("timeout", raw.timeout.as_deref().map(pos));
    note("require", raw.require.as_deref().map(pos));
    note("to", raw.to.as_deref().map(pos));
    note("template", raw.template.as_deref().map(pos));
    note("outcome", raw.outcome.as_deref().map(pos));
    present
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_iso_8601_and_positive() {
        assert_eq!(parse_duration("PT30M"), Ok(SignedDuration::from_mins(30)));
        assert_eq!(parse_duration("P1D"), Ok(SignedDuration::from_hours(24)));
        assert!(parse_duration("PT0S").is_err());
        assert!(parse_duration("half an hour").is_err());
    }

    #[test]
    fn identifiers_are_lowercase_words() {
        assert!(is_identifier("destroy_old", '_'));
        assert!(is_identifier("card-lost", '-'));
        assert!(!is_identifier("Destroy", '_'));
        assert!(!is_identifier("trailing_", '_'));
        assert!(!is_identifier("", '_'));
    }
}
