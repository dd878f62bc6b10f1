//! Handlebars templates in runbooks: checking what they refer to, and rendering them.
//!
//! A template may use `inputs.NAME`, `fields.NODE.FIELD`, `outputs.NODE.OUTPUT`,
//! `answers.NODE` and `incident.*`, and the helpers [`HELPERS`]. Rendering is strict: a name
//! with no value is an error, never a silent blank. So the check makes sure that every name a
//! template uses has a value whenever the walk is at that node:
//!
//! - an *unguarded* use of a node's value needs the value on every walk to the node: the
//!   action's success, the step's completion or the decision's answer *dominates* the node
//!   (every path from `start` to it passes through it), and an optional input or field is
//!   always guarded;
//! - a *guarded* use, inside `{{#if X}}` (or the `{{else}}` of `{{#unless X}}`) on the value or
//!   on anything under it, and the value tested by `#if`, `#unless`, or by `#with` and `#each`
//!   when they have an `{{else}}`, only needs a walk on which the value exists before the node.
//!
//! The dominator tree is built once for the runbook (O(E log V)); each use is then answered in
//! constant time when the producer dominates the node, as it does for most. The others are
//! answered by the graph's strongly connected components (a producer in a later component can
//! never come first; one in the same component always can), then by a search of the few
//! vertices after the producer, and only then by a full search from the producer, shared by
//! every use of its values. Inside `#each` and `#with` blocks names are relative to the block
//! and are not checked.

mod uses;

use super::diagnostic::{Diagnostic, suggestion};
use super::dominators::Dominators;
use super::graph::Graph;
use super::model::{Node, NodeId, NodeKind, Pos, Runbook};
use super::source::{SourceMap, offset_of};
use crate::catalog;
use handlebars::{Handlebars, Template};
use serde_json::Value;
use std::cell::{Cell, OnceCell};
use std::collections::{HashMap, HashSet};
use uses::{Found, Reference, collect, unclosed};

/// The fields of `incident` that every template may use.
pub const INCIDENT_FIELDS: &[&str] =
    &["id", "opened", "initiator", "rehearsal", "runbook", "title"];

/// How many references to missing nodes get a "did you mean" hint.
const HINTED: usize = 20;

/// How many vertices after a value's producer are searched before a full search is made.
const NEARBY: usize = 64;

const ROOTS: &[&str] = &["inputs", "fields", "outputs", "answers", "incident"];

/// The helpers [`registry`] knows: handlebars' built-in ones.
pub const HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "raw", "log", "eq", "ne", "gt", "gte", "lt", "lte",
    "and", "or", "not", "len",
];

/// A registry for rendering guidance and messages: strict, and without HTML escaping.
pub fn registry() -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    registry
}

/// Renders `text` with `data`; a missing value is an error, never a silent blank.
pub fn render(registry: &Handlebars<'_>, text: &str, data: &Value) -> Result<String, String> {
    registry
        .render_template(text, data)
        .map_err(|error| error.to_string())
}

/// Checks every template of the runbook: guidance, and text parameters of actions.
pub fn check(runbook: &Runbook, graph: &Graph, source: &str, problems: &mut Vec<Diagnostic>) {
    let mut checker = Checker {
        runbook,
        graph,
        dominators: OnceCell::new(),
        map: SourceMap::new(source),
        searches: Vec::new(),
        templates: 0,
        hints: Cell::new(0),
        problems,
    };
    for (at, node) in runbook.nodes.iter().enumerate() {
        if let Some(guidance) = &node.guidance {
            checker.template(at, node, &guidance.text, guidance.at, "guidance");
        }
        if let NodeKind::Action(action) = &node.kind {
            for param in &action.params {
                if let Some(text) = param.value.as_str().filter(|text| text.contains("{{")) {
                    let place = format!("parameter `{}`", param.name);
                    checker.template(at, node, text, param.at, &place);
                }
            }
        }
    }
    checker.finish_searches();
}

