//! The walk: opening an incident from a runbook and moving a responder through its nodes.
