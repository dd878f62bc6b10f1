//! What can go wrong while loading the notification policies, queueing or delivering.
//!
//! A failed delivery is not an error here: it is recorded in the outbox and retried, and
//! [`super::DeliveryReport`] lists it. An error means nothing could be queued or the outbox
//! could not be read or written. No message ever carries an SMTP password.

use std::fmt;
use std::path::PathBuf;

use crate::runbook::Report;
use crate::store::StoreError;

/// A failure to queue a notification, or to read and write the outbox.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A policy file is invalid; the reports say where.
    #[error(transparent)]
    Policy(#[from] PolicyError),

    /// The incident log or its outbox could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// There is no `notify.yaml`, so there is no mail server and no recipient group.
    #[error(
        "cannot queue a notification to `{group}`: there is no `{}`, so custos knows no mail \
         server and no recipient groups; write one (see `policies/notify.yaml` in the custos \
         sources)",
        path.display()
    )]
    NotConfigured { path: PathBuf, group: String },

    /// The group is not defined in `notify.yaml`.
    #[error("there is no recipient group `{group}` in `{}`", path.display())]
    UnknownGroup { path: PathBuf, group: String },

    /// No template file has this name.
    #[error("there is no template `{template}`: `{}` does not exist", path.display())]
    UnknownTemplate { path: PathBuf, template: String },

    /// A drill would have mailed real recipients, since no drill delivery is configured.
    #[error(
        "incident `{incident}` is a drill, but `{}` has no `drill:` section; drill mail never \
         goes to the real groups, so add `drill: {{ recipients: [...] }}` or `drill: {{ mailbox: \
         DIR }}`",
        path.display()
    )]
    NoDrillDelivery { path: PathBuf, incident: String },

    /// The store refused the notification as a repeat of one already queued.
    #[error("the outbox refused a repeated notification for incident `{incident}`")]
    AlreadyQueued { incident: String },

    /// A template could not be rendered for this incident, usually because a value it uses
    /// is missing (strict mode).
    #[error(
        "template `{template}`: the {part} cannot be rendered for incident `{incident}`: {reason}"
    )]
    Render {
        template: String,
        part: &'static str,
        incident: String,
        reason: String,
    },
}

/// Every problem of the policy files, each report naming its file, line and column.
#[derive(Debug, thiserror::Error)]
pub struct PolicyError {
    pub reports: Vec<Report>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: String = self.reports.iter().map(ToString::to_string).collect();
        f.write_str(text.trim_end())
    }
}
