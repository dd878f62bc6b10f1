//! Runbooks: the YAML format, loading with source positions, validation, and rendering.
//!
//! [`load`] reads a file into the typed [`Runbook`] or a [`Report`] of everything wrong with
//! it. The format itself is defined in `docs/runbook-format.md`; `raw` mirrors it field for
//! field, `build` gives it meaning, `check` and `template` hold the checks across nodes.

mod build;
mod check;
pub mod checklist;
mod context;
mod diagnostic;
mod dominators;
mod graph;
mod load;
mod model;
mod paper;
pub mod picture;
mod raw;
mod source;
pub mod template;

pub use build::parse_duration;
pub use context::Context;
pub use diagnostic::{Diagnostic, Report};
pub use load::{Loaded, load, parse, parse_pinned};
pub use model::{
    Action, Edge, EdgeLabel, Holding, Input, InputKind, Named, Node, NodeId, NodeKind, Outcome,
    Param, Phase, Pos, Requirement, Runbook, Severity, Template, Word,
};
pub use raw::position;
