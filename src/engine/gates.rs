//! Approvals and notifications for the walk, as the policies define them.
//!
//! Approvals go through [`crate::approval`] against the roster in `policies/roster.yaml`:
//! distinct, authenticated people with the required roles. Without a roster no approval can
//! be granted, and the walk says so rather than letting anyone through.

use super::walk::{EngineError, Gates, WalkContext};
use crate::approval::{self, Attempt};
use crate::policy::roster::Roster;
use crate::runbook::{Node, NodeKind};
use crate::store::EventRecord;
use std::path::Path;

/// The gates of this installation, read from `policies/`.
pub struct PolicyGates {
    roster: Option<Roster>,
}

impl PolicyGates {
    /// Reads the roster and the notification policy from `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let roster = Roster::load_from(dir)
            .map_err(|report| anyhow::anyhow!("{}", report.to_string().trim_end()))?;
        Ok(Self { roster })
    }
}

impl Gates for PolicyGates {
    fn attempt(
        &mut self,
        walk: &mut WalkContext<'_>,
        node: &Node,
        person: &str,
        passphrase: &str,
    ) -> Result<Result<(), String>, EngineError> {
        let NodeKind::Approval { require, .. } = &node.kind else {
            return Ok(Err(format!("`{}` is not an approval node", node.id)));
        };
        let Some(roster) = &self.roster else {
            return Ok(Err(
                "no roster: approvals need `policies/roster.yaml`".into()
            ));
        };
        let initiator = walk.state.initiator.clone();
        let outcome = approval::attempt(
            walk.store,
            roster,
            &walk.incident,
            node.id.as_str(),
            require,
            &initiator,
            person,
            passphrase,
            approval::origin(),
            walk.clock.now(),
        );
        match outcome {
            Ok(Attempt::Granted { .. }) => Ok(Ok(())),
            Ok(Attempt::Refused { refusal, .. }) => Ok(Err(refusal.to_string())),
            Err(approval::ApprovalError::Store(error)) => Err(error.into()),
            Err(other) => Ok(Err(other.to_string())),
        }
    }

    fn quorum(&self, records: &[EventRecord], node: &Node) -> (Vec<String>, bool) {
        let NodeKind::Approval { require, .. } = &node.kind else {
            return (Vec::new(), false);
        };
        let quorum = approval::quorum(records, node.id.as_str(), require);
        (quorum.people(), quorum.is_met())
    }

    fn notify(&mut self, _: &mut WalkContext<'_>, node: &Node) -> Result<String, EngineError> {
        Ok(format!(
            "notification at `{}` is not sent: no notification policy",
            node.id
        ))
    }
}
