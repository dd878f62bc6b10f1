//! The runbook as the engine uses it: checked, typed, and free of YAML.
//!
//! Positions stay attached (as [`Pos`]) only where the validator points at them: node ids and
//! edges. Everything here was checked by [`super::build`]; the graph properties (reachability,
//! bounded loops, approvals before destruction) are checked by [`super::check`].

use jiff::SignedDuration;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;

/// A place in a runbook file: line and column, both from 1, and the width of what is there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
    pub width: u32,
}

/// The id of a node, unique within its runbook.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub String);

impl fmt::Display for NodeId {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl NodeId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A whole runbook.
#[derive(Debug)]
pub struct Runbook {
    pub id: String,
    pub title: String,
    pub version: u32,
    pub severity: Severity,
    pub summary: String,
    pub ceremony: bool,
    pub inputs: Vec<Input>,
    pub start: Edge,
    pub nodes: Vec<Node>,
    index: HashMap<NodeId, usize>,
}

impl Runbook {
    pub(super) fn new(header: Header, inputs: Vec<Input>, start: Edge, nodes: Vec<Node>) -> Self {
        let index = nodes
            .iter()
            .enumerate()
            .map(|(at, node)| (node.id.clone(), at))
            .collect();
        let Header {
            id,
            title,
            version,
            severity,
            summary,
            ceremony,
        } = header;
        Self {
            id,
            title,
            version,
            severity,
            summary,
            ceremony,
            inputs,
            start,
            nodes,
            index,
        }
    }

    /// The node with this id.
    pub fn node(&self, id: &NodeId) -> Option<&Node> {
        self.index.get(id).map(|&at| &self.nodes[at])
    }

    /// The position of the node with this id in [`Runbook::nodes`].
    pub fn position(&self, id: &NodeId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The input with this name.
    pub fn input(&self, name: &str) -> Option<&Input> {
        self.inputs.iter().find(|input| input.name == name)
    }
}

/// The scalar fields at the top of a runbook.
#[derive(Debug)]
pub(super) struct Header {
    pub id: String,
    pub title: String,
    pub version: u32,
    pub severity: Severity,
    pub summary: String,
    pub ceremony: bool,
}

/// How bad an incident of this kind is; the escalation policy keys on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// NIST SP 800-61 incident response phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    Preparation,
    /// Detection and analysis.
    Detection,
    /// Containment, eradication and recovery.
    Containment,
    PostIncident,
}

/// How an incident ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Resolved,
    Mitigated,
    HandedOver,
    FalseAlarm,
    Completed,
    Aborted,
}

/// A value asked of a person: an input when an incident opens, or a field of a step.
#[derive(Clone, Debug)]
pub struct Input {
    pub name: String,
    pub prompt: String,
    pub kind: InputKind,
    pub required: bool,
    /// For a `person` field: the key component the person named holds.
    pub holds: Option<Holding>,
}

/// A key component a `person` field names the holder of: the fields of one step with the same
/// `key` must name different people, none of whom holds or has held another component of that
/// key in the roster (PCI PIN 21-2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    /// The runbook input whose value is the key's label.
    pub key: String,
    /// The component's name or index: `A`, `B`, `1`.
    pub component: String,
}

/// The type of an input or field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputKind {
    Text,
    Number,
    Boolean,
    Date,
    /// A key check value: hexadecimal digits.
    Kcv,
    /// The id of an active person of the roster.
    Person,
    Choice(Vec<String>),
}

/// One node of the decision graph.
#[derive(Debug)]
pub struct Node {
    pub id: NodeId,
    pub at: Pos,
    pub title: String,
    pub phase: Option<Phase>,
    pub guidance: Option<Template>,
    pub within: Option<SignedDuration>,
    pub max_visits: Option<u32>,
    pub on_exhausted: Option<Edge>,
    pub kind: NodeKind,
}

/// Handlebars text with the position of its first character.
#[derive(Clone, Debug)]
pub struct Template {
    pub text: String,
    pub at: Pos,
}

/// What a node does, with the fields that belong to its kind.
#[derive(Debug)]
pub enum NodeKind {
    /// Manual work, optionally recording typed fields.
    Step { fields: Vec<Input>, next: Edge },
    /// A question with one edge per option.
    Decision { options: Vec<Edge> },
    /// An automated step from the catalog.
    Action(Action),
    /// Dual control: distinct people with these roles must approve.
    Approval { require: Requirement, next: Edge },
    /// An escalation point: a group is told, with a template.
    Notify {
        group: Named,
        template: Named,
        next: Edge,
    },
    /// The incident is over.
    End { outcome: Outcome },
}

