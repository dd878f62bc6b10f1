//! The walk: opening an incident from a runbook and moving a responder through its nodes.
//!
//! [`walk::open`] asks the inputs and opens the incident; a [`Walker`] then moves node by
//! node, asking a [`Responder`] (the terminal or an answers file), running actions through
//! [`Actions`], and handing approvals and notifications to [`Gates`]. The log in
//! [`crate::store`] is the only state: [`WalkState`] rebuilds everything from it.

pub mod answers;
pub mod clock;
pub mod fields;
pub mod gates;
pub mod hsm_actions;
pub mod report;
pub mod responder;
pub mod state;
pub mod walk;
pub mod watch;

pub use clock::Clock;
pub use responder::{ApprovalMove, Approver, Choice, Done, Responder, Stop, View, Waiting};
pub use state::WalkState;
pub use walk::{
    ActionFailure, Actions, Ending, EngineError, Gates, InitiatorProof, Start, WalkContext, Walker,
    open,
};
