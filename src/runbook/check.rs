//! The checks that need the whole graph or the world outside the runbook.
//!
//! Edges must land on nodes; every node must be reachable from `start` and must reach an `end`;
//! every loop must be bounded and pass through a decision; a destructive action must be
//! preceded by an approval on every path; actions must match the catalog; names of
//! environments, roles, groups and templates must exist in the policies that define them.
//! Templates are checked in [`super::template`].
//!
//! The checks run on whatever [`super::build`] could make of the file. A broken edge (missing,
//! or naming no node) leads to the graph's unknown vertex: it may lead anywhere, so no node is
//! called unreachable while one is reachable from `start`, and a node that reaches one is not
//! called a dead end; the other checks use the edges that are there. Without a `start`, the
//! checks that walk from it are skipped. Each check is linear in the size of the walk graph,
//! or nearly (the dominator tree is O(E log V)).

use super::context::Context;
use super::diagnostic::{Diagnostic, suggestion};
use super::graph::{Graph, Vertex};
use super::model::{Edge, Named, Node, NodeKind, Param, Runbook};
use super::template;
use crate::catalog::{self, ActionSpec, ParamKind};
use serde_json::Value;

/// Every problem of a built runbook, beyond those of its fields. `unknown_kinds` lists the
/// nodes whose kind could not be read; `source` is the file's text, for positions inside
/// templates.
pub fn check(
    runbook: &Runbook,
    unknown_kinds: &[usize],
    context: &Context,
    source: &str,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    edges_land(runbook, &mut problems);

    let graph = Graph::new(runbook, unknown_kinds);
    reachability(runbook, &graph, unknown_kinds, &mut problems);
    loops(runbook, &graph, &mut problems);
    approvals_before_destruction(runbook, &graph, &mut problems);
    for node in &runbook.nodes {
        references(node, context, &mut problems);
    }
    template::check(runbook, &graph, source, &mut problems);
    problems
}

/// The one check a pinned runbook is held to again when it is read back: every edge lands on
/// a node, so a walk never looks for a node that is not there.
pub fn check_edges(runbook: &Runbook) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    edges_land(runbook, &mut problems);
    problems
}

/// How many broken edges get a "did you mean" hint.
const HINTED: usize = 20;

/// Edges that name a node that does not exist. An empty target is a field the build already
/// reported as missing or not a node id.
fn edges_land(runbook: &Runbook, problems: &mut Vec<Diagnostic>) {
    let names = || runbook.nodes.iter().map(|node| node.id.as_str());
    let mut hinted = 0;
    let mut dangling = |from: Option<&Node>, edge: &Edge| {
        if edge.target.as_str().is_empty() || runbook.node(&edge.target).is_some() {
            return;
        }
        // Each hint compares with every node id: a file of nothing but broken edges gets hints
        // for its first ones only, so that checking it stays fast.
        hinted += 1;
        let hint = if hinted <= HINTED {
            suggestion(edge.target.as_str(), names())
        } else {
            String::new()
        };
        let message = match from {
            Some(node) => format!(
                "node `{}` points to `{}`, which does not exist{hint}",
                node.id, edge.target
            ),
            None => format!(
                "`start` names `{}`, which does not exist{hint}",
                edge.target
            ),
        };
        problems.push(Diagnostic::at(edge.at, message));
    };

    dangling(None, &runbook.start);
    for node in &runbook.nodes {
        for edge in node.edges() {
            dangling(Some(node), edge);
        }
    }
}

fn reachability(
    runbook: &Runbook,
    graph: &Graph,
    unknown_kinds: &[usize],
    problems: &mut Vec<Diagnostic>,
) {
    let from_start = graph
        .start()
        .map(|start| graph.reachable_from(&[start], |_| true))
        .filter(|reached| !reached[graph.unknown()]);
    let mut unknown_kind = vec![false; runbook.nodes.len()];
    for &at in unknown_kinds {
        unknown_kind[at] = true;
    }
    let mut finishes: Vec<usize> = (0..runbook.nodes.len())
        .filter(|&at| matches!(runbook.nodes[at].kind, NodeKind::End { .. }) && !unknown_kind[at])
        .collect();
    finishes.push(graph.unknown());
    let to_end = graph.reaching(&finishes);

    for (at, node) in runbook.nodes.iter().enumerate() {
        if from_start.as_ref().is_some_and(|reached| !reached[at]) {
            problems.push(Diagnostic::at(
                node.at,
                format!(
                    "node `{}` cannot be reached from `start` (`{}`)",
                    node.id, runbook.start.target
                ),
            ));
        } else if !to_end[at] {
            problems.push(
                Diagnostic::at(
                    node.at,
                    format!("no `end` node can be reached from node `{}`", node.id),
                )
                .with_hint("every path must be able to finish; add an edge towards an `end`"),
            );
        }
    }
}