/// An automated step.
#[derive(Debug)]
pub struct Action {
    pub run: Named,
    pub params: Vec<Param>,
    pub on_success: Edge,
    pub on_failure: Edge,
    pub timeout: Option<SignedDuration>,
}

/// One parameter under `with:`.
#[derive(Debug)]
pub struct Param {
    pub name: String,
    pub at: Pos,
    pub value: Value,
}

/// Who must approve.
#[derive(Debug)]
pub struct Requirement {
    pub roles: Vec<Named>,
    pub count: u32,
    pub exclude_initiator: bool,
    /// Every listed role must be among the approvers (each approver counts for one role);
    /// otherwise the roles are a list of which any qualifies.
    pub each_role: bool,
}

/// A name that refers to something outside the runbook (a role, a group, a template).
#[derive(Clone, Debug)]
pub struct Named {
    pub name: String,
    pub at: Pos,
}

/// Why an edge is taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EdgeLabel {
    Start,
    Next,
    Option(String),
    Success,
    Failure,
    Exhausted,
}

impl fmt::Display for EdgeLabel {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Start => formatter.write_str("start"),
            Self::Next => formatter.write_str("next"),
            Self::Option(option) => formatter.write_str(option),
            Self::Success => formatter.write_str("success"),
            Self::Failure => formatter.write_str("failure"),
            Self::Exhausted => formatter.write_str("exhausted"),
        }
    }
}

/// A link from a node to the node the walk goes to next.
#[derive(Clone, Debug)]
pub struct Edge {
    pub label: EdgeLabel,
    pub target: NodeId,
    pub at: Pos,
}

impl Node {
    /// Every edge out of this node, in the order the file gives them.
    pub fn edges(&self) -> impl Iterator<Item = &Edge> {
        let own: Vec<&Edge> = match &self.kind {
            NodeKind::Step { next, .. }
            | NodeKind::Approval { next, .. }
            | NodeKind::Notify { next, .. } => vec![next],
            NodeKind::Decision { options } => options.iter().collect(),
            NodeKind::Action(action) => vec![&action.on_success, &action.on_failure],
            NodeKind::End { .. } => Vec::new(),
        };
        own.into_iter().chain(self.on_exhausted.as_ref())
    }

    /// The word for this node's kind, as the file writes it.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Step { .. } => "step",
            NodeKind::Decision { .. } => "decision",
            NodeKind::Action(_) => "action",
            NodeKind::Approval { .. } => "approval",
            NodeKind::Notify { .. } => "notify",
            NodeKind::End { .. } => "end",
        }
    }
}

/// The words of a closed set, for parsing and for "did you mean" hints.
pub trait Word: Sized + Copy + 'static {
    const ALL: &'static [(&'static str, Self)];

    fn parse(word: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == word)
            .map(|&(_, value)| value)
    }

    fn name(self) -> &'static str
    where
        Self: PartialEq,
    {
        Self::ALL
            .iter()
            .find(|(_, value)| *value == self)
            .map_or("", |&(name, _)| name)
    }
}

impl Word for Severity {
    const ALL: &'static [(&'static str, Self)] = &[
        ("low", Self::Low),
        ("medium", Self::Medium),
        ("high", Self::High),
        ("critical", Self::Critical),
    ];
}

impl Word for Phase {
    const ALL: &'static [(&'static str, Self)] = &[
        ("preparation", Self::Preparation),
        ("detection", Self::Detection),
        ("containment", Self::Containment),
        ("post-incident", Self::PostIncident),
    ];
}

impl Word for Outcome {
    const ALL: &'static [(&'static str, Self)] = &[
        ("resolved", Self::Resolved),
        ("mitigated", Self::Mitigated),
        ("handed-over", Self::HandedOver),
        ("false-alarm", Self::FalseAlarm),
        ("completed", Self::Completed),
        ("aborted", Self::Aborted),
    ];
}

impl Phase {
    /// The phase as a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Preparation => "Preparation",
            Self::Detection => "Detection and analysis",
            Self::Containment => "Containment, eradication and recovery",
            Self::PostIncident => "Post-incident activity",
        }
    }
}
