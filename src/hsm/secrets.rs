//! Where PINs and clear key components come from: a callback the engine supplies.
//!
//! The HSM layer never stores a secret: it asks [`Secrets`] at the moment it needs one, holds it
//! in a [`Zeroizing`] buffer that is wiped when dropped, and never puts it in a log line, an
//! error or an output. [`EnvSecrets`] reads PINs from the variables named in
//! `policies/environments.yaml`; [`FixedSecrets`] hands out fixed values for tests and drills.
//! Prompting at a terminal belongs to the command line, which implements this trait itself.

use std::collections::HashMap;
use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use super::HsmError;
use crate::policy::environment::{Environments, PinSource};

/// The source of secrets an HSM action needs.
pub trait Secrets {
    /// The user PIN of the environment named `environment`.
    fn pin(&mut self, environment: &str) -> Result<Zeroizing<String>, HsmError>;

    /// Clear component `index` (1-based) of `count` for the key to be labelled `label`.
    fn component(
        &mut self,
        label: &str,
        index: usize,
        count: usize,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError>;
}

/// Reads each environment's PIN from the process variable its `pin: { env: ... }` names.
///
/// Components are refused: they come from custodians, never from the process environment.
#[derive(Debug, Clone)]
pub struct EnvSecrets {
    sources: HashMap<String, PinSource>,
}

impl EnvSecrets {
    /// Learns every environment's PIN source from `environments`.
    pub fn new(environments: &Environments) -> Self {
        let sources = environments
            .names()
            .filter_map(|name| environments.get(name))
            .map(|env| (env.name.clone(), env.pin.clone()))
            .collect();
        Self { sources }
    }
}

impl Secrets for EnvSecrets {
    fn pin(&mut self, environment: &str) -> Result<Zeroizing<String>, HsmError> {
        let unavailable = |reason: String| HsmError::PinUnavailable {
            environment: environment.to_owned(),
            reason,
        };

        match self.sources.get(environment) {
            Some(PinSource::Env(var)) => match std::env::var(var) {
                Ok(pin) if !pin.is_empty() => Ok(Zeroizing::new(pin)),
                Ok(_) => Err(unavailable(format!("the variable `{var}` is empty"))),
                Err(_) => Err(unavailable(format!("the variable `{var}` is not set"))),
            },
            Some(PinSource::Prompt) => Err(unavailable(String::from(
                "its PIN is asked at a terminal, and none is here",
            ))),
            None => Err(unavailable(String::from("the environment is not defined"))),
        }
    }

    fn component(
        &mut self,
        label: &str,
        index: usize,
        count: usize,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        Err(HsmError::ComponentUnavailable {
            label: label.to_owned(),
            index,
            count,
            reason: String::from("components are entered by their custodians, not read from env"),
        })
    }
}

/// Fixed PINs and components, for tests and scripted drills. Never use it with a live HSM.
#[derive(Default, Clone)]
pub struct FixedSecrets {
    pins: HashMap<String, String>,
    components: HashMap<String, Vec<Vec<u8>>>,
    /// Every request, in order, as `pin ENV` or `component LABEL I/N` (no values).
    pub requests: Vec<String>,
}

impl FixedSecrets {
    /// No secrets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `pin` for the environment `environment`.
    #[must_use]
    pub fn with_pin(mut self, environment: &str, pin: &str) -> Self {
        self.pins.insert(environment.to_owned(), pin.to_owned());
        self
    }

    /// Answers the components of the key labelled `label`, in order.
    #[must_use]
    pub fn with_components(mut self, label: &str, components: Vec<Vec<u8>>) -> Self {
        self.components.insert(label.to_owned(), components);
        self
    }
}

impl fmt::Debug for FixedSecrets {
    /// Names what it holds, never the values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedSecrets")
            .field("pins_for", &self.pins.keys().collect::<Vec<_>>())
            .field(
                "components_for",
                &self.components.keys().collect::<Vec<_>>(),
            )
            .field("requests", &self.requests)
            .finish()
    }
}

impl Secrets for FixedSecrets {
    fn pin(&mut self, environment: &str) -> Result<Zeroizing<String>, HsmError> {
        self.requests.push(format!("pin {environment}"));
        self.pins
            .get(environment)
            .map(|pin| Zeroizing::new(pin.clone()))
            .ok_or_else(|| HsmError::PinUnavailable {
                environment: environment.to_owned(),
                reason: String::from("the test gave none"),
            })
    }

    fn component(
        &mut self,
        label: &str,
        index: usize,
        count: usize,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        self.requests
            .push(format!("component {label} {index}/{count}"));
        let component = self
            .components
            .get(label)
            .and_then(|list| index.checked_sub(1).and_then(|i| list.get(i)));
        component
            .map(|value| Zeroizing::new(value.clone()))
            .ok_or_else(|| HsmError::ComponentUnavailable {
                label: label.to_owned(),
                index,
                count,
                reason: String::from("the test gave none"),
            })
    }
}

impl Drop for FixedSecrets {
    fn drop(&mut self) {
        for pin in self.pins.values_mut() {
            pin.zeroize();
        }
        for component in self.components.values_mut().flatten() {
            component.zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_form_of_fixed_secrets_names_environments_but_shows_no_value() {
        let secrets = FixedSecrets::new()
            .with_pin("drill-primary", "314159")
            .with_components("ZMK", vec![vec![0xAB; 16]]);
        let shown = format!("{secrets:?}");
        assert!(
            shown.contains("drill-primary") && shown.contains("ZMK"),
            "{shown}"
        );
        assert!(
            !shown.contains("314159") && !shown.contains("171"),
            "{shown}"
        );
    }
}