/// Every cycle must pass through a decision, and must be bounded by a node with `max_visits`.
///
/// A walk that goes on forever enters some node infinitely often. A node with `max_visits`
/// can only be entered so many times; after that an edge into it leads on to its
/// `on_exhausted` node instead, and on along that node's `on_exhausted` while it is used up
/// too (the walk graph's gates). So the walk is bounded exactly when the unbounded nodes, the
/// gates and the success vertices, with gates only passing on, form no cycle.
fn loops(runbook: &Runbook, graph: &Graph, problems: &mut Vec<Diagnostic>) {
    let node = |vertex: usize| match graph.vertex(vertex) {
        Vertex::Node(at) => Some(&runbook.nodes[at]),
        _ => None,
    };
    let without_decisions = graph.cycles(
        |vertex| node(vertex).is_none_or(|node| !matches!(node.kind, NodeKind::Decision { .. })),
        true,
    );
    for cycle in without_decisions {
        let first = &runbook.nodes[cycle[0]];
        problems.push(
            Diagnostic::at(
                first.at,
                format!(
                    "loop {} has no decision: nothing could ever leave it",
                    graph.describe(runbook, &cycle, true)
                ),
            )
            .with_hint("a loop must pass through a `decision` node that offers a way out"),
        );
    }

    for chain in graph.exhausted_chains() {
        let first = &runbook.nodes[chain[0]];
        problems.push(
            Diagnostic::at(
                first.at,
                format!(
                    "the `on_exhausted` nodes {} lead round in a circle",
                    graph.describe(runbook, &chain, true)
                ),
            )
            .with_hint(
                "once all are used up the walk would have nowhere to go; end the chain elsewhere",
            ),
        );
    }

    let unbounded = graph.cycles(
        |vertex| node(vertex).is_none_or(|node| node.max_visits.is_none()),
        false,
    );
    for cycle in unbounded {
        let first = &runbook.nodes[cycle[0]];
        problems.push(
            Diagnostic::at(
                first.at,
                format!(
                    "loop {} is unbounded",
                    graph.describe(runbook, &cycle, true)
                ),
            )
            .with_hint(
                "give one node of the loop `max_visits` and an `on_exhausted` node to go to after",
            ),
        );
    }
}

/// A destructive action must not be reachable from `start` without entering an approval node.
/// A bounded approval's gate counts as no approval: once its visits are used up the walk
/// passes it by to its `on_exhausted` node.
fn approvals_before_destruction(runbook: &Runbook, graph: &Graph, problems: &mut Vec<Diagnostic>) {
    let Some(start) = graph.start() else { return };
    let is_approval = |vertex: usize| {
        matches!(graph.vertex(vertex),
            Vertex::Node(at) if matches!(runbook.nodes[at].kind, NodeKind::Approval { .. }))
    };
    if is_approval(start) {
        return;
    }
    let unguarded = graph.reachable_from(&[start], |vertex| !is_approval(vertex));

    for (at, node) in runbook.nodes.iter().enumerate() {
        let NodeKind::Action(action) = &node.kind else {
            continue;
        };
        let destructive = catalog::action(&action.run.name).is_some_and(|spec| spec.destructive);
        if !destructive || !unguarded[at] {
            continue;
        }
        let path = graph
            .path(start, at, |vertex| !is_approval(vertex))
            .unwrap_or_default();
        let passed_by = path.iter().find_map(|&vertex| match graph.vertex(vertex) {
            Vertex::Gate(gate) if matches!(runbook.nodes[gate].kind, NodeKind::Approval { .. }) => {
                Some(&runbook.nodes[gate].id)
            }
            _ => None,
        });
        let hint = match passed_by {
            Some(approval) => format!(
                "once the visits of approval `{approval}` are used up the walk passes it by to its \
                 `on_exhausted` node, with no fresh approval; send `on_exhausted` elsewhere"
            ),
            None => "put an `approval` node on every path from `start` to it".to_owned(),
        };
        problems.push(
            Diagnostic::at(
                action.run.at,
                format!(
                    "node `{}` runs `{}`, which destroys keys, but can be reached without an approval: {}",
                    node.id,
                    action.run.name,
                    graph.describe(runbook, &path, false)
                ),
            )
            .with_hint(hint),
        );
    }
}

