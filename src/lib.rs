//! custos: runbook-as-code incident response for teams that run Hardware Security Modules.
//!
//! A runbook is a YAML decision graph ([`runbook`]). The [`engine`] walks a responder through
//! it one node at a time, runs the automated steps against the HSM through PKCS#11 ([`hsm`]),
//! and appends every decision to a tamper-evident incident log ([`store`]). Institution-wide
//! facts (environments, people, recipients) live in [`policy`]. The command line in
//! `src/cli` is a thin layer over these modules; nothing here reaches up into it.

pub mod approval;
pub mod catalog;
pub mod ceremony;
pub mod engine;
pub mod expiry;
pub mod export;
pub mod hsm;
pub mod notify;
pub mod policy;
pub mod runbook;
pub mod store;
