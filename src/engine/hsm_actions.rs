//! The catalog's actions for the walk: `hsm.*` through [`crate::hsm::Hsm`], and `keys.*` over
//! the key register through [`crate::policy::keys::actions`].

use super::walk::{ActionFailure, Actions};
use crate::hsm::{HsmGuard, Secrets};
use crate::policy::environment::Environments;
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
            return crate::policy::keys::actions::run(action, params, &self.policies, rehearsal)
                .map_err(|error| ActionFailure {
                    message: error.to_string(),
                    retryable: false,
                });
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
