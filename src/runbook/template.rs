//! Handlebars templates in runbooks: checking what they refer to, and rendering them.
//!
//! A template may use `inputs.NAME`, `fields.NODE.FIELD`, `outputs.NODE.OUTPUT`,
//! `answers.NODE` and `incident.*`. The check compiles every template and makes sure each
//! name it uses can exist at the node it sits on: the input is declared, and the node that
//! produces the value can come before this one on some walk. Inside `#each` and `#with`
//! blocks names are relative to the block and are not checked. Whether one node can come
//! before another is a search that stops as soon as it arrives; values are nearly always used
//! a few nodes after they are made, so the check stays close to linear in practice.

use super::diagnostic::{Diagnostic, suggestion};
use super::graph::Graph;
use super::model::{Node, NodeId, NodeKind, Pos, Runbook};
use crate::catalog;
use handlebars::template::{Parameter, TemplateElement};
use handlebars::{Handlebars, Path, PathSeg, Template};
use serde_json::Value;
use std::collections::HashMap;

/// The fields of `incident` that every template may use.
pub const INCIDENT_FIELDS: &[&str] =
    &["id", "opened", "initiator", "rehearsal", "runbook", "title"];

const ROOTS: &[&str] = &["inputs", "fields", "outputs", "answers", "incident"];

const HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and",
    "or", "not", "len",
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
pub fn check(runbook: &Runbook, graph: &Graph, problems: &mut Vec<Diagnostic>) {
    let mut checker = Checker {
        runbook,
        graph,
        precedes: HashMap::new(),
        problems,
    };
    for (at, node) in runbook.nodes.iter().enumerate() {
        if let Some(guidance) = &node.guidance {
            checker.template(at, node, &guidance.text, guidance.at, "guidance");
        }
        if let NodeKind::Action(action) = &node.kind {
            for param in &action.params {
                if let Some(text) = param.value.as_str().filter(|text| text.contains("{{")) {
                    checker.template(
                        at,
                        node,
                        text,
                        param.at,
                        &format!("parameter `{}`", param.name),
                    );
                }
            }
        }
    }
}

struct Checker<'a> {
    runbook: &'a Runbook,
    graph: &'a Graph,
    /// Whether a producing node can come before a using one, for pairs already asked about.
    precedes: HashMap<(usize, usize), bool>,
    problems: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    fn template(&mut self, here: usize, node: &Node, text: &str, at: Pos, place: &str) {
        let template = match Template::compile(text) {
            Ok(template) => template,
            Err(error) => {
                let reason = error.reason().to_string();
                let reason = reason.split(':').next().unwrap_or("invalid syntax");
                let at = match error.pos() {
                    Some((line, column)) => offset(at, line, column),
                    None => at,
                };
                self.problems.push(
                    Diagnostic::at(
                        at,
                        format!(
                            "node `{}`: the {place} template does not compile: {reason}",
                            node.id
                        ),
                    )
                    .with_hint("every `{{` needs its `}}`, and every `{{#if}}` its `{{/if}}`"),
                );
                return;
            }
        };

        let mut paths = Vec::new();
        collect(&template.elements, &mut paths);
        for path in paths {
            if let Err(reason) = self.resolve(here, &path) {
                let name = path.join(".");
                self.problems.push(Diagnostic::at(
                    locate(text, at, &name),
                    format!(
                        "node `{}`: the {place} uses `{{{{{name}}}}}`, {reason}",
                        node.id
                    ),
                ));
            }
        }
    }

    /// Whether the value at `path` can exist when the walk is at node `here`.
    fn resolve(&mut self, here: usize, path: &[String]) -> Result<(), String> {
        let root = path[0].as_str();
        let word = |index: usize| path.get(index).map(String::as_str);
        match root {
            "inputs" => {
                let name = word(1).ok_or("which needs an input name: `inputs.NAME`")?;
                if self.runbook.input(name).is_some() {
                    return Ok(());
                }
                let hint = suggestion(
                    name,
                    self.runbook.inputs.iter().map(|input| input.name.as_str()),
                );
                Err(format!("but the runbook declares no input `{name}`{hint}"))
            }
            "incident" => {
                let name =
                    word(1).ok_or("which needs a field: `incident.id`, `incident.opened`...")?;
                if INCIDENT_FIELDS.contains(&name) {
                    return Ok(());
                }
                let hint = suggestion(name, INCIDENT_FIELDS.iter().copied());
                Err(format!("but incidents have no field `{name}`{hint}"))
            }
            "fields" | "outputs" | "answers" => self.produced(here, root, word(1), word(2)),
            other => {
                let hint = suggestion(other, ROOTS.iter().copied());
                Err(format!(
                    "but `{other}` is not a name templates know{hint}; they know inputs, fields, \
                     outputs, answers and incident"
                ))
            }
        }
    }

    fn produced(
        &mut self,
        here: usize,
        root: &str,
        node: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), String> {
        let node = node.ok_or_else(|| format!("which needs a node id: `{root}.NODE`"))?;
        let names = || self.runbook.nodes.iter().map(|n| n.id.as_str());
        let Some(producer) = self.runbook.position(&NodeId(node.to_owned())) else {
            let hint = suggestion(node, names());
            return Err(format!("but there is no node `{node}`{hint}"));
        };
        let producer_node = &self.runbook.nodes[producer];

        match (root, &producer_node.kind) {
            ("answers", NodeKind::Decision { .. }) => {}
            ("answers", _) => return Err(format!("but `{node}` is not a decision")),
            ("fields", NodeKind::Step { fields, .. }) => {
                let name = name.ok_or("which needs a field name: `fields.NODE.FIELD`")?;
                if !fields.iter().any(|field| field.name == name) {
                    let hint = suggestion(name, fields.iter().map(|field| field.name.as_str()));
                    return Err(format!("but step `{node}` records no field `{name}`{hint}"));
                }
            }
            ("fields", _) => return Err(format!("but `{node}` is not a step with fields")),
            (_, NodeKind::Action(action)) => {
                let name = name.ok_or("which needs an output name: `outputs.NODE.OUTPUT`")?;
                let Some(spec) = catalog::action(&action.run.name) else {
                    return Ok(());
                };
                if !spec.has_output(name) {
                    let hint = suggestion(name, spec.outputs.iter().map(|output| output.name));
                    return Err(format!("but `{}` has no output `{name}`{hint}", spec.name));
                }
            }
            _ => return Err(format!("but `{node}` is not an action")),
        }

        let key = (producer, here);
        let graph = self.graph;
        let precedes = *self
            .precedes
            .entry(key)
            .or_insert_with(|| graph.leads_to(producer, here));
        if precedes {
            Ok(())
        } else {
            Err(format!("but node `{node}` can never come before this one"))
        }
    }
}