/// A use of a value whose producer does not dominate the node; answered by one search from
/// the producer once every template has been read.
struct Search {
    /// Which template of the runbook uses it, counted from 0.
    template: usize,
    /// The vertex after which the value exists.
    producer: usize,
    here: usize,
    tested: bool,
    at: Pos,
    /// The diagnostic's text up to the reason.
    lead: String,
    /// The node that makes the value, with what "making it" is called.
    made: Made,
}

/// How the value of a node comes to exist.
#[derive(Clone)]
struct Made {
    node: usize,
    how: &'static str,
    root: &'static str,
}

struct Checker<'a> {
    runbook: &'a Runbook,
    graph: &'a Graph,
    /// The dominator tree, built when a template first uses a node's value.
    dominators: OnceCell<Option<Dominators>>,
    map: SourceMap<'a>,
    searches: Vec<Search>,
    /// How many templates were read so far.
    templates: usize,
    /// How many names of missing nodes were looked up for a hint.
    hints: Cell<usize>,
    problems: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    fn template(&mut self, here: usize, node: &Node, text: &str, at: Pos, place: &str) {
        self.templates += 1;
        let template = match Template::compile(text) {
            Ok(template) => template,
            Err(error) => {
                self.does_not_compile(node, text, at, place, &error);
                return;
            }
        };

        let mut found = Found::default();
        collect(
            text,
            &template.elements,
            &template.mapping,
            0,
            &mut Vec::new(),
            &mut found,
        );
        for (name, offset) in found.helpers {
            let hint = suggestion(&name, HELPERS.iter().copied());
            let offset = text[offset.min(text.len())..]
                .find(&name)
                .map_or(offset, |found| found + offset);
            let at = self.map.locate(at, text, offset, name.chars().count());
            self.problems.push(
                Diagnostic::at(
                    at,
                    format!(
                        "node `{}`: the {place} uses the helper `{name}`, which templates do not \
                         have{hint}",
                        node.id
                    ),
                )
                .with_hint(format!("the helpers are {}", HELPERS.join(", "))),
            );
        }

        let mut reported = HashSet::new();
        for reference in found.references {
            let outcome = self.resolve(here, &reference);
            if matches!(outcome, Ok(None)) {
                continue;
            }
            let name = reference.path.join(".");
            let offset = text[reference.offset.min(text.len())..]
                .find(&name)
                .map(|found| found + reference.offset)
                .or_else(|| text.find(&name))
                .unwrap_or(reference.offset);
            let at = self.map.locate(at, text, offset, name.chars().count());
            let lead = format!("node `{}`: the {place} uses `{{{{{name}}}}}`, ", node.id);
            match outcome {
                Ok(None) => {}
                Ok(Some(mut search)) => {
                    search.template = self.templates;
                    search.at = at;
                    search.lead = lead;
                    self.searches.push(search);
                }
                Err((message, hint)) => {
                    if reported.insert((name, message.clone())) {
                        let diagnostic = Diagnostic::at(at, format!("{lead}{message}"));
                        self.problems.push(match hint {
                            Some(hint) => diagnostic.with_hint(hint),
                            None => diagnostic,
                        });
                    }
                }
            }
        }
    }

    fn does_not_compile(
        &mut self,
        node: &Node,
        text: &str,
        at: Pos,
        place: &str,
        error: &handlebars::TemplateError,
    ) {
        let reason = error.reason().to_string();
        let reason = reason.split(':').next().unwrap_or("invalid syntax");
        let offset = error
            .pos()
            .map_or(0, |(line, column)| offset_of(text, line, column));
        let (offset, width, message) = match unclosed(text)
            .filter(|_| offset >= text.trim_end().len())
        {
            Some((opened, name)) => (
                opened,
                name.len() + 3,
                format!(
                    "node `{}`: the {place} template does not compile: `{{{{#{name}}}}}` is never \
                     closed",
                    node.id
                ),
            ),
            None => (
                offset.min(text.trim_end().len().saturating_sub(1)),
                1,
                format!(
                    "node `{}`: the {place} template does not compile: {reason}",
                    node.id
                ),
            ),
        };
        let at = self.map.locate(at, text, offset, width);
        self.problems.push(
            Diagnostic::at(at, message)
                .with_hint("every `{{` needs its `}}`, and every `{{#if}}` its `{{/if}}`"),
        );
    }

    /// Whether the value a reference names can exist at node `here`: `Ok(None)` when it
    /// always can, `Ok(Some(search))` when a search from its producer must tell, or the
    /// problem and its hint.
    fn resolve(
        &self,
        here: usize,
        reference: &Reference,
    ) -> Result<Option<Search>, (String, Option<String>)> {
        let path = &reference.path;
        let word = |index: usize| path.get(index).map(String::as_str);
        match path[0].as_str() {
            "inputs" => {
                let name =
                    word(1).ok_or(("which needs an input name: `inputs.NAME`".to_owned(), None))?;
                self.input(name, reference).map(|()| None)
            }
            "incident" => {
                let missing = "which needs a field: `incident.id`, `incident.opened`...";
                let name = word(1).ok_or((missing.to_owned(), None))?;
                if INCIDENT_FIELDS.contains(&name) {
                    return Ok(None);
                }
                let hint = suggestion(name, INCIDENT_FIELDS.iter().copied());
                Err((format!("but incidents have no field `{name}`{hint}"), None))
            }
            root @ ("fields" | "outputs" | "answers") => {
                let root = ROOTS
                    .iter()
                    .copied()
                    .find(|known| *known == root)
                    .unwrap_or("");
                let made = self.producer(root, word(1), word(2), reference)?;
                self.available(here, made, reference)
            }
            other => {
                let hint = suggestion(other, ROOTS.iter().copied());
                Err((
                    format!(
                        "but `{other}` is not a name templates know{hint}; they know inputs, \
                         fields, outputs, answers and incident"
                    ),
                    None,
                ))
            }
        }
    }

    fn input(&self, name: &str, reference: &Reference) -> Result<(), (String, Option<String>)> {
        let Some(input) = self.runbook.input(name) else {
            let names = self.runbook.inputs.iter().map(|input| input.name.as_str());
            let hint = suggestion(name, names);
            return Err((
                format!("but the runbook declares no input `{name}`{hint}"),
                None,
            ));
        };
        if input.required || reference.tested || reference.covered >= 2 {
            return Ok(());
        }
        Err((
            format!("but input `{name}` is optional (`required: false`) and may have no value"),
            Some(format!(
                "guard it: `{{{{#if inputs.{name}}}}} ... {{{{else}}}} ... {{{{/if}}}}`"
            )),
        ))
    }

    /// The node that makes the value a `fields`, `outputs` or `answers` path names.
    fn producer(
        &self,
        root: &'static str,
        node: Option<&str>,
        name: Option<&str>,
        reference: &Reference,
    ) -> Result<Made, (String, Option<String>)> {
        let node = node.ok_or_else(|| (format!("which needs a node id: `{root}.NODE`"), None))?;
        let names = || self.runbook.nodes.iter().map(|n| n.id.as_str());
        let Some(producer) = self.runbook.position(&NodeId(node.to_owned())) else {
            // A hint compares with every node id: only the first ones get one.
            self.hints.set(self.hints.get() + 1);
            let hint = if self.hints.get() <= HINTED {
                suggestion(node, names())
            } else {
                String::new()
            };
            return Err((format!("but there is no node `{node}`{hint}"), None));
        };
        let plain = |message: String| (message, None);

        let how = match (root, &self.runbook.nodes[producer].kind) {
            ("answers", NodeKind::Decision { .. }) => "answered",
            ("answers", _) => return Err(plain(format!("but `{node}` is not a decision"))),
            ("fields", NodeKind::Step { .. }) if name.is_none() && reference.tested => "completed",
            ("fields", NodeKind::Step { fields, .. }) => {
                let name = name.ok_or_else(|| {
                    plain("which needs a field name: `fields.NODE.FIELD`".to_owned())
                })?;
                let Some(field) = fields.iter().find(|field| field.name == name) else {
                    let hint = suggestion(name, fields.iter().map(|field| field.name.as_str()));
                    return Err(plain(format!(
                        "but step `{node}` records no field `{name}`{hint}"
                    )));
                };
                if !field.required && !reference.tested && reference.covered < 3 {
                    return Err((
                        format!(
                            "but field `{name}` of `{node}` is optional (`required: false`) and \
                             may have no value"
                        ),
                        Some(format!(
                            "guard it: `{{{{#if fields.{node}.{name}}}}} ... {{{{else}}}} ... \
                             {{{{/if}}}}`"
                        )),
                    ));
                }
                "completed"
            }
            ("fields", _) => return Err(plain(format!("but `{node}` is not a step with fields"))),
            ("outputs", NodeKind::Action(_)) if name.is_none() && reference.tested => "succeeded",
            ("outputs", NodeKind::Action(action)) => {
                let name = name.ok_or_else(|| {
                    plain("which needs an output name: `outputs.NODE.OUTPUT`".to_owned())
                })?;
                if let Some(spec) = catalog::action(&action.run.name)
                    && !spec.has_output(name)
                {
                    let hint = suggestion(name, spec.outputs.iter().map(|output| output.name));
                    return Err(plain(format!(
                        "but `{}` has no output `{name}`{hint}",
                        spec.name
                    )));
                }
                "succeeded"
            }
            _ => return Err(plain(format!("but `{node}` is not an action"))),
        };
        Ok(Made {
            node: producer,
            how,
            root,
        })
    }

    /// Whether the value `made` makes exists at node `here` on every walk (unguarded) or on
    /// some walk (guarded).
    fn available(
        &self,
        here: usize,
        made: Made,
        reference: &Reference,
    ) -> Result<Option<Search>, (String, Option<String>)> {
        let dominators = self.dominators.get_or_init(|| self.graph.dominators());
        let Some(dominators) = dominators.as_ref().filter(|tree| tree.reachable(here)) else {
            // No walk reaches this node: the reachability check says so.
            return Ok(None);
        };
        let producer = self.graph.success(made.node).unwrap_or(made.node);
        if producer != here && dominators.dominates(producer, here) {
            return Ok(None);
        }
        Ok(Some(Search {
            template: 0,
            producer,
            here,
            tested: reference.tested || reference.covered >= 2,
            at: Pos::default(),
            lead: String::new(),
            made,
        }))
    }

    /// Answers the deferred searches, one search per producing vertex. The uses of one node's
    /// values in one template that fail alike are reported once, at the first.
    fn finish_searches(&mut self) {
        let mut searches = std::mem::take(&mut self.searches);
        if searches.is_empty() {
            return;
        }
        let (rank, cyclic) = self.graph.components();
        let mut answered = Vec::with_capacity(searches.len());
        let mut open = Vec::new();
        for search in searches.drain(..) {
            match self.nearby(&search, &rank, &cyclic) {
                Some(can) => answered.push((search, can)),
                None => open.push(search),
            }
        }

        open.sort_by_key(|search| search.producer);
        let mut reached: Option<(usize, Vec<bool>)> = None;
        for search in open {
            if reached
                .as_ref()
                .is_none_or(|(from, _)| *from != search.producer)
            {
                reached = Some((search.producer, self.graph.after(search.producer)));
            }
            let can = reached
                .as_ref()
                .is_some_and(|(_, after)| after[search.here]);
            answered.push((search, can));
        }
        let mut failed: Vec<(Search, bool)> = answered
            .into_iter()
            .filter(|(search, can)| !(*can && search.tested))
            .collect();

        failed.sort_by_key(|(search, _)| (search.template, search.at.line, search.at.column));
        let key = |(search, can): &(Search, bool)| (search.template, search.producer, *can);
        let mut alike: HashMap<(usize, usize, bool), usize> = HashMap::new();
        for item in &failed {
            *alike.entry(key(item)).or_default() += 1;
        }
        for item in &failed {
            let Some(count) = alike.remove(&key(item)) else {
                continue;
            };
            let (first, can) = item;
            let (mut message, hint) = self.unavailable(first, *can);
            if count > 1 {
                let producer = &self.runbook.nodes[first.made.node].id;
                let others = count - 1;
                let uses = if others == 1 { "use" } else { "uses" };
                message.push_str(&format!(
                    " (and {others} more {uses} of `{producer}` in this template)"
                ));
            }
            let diagnostic = Diagnostic::at(first.at, format!("{}{message}", first.lead));
            self.problems.push(match hint {
                Some(hint) => diagnostic.with_hint(hint),
                None => diagnostic,
            });
        }
    }

    /// Whether the producer of a search can come before its node, when the components of the
    /// graph or a search of the few vertices after the producer can tell: values are nearly
    /// always used a few nodes after they are made.
    fn nearby(&self, search: &Search, rank: &[u32], cyclic: &[bool]) -> Option<bool> {
        let (from, to) = (rank[search.producer], rank[search.here]);
        if to > from {
            return Some(false);
        }
        if to == from {
            return Some(search.producer != search.here || cyclic[from as usize]);
        }
        self.graph
            .leads_to_nearby(search.producer, search.here, NEARBY)
    }

    /// Why a value is not there: it never can be, or some walk arrives without it.
    fn unavailable(&self, search: &Search, can: bool) -> (String, Option<String>) {
        let made = &search.made;
        let producer = &self.runbook.nodes[made.node].id;
        if !can {
            return (
                format!("but node `{producer}` can never come before this one"),
                None,
            );
        }
        let path = match self.graph.start() {
            Some(start) if start == search.here => vec![start],
            Some(start) => self
                .graph
                .path(start, search.here, |vertex| vertex != search.producer)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let path = self.graph.describe(self.runbook, &path, false);
        let what = match made.how {
            "succeeded" => "action",
            "answered" => "decision",
            _ => "step",
        };
        let has = match made.how {
            "succeeded" => "has succeeded",
            "answered" => "has been answered",
            _ => "has been completed",
        };
        let message =
            format!("but a walk can reach this node before {what} `{producer}` {has}: {path}");
        let because = match made.root {
            "outputs" => "an action's outputs are recorded only when it succeeds; ",
            _ => "",
        };
        let hint = format!(
            "{because}show it inside `{{{{#if {}.{producer}}}}} ... {{{{else}}}} ... {{{{/if}}}}` and \
             say in the `else` what to do without it",
            made.root
        );
        (message, Some(hint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The validator's rules rest on how strict rendering treats a missing value; these pin it.
    #[test]
    fn strict_rendering_fails_on_a_missing_value_but_not_in_an_if() {
        let registry = registry();
        let data = json!({ "outputs": {} });
        assert!(render(&registry, "{{outputs.probe.verdict}}", &data).is_err());
        assert_eq!(
            render(
                &registry,
                "{{#if outputs.probe}}x{{else}}none{{/if}}",
                &data
            ),
            Ok("none".to_owned())
        );
        assert_eq!(
            render(
                &registry,
                "{{#unless outputs.probe.verdict}}none{{/unless}}",
                &data
            ),
            Ok("none".to_owned())
        );
        assert!(render(&registry, "{{#with outputs.probe}}x{{/with}}", &data).is_err());
        assert_eq!(
            render(
                &registry,
                "{{#with outputs.probe}}x{{else}}none{{/with}}",
                &data
            ),
            Ok("none".to_owned())
        );
        assert!(render(&registry, "{{#if (eq outputs.probe \"a\")}}x{{/if}}", &data).is_err());
    }
}