fn references(node: &Node, context: &Context, problems: &mut Vec<Diagnostic>) {
    match &node.kind {
        NodeKind::Action(action) => match catalog::action(&action.run.name) {
            Some(spec) => params(node, spec, &action.params, action.run.at, context, problems),
            None if action.run.name.is_empty() => {}
            None => {
                let names = catalog::ACTIONS.iter().map(|spec| spec.name);
                let hint = suggestion(&action.run.name, names);
                problems.push(
                    Diagnostic::at(
                        action.run.at,
                        format!(
                            "node `{}` runs `{}`, which is not in the catalog{hint}",
                            node.id, action.run.name
                        ),
                    )
                    .with_hint(format!(
                        "the catalog has {}",
                        catalog::ACTIONS
                            .iter()
                            .map(|spec| spec.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        },
        NodeKind::Approval { require, .. } => {
            for role in &require.roles {
                known(node, "role", role, context.roles.as_ref(), problems);
            }
        }
        NodeKind::Notify {
            group, template, ..
        } => {
            known(
                node,
                "recipient group",
                group,
                context.groups.as_ref(),
                problems,
            );
            known(
                node,
                "template",
                template,
                context.templates.as_ref(),
                problems,
            );
        }
        NodeKind::Step { .. } | NodeKind::Decision { .. } | NodeKind::End { .. } => {}
    }
}

fn known(
    node: &Node,
    what: &str,
    name: &Named,
    defined: Option<&std::collections::BTreeSet<String>>,
    problems: &mut Vec<Diagnostic>,
) {
    let Some(defined) = defined else { return };
    if defined.contains(&name.name) {
        return;
    }
    let hint = suggestion(&name.name, defined.iter().map(String::as_str));
    problems.push(Diagnostic::at(
        name.at,
        format!(
            "node `{}` names {what} `{}`, which the policies do not define{hint}",
            node.id, name.name
        ),
    ));
}

fn params(
    node: &Node,
    spec: &ActionSpec,
    given: &[Param],
    run_at: super::model::Pos,
    context: &Context,
    problems: &mut Vec<Diagnostic>,
) {
    for param in given {
        let Some(expected) = spec.param(&param.name) else {
            let hint = suggestion(&param.name, spec.params.iter().map(|p| p.name));
            problems.push(Diagnostic::at(
                param.at,
                format!(
                    "`{}` takes no parameter `{}`{hint} (node `{}`)",
                    spec.name, param.name, node.id
                ),
            ));
            continue;
        };
        if let Err(reason) = fits(expected.kind, &param.value, context) {
            problems.push(Diagnostic::at(
                param.at,
                format!(
                    "node `{}`: parameter `{}` of `{}` {reason}",
                    node.id, param.name, spec.name
                ),
            ));
        }
    }

    for expected in spec.params.iter().filter(|p| p.required) {
        if !given.iter().any(|param| param.name == expected.name) {
            problems.push(Diagnostic::at(
                run_at,
                format!(
                    "node `{}`: `{}` needs parameter `{}` ({})",
                    node.id, spec.name, expected.name, expected.help
                ),
            ));
        }
    }
}

/// Whether a parameter value fits its type. A string with `{{` is a template, checked later.
fn fits(kind: ParamKind, value: &Value, context: &Context) -> Result<(), String> {
    let templated = value.as_str().is_some_and(|text| text.contains("{{"));
    match kind {
        ParamKind::Text if value.is_string() || value.is_number() => Ok(()),
        ParamKind::Text => Err("must be text".into()),
        ParamKind::Integer if value.is_u64() || templated => Ok(()),
        ParamKind::Integer => Err(format!("must be a whole number, not `{value}`")),
        ParamKind::Boolean if value.is_boolean() => Ok(()),
        ParamKind::Boolean => Err(format!("must be `true` or `false`, not `{value}`")),
        ParamKind::Choice(words) => match value.as_str() {
            Some(word) if words.contains(&word) => Ok(()),
            _ => {
                let hint = value
                    .as_str()
                    .map(|word| suggestion(word, words.iter().copied()))
                    .unwrap_or_default();
                Err(format!(
                    "must be one of {}, not `{value}`{hint}",
                    words.join(", ")
                ))
            }
        },
        ParamKind::Environment => {
            let Some(name) = value.as_str() else {
                return Err("must name an environment".into());
            };
            match &context.environments {
                Some(known) if !known.contains(name) => {
                    let hint = suggestion(name, known.iter().map(String::as_str));
                    Err(format!(
                        "names environment `{name}`, which `policies/environments.yaml` does not define{hint}"
                    ))
                }
                _ => Ok(()),
            }
        }
    }
}
