//! The catalog's actions for the walk: `hsm.*` through [`crate::hsm::Hsm`], and `keys.*` over
//! the key register through [`crate::policy::keys::actions`].

use super::walk::{ActionFailure, Actions};
use crate::hsm::{HsmGuard, Secrets};
use crate::policy::environment::Environments;
use crate::policy::keys::{self, State, actions::DrillStates};
use crate::store::{Event, EventRecord};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::time::Duration;

/// Runs actions against the HSMs of the environments policy, asking secrets as needed.
///
/// It holds the walk's [`HsmGuard`]: dropping it, on whatever path the walk ends, closes the
/// sessions and finalises the modules.
pub struct HsmActions {
    hsm: HsmGuard,
    environments: Option<Environments>,
    secrets: Box<dyn Secrets>,
    /// The policies directory, where `keys.*` actions find the key register.
    policies: PathBuf,
    /// The states a drill moved keys to, which it never writes to the register.
    drill_states: DrillStates,
}

impl HsmActions {
    /// `environments` is `None` when the policies define none; every `hsm.*` action then fails
    /// with a message saying so. `policies` is the directory holding `keys.yaml`.
    pub fn new(
        environments: Option<Environments>,
        secrets: Box<dyn Secrets>,
        policies: PathBuf,
    ) -> Self {
        Self {
            hsm: HsmGuard::new(),
            environments,
            secrets,
            policies,
            drill_states: DrillStates::new(),
        }
    }

    /// Learns the key moves an earlier part of this drill made, from its log, so that a resumed
    /// drill checks its next moves against them as the first process did.
    pub fn recall_drill_moves(&mut self, records: &[EventRecord]) {
        for record in records {
            let Event::ActionFinished {
                action,
                ok: true,
                outputs,
                ..
            } = &record.event
            else {
                continue;
            };
            let to = outputs
                .get("to")
                .and_then(Value::as_str)
                .and_then(State::parse);
            let (true, Some(to)) = (action == "keys.transition", to) else {
                continue;
            };
            let moved = outputs.get("moved").and_then(Value::as_array);
            for name in moved.into_iter().flatten().filter_map(Value::as_str) {
                self.drill_states.insert(name.to_owned(), to);
            }
        }
    }

    /// Closes sessions and finalises the PKCS#11 modules this walk loaded (as dropping does).
    pub fn close(self) {
        if let Err(error) = self.hsm.close() {
            tracing::warn!("closing the HSM sessions: {error}");
        }
    }
}

impl Actions for HsmActions {
    fn run(
        &mut self,
        action: &str,
        params: &Map<String, Value>,
        rehearsal: bool,
        timeout: Duration,
    ) -> Result<Map<String, Value>, ActionFailure> {
        if action.starts_with("keys.") {
            let drill = &mut self.drill_states;
            return keys::actions::run(action, params, &self.policies, rehearsal, drill).map_err(
                |error| ActionFailure {
                    message: error.to_string(),
                    retryable: false,
                },
            );
        }

        let Some(environments) = &self.environments else {
            return Err(ActionFailure {
                message: "no environments are defined: write `policies/environments.yaml`".into(),
                retryable: false,
            });
        };
        self.hsm
            .run(
                action,
                params,
                environments,
                self.secrets.as_mut(),
                rehearsal,
                timeout,
            )
            .map_err(|error| ActionFailure {
                retryable: error.retryable(),
                message: error.to_string(),
            })
    }
}