/// The file position of a template's own line and column (both from 1).
fn offset(at: Pos, line: usize, column: usize) -> Pos {
    let line = u32::try_from(line.saturating_sub(1)).unwrap_or(0);
    let column = u32::try_from(column.saturating_sub(1)).unwrap_or(0);
    Pos {
        line: at.line + line,
        column: at.column + column,
        width: 1,
    }
}

/// The position of `name` inside a template that starts at `at`. Lines of a block scalar
/// share the indentation of its first line, so the column carries over.
fn locate(text: &str, at: Pos, name: &str) -> Pos {
    let Some(offset) = text.find(name) else {
        return at;
    };
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |start| start.chars().count());
    let width = u32::try_from(name.chars().count()).unwrap_or(1);
    let column = u32::try_from(column).unwrap_or(0);
    match u32::try_from(line) {
        Ok(0) => Pos {
            line: at.line,
            column: at.column + column,
            width,
        },
        Ok(line) => Pos {
            line: at.line + line,
            column: at.column + column,
            width,
        },
        Err(_) => at,
    }
}

/// Every root-scoped path a template refers to, as its segments.
fn collect(elements: &[TemplateElement], paths: &mut Vec<Vec<String>>) {
    for element in elements {
        match element {
            TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
                if helper.params.is_empty() && helper.hash.is_empty() {
                    parameter(&helper.name, paths, true);
                }
                parameters(&helper.params, paths);
                parameters(helper.hash.values(), paths);
            }
            TemplateElement::HelperBlock(helper) => {
                parameters(&helper.params, paths);
                parameters(helper.hash.values(), paths);
                let scoped = matches!(&helper.name, Parameter::Name(name) if name == "each" || name == "with");
                if let Some(template) = helper.template.as_ref().filter(|_| !scoped) {
                    collect(&template.elements, paths);
                }
                if let Some(inverse) = &helper.inverse {
                    collect(&inverse.elements, paths);
                }
            }
            _ => {}
        }
    }
}

fn parameters<'a>(params: impl IntoIterator<Item = &'a Parameter>, paths: &mut Vec<Vec<String>>) {
    for param in params {
        parameter(param, paths, false);
    }
}

fn parameter(param: &Parameter, paths: &mut Vec<Vec<String>>, bare: bool) {
    match param {
        Parameter::Path(Path::Relative((segments, _))) => {
            let named: Option<Vec<String>> = segments
                .iter()
                .map(|segment| match segment {
                    PathSeg::Named(name) => Some(name.clone()),
                    _ => None,
                })
                .collect();
            if let Some(named) = named.filter(|named| !named.is_empty()) {
                paths.push(named);
            }
        }
        Parameter::Name(name) if bare && !HELPERS.contains(&name.as_str()) => {
            paths.push(name.split(['.', '/']).map(str::to_owned).collect());
        }
        Parameter::Subexpression(subexpression) => {
            collect(std::slice::from_ref(&subexpression.element), paths);
        }
        _ => {}
    }
}
