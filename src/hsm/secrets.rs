//! Where PINs and clear key components come from: a callback the engine supplies.
//!
//! The HSM layer never stores a secret: it asks [`Secrets`] at the moment it needs one, holds it
//! in a [`Zeroizing`] buffer that is wiped when dropped, and never puts it in a log line, an
//! error or an output. [`EnvSecrets`] reads PINs from the variables named in
//! `policies/environments.yaml`, and in a scripted drill key components from the variables the
//! answers file names; [`FixedSecrets`] hands out fixed values for tests.
//! Prompting at a terminal belongs to the command line, which implements this trait itself.

use std::collections::{BTreeMap, HashMap};
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
/// Components are refused unless [`EnvSecrets::with_components`] named the variables that hold
/// them, which only a scripted drill does: in a real incident they come from their custodians.
#[derive(Debug, Clone)]
pub struct EnvSecrets {
    sources: HashMap<String, PinSource>,
    /// Per key label, the variables holding its components in hex, in order (names only).
    components: BTreeMap<String, Vec<String>>,
}

impl EnvSecrets {
    /// Learns every environment's PIN source from `environments`.
    pub fn new(environments: &Environments) -> Self {
        let sources = environments
            .names()
            .filter_map(|name| environments.get(name))
            .map(|env| (env.name.clone(), env.pin.clone()))
            .collect();
        Self {
            sources,
            components: BTreeMap::new(),
        }
    }

    /// Reads the components of each key label from the variables named for it, in order (for a
    /// scripted drill; the answers file names the variables).
    #[must_use]
    pub fn with_components(mut self, variables: BTreeMap<String, Vec<String>>) -> Self {
        self.components = variables;
        self
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
        let unavailable = |reason: String| HsmError::ComponentUnavailable {
            label: label.to_owned(),
            index,
            count,
            reason,
        };
        let Some(variables) = self.components.get(label) else {
            return Err(unavailable(String::from(
                "components are entered by their custodians; only a scripted drill reads them \
                 from the variables its answers file names",
            )));
        };
        let Some(variable) = index.checked_sub(1).and_then(|i| variables.get(i)) else {
            return Err(unavailable(format!(
                "the answers file names {} variable(s) for `{label}`",
                variables.len()
            )));
        };

        let value = Zeroizing::new(
            std::env::var(variable)
                .map_err(|_| unavailable(format!("the variable `{variable}` is not set")))?,
        );
        let clean: Zeroizing<String> =
            Zeroizing::new(value.chars().filter(|c| !c.is_whitespace()).collect());
        hex::decode(clean.as_str())
            .map(Zeroizing::new)
            .map_err(|_| unavailable(format!("the variable `{variable}` does not hold hex")))
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
