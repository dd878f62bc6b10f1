//! Reading an action's `with:` parameters into typed values, checked against the catalog.
//!
//! Parameters arrive as JSON after template rendering, so an integer or a boolean may come as
//! text (`"3"`, `"true"`); both spellings are accepted, nothing looser (`yes` is not a boolean).

use serde_json::{Map, Value};

use super::HsmError;
use crate::catalog::ActionSpec;

/// The parameters of one action invocation.
pub struct Params<'a> {
    spec: &'static ActionSpec,
    map: &'a Map<String, Value>,
}

impl<'a> Params<'a> {
    /// Wraps `map`, refusing any parameter the action does not declare.
    pub fn new(spec: &'static ActionSpec, map: &'a Map<String, Value>) -> Result<Self, HsmError> {
        if let Some(unknown) = map.keys().find(|name| spec.param(name).is_none()) {
            let known: Vec<&str> = spec.params.iter().map(|param| param.name).collect();
            return Err(HsmError::InvalidParameter {
                action: spec.name.to_owned(),
                name: unknown.clone(),
                reason: format!("is not a parameter of it (it takes {})", known.join(", ")),
            });
        }
        Ok(Self { spec, map })
    }

    fn invalid(&self, name: &str, reason: impl Into<String>) -> HsmError {
        HsmError::InvalidParameter {
            action: self.spec.name.to_owned(),
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    /// A text parameter, if given.
    pub fn text(&self, name: &'static str) -> Result<Option<String>, HsmError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Err(self.invalid(name, "is empty")),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(_) => Err(self.invalid(name, "must be text")),
        }
    }

    /// A text parameter the action cannot do without.
    pub fn required(&self, name: &'static str) -> Result<String, HsmError> {
        self.text(name)?.ok_or_else(|| HsmError::MissingParameter {
            action: self.spec.name.to_owned(),
            name,
        })
    }

    /// A whole number, given as a number or as its decimal text.
    pub fn integer(&self, name: &'static str) -> Result<Option<u64>, HsmError> {
        let parsed = match self.map.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(number)) => number.as_u64(),
            Some(Value::String(text)) => text.trim().parse().ok(),
            Some(_) => None,
        };
        parsed
            .map(Some)
            .ok_or_else(|| self.invalid(name, "must be a whole number"))
    }

    /// A boolean, given as `true`/`false` or as that text.
    pub fn boolean(&self, name: &'static str) -> Result<Option<bool>, HsmError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(Value::String(text)) if text == "true" => Ok(Some(true)),
            Some(Value::String(text)) if text == "false" => Ok(Some(false)),
            Some(_) => Err(self.invalid(name, "must be `true` or `false`")),
        }
    }

    /// A parameter whose text `parse` turns into a value, with `expected` saying what it takes.
    pub fn word<T>(
        &self,
        name: &'static str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<Option<T>, HsmError> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        parse(&text)
            .map(Some)
            .ok_or_else(|| self.invalid(name, format!("is `{text}`; expected {expected}")))
    }

    /// Hex bytes (an object id or a wrapped key), upper or lower case.
    pub fn hex(&self, name: &'static str) -> Result<Vec<u8>, HsmError> {
        let text = self.required(name)?;
        hex::decode(text.trim()).map_err(|_| self.invalid(name, "must be hexadecimal bytes"))
    }
}
