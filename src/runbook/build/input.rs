//! Inputs of the runbook and fields of steps: one shape, a name and how it is asked.

use super::{Builder, is_identifier};
use crate::runbook::diagnostic::{Diagnostic, suggestion};
use crate::runbook::model::{Holding, Input, InputKind, NodeId, Pos};
use crate::runbook::raw::{At, Entries, HOLDING_FIELDS, INPUT_FIELDS, RawHolding, RawInput};

impl Builder<'_> {
    pub(super) fn inputs(
        &mut self,
        entries: &At<Entries<RawInput>>,
        node: Option<&NodeId>,
    ) -> Vec<Input> {
        if let Some(found) = &entries.value.found {
            let what = match node {
                Some(node) => format!("node `{node}`: `fields`"),
                None => "`inputs`".to_owned(),
            };
            self.not_a_mapping(entries.at, &what, found, "name: { prompt: ..., type: ... }");
            return Vec::new();
        }

        let saved = std::mem::take(&mut self.typos);
        let mut inputs = Vec::with_capacity(entries.value.entries.len());
        for (name, raw) in &entries.value.entries {
            let owner = match node {
                Some(node) => format!("field `{}` of node `{node}`", name.value),
                None => format!("input `{}`", name.value),
            };
            if !is_identifier(&name.value, '_') {
                let what = if node.is_some() { "field" } else { "input" };
                let whose = node.map_or_else(String::new, |node| format!(" of node `{node}`"));
                self.error(
                    name.at,
                    format!(
                        "{what} name `{}`{whose} must be lowercase words joined by `_`",
                        name.value
                    ),
                );
            }
            inputs.push(self.input(&name.value, name.at, raw, &owner, node.is_some()));
        }
        self.typos = saved;
        self.distinct_holdings(&entries.value, &inputs);
        inputs
    }

    pub(super) fn input(
        &mut self,
        name: &str,
        at: Pos,
        raw: &RawInput,
        owner: &str,
        is_field: bool,
    ) -> Input {
        let mut input = Input {
            name: name.to_owned(),
            prompt: String::new(),
            kind: InputKind::Text,
            required: true,
            holds: None,
        };
        if let Some(found) = &raw.found {
            self.not_a_mapping(at, owner, found, "`prompt: ...`, `type: ...`");
            return input;
        }
        self.unknown(&raw.unknown, INPUT_FIELDS, owner);

        let missing = format!("{owner} has no `prompt`");
        input.prompt = self.required_text(raw.prompt.as_deref(), owner, "prompt", at, &missing);
        input.kind = self.input_kind(raw, owner, is_field, at);
        input.required = raw
            .required
            .as_ref()
            .and_then(|required| self.flag(owner, "required", required))
            .unwrap_or(true);
        input.holds = raw
            .component
            .as_ref()
            .and_then(|holding| self.holding(name, holding, &input.kind, is_field));
        input
    }

    /// The component a `person` field names the holder of.
    fn holding(
        &mut self,
        name: &str,
        raw: &At<RawHolding>,
        kind: &InputKind,
        is_field: bool,
    ) -> Option<Holding> {
        let owner = format!("the `component` of `{name}`");
        if let Some(found) = &raw.value.found {
            self.not_a_mapping(raw.at, &owner, found, "`key: INPUT`, `name: A`");
            return None;
        }
        self.unknown(&raw.value.unknown, HOLDING_FIELDS, &owner);
        if !is_field || *kind != InputKind::Person {
            self.error(
                raw.at,
                format!("`{name}` has a `component` but is not a step field of type `person`"),
            );
            return None;
        }

        let key = raw.value.key.as_ref().and_then(|key| {
            let text = self.text(&owner, "key", key)?;
            Some((text, key.at))
        });
        let component = raw
            .value
            .name
            .as_ref()
            .and_then(|component| self.text(&owner, "name", component));
        let (Some((key, key_at)), Some(component)) = (key, component) else {
            self.error(
                raw.at,
                format!("{owner} needs a `key` (an input) and a `name`"),
            );
            return None;
        };
        if !self.input_names.contains(&key) {
            let hint = suggestion(&key, self.input_names.iter().map(String::as_str));
            self.error(
                key_at,
                format!(
                    "{owner} names the key by input `{key}`, which the runbook does not have{hint}"
                ),
            );
            return None;
        }
        Some(Holding { key, component })
    }

    /// Two fields of one step may not hold the same component of one key.
    fn distinct_holdings(&mut self, entries: &Entries<RawInput>, inputs: &[Input]) {
        for (index, input) in inputs.iter().enumerate() {
            let Some(holds) = &input.holds else { continue };
            let earlier = inputs[..index]
                .iter()
                .find(|other| other.holds.as_ref() == Some(holds));
            let (Some(earlier), Some((name, _))) = (earlier, entries.entries.get(index)) else {
                continue;
            };
            self.error(
                name.at,
                format!(
                    "`{}` and `{}` both hold component {} of the key in input `{}`",
                    earlier.name, input.name, holds.component, holds.key
                ),
            );
        }
    }

    pub(super) fn input_kind(
        &mut self,
        raw: &RawInput,
        owner: &str,
        allow_kcv: bool,
        at: Pos,
    ) -> InputKind {
        let word = match &raw.kind {
            Some(kind) => self
                .text(owner, "type", kind)
                .unwrap_or_else(|| "text".to_owned()),
            None => "text".to_owned(),
        };
        let kind = match word.as_str() {
            "text" => InputKind::Text,
            "number" => InputKind::Number,
            "boolean" => InputKind::Boolean,
            "date" => InputKind::Date,
            "kcv" if allow_kcv => InputKind::Kcv,
            "person" if allow_kcv => InputKind::Person,
            "choice" => InputKind::Choice(Vec::new()),
            other => {
                let mut known = vec!["text", "number", "boolean", "date", "choice"];
                if allow_kcv {
                    known.extend(["kcv", "person"]);
                }
                let hint = suggestion(other, known.iter().copied());
                let at = raw.kind.as_ref().map_or(at, |kind| kind.at);
                self.problems.push(
                    Diagnostic::at(at, format!("{owner} has unknown type `{other}`{hint}"))
                        .with_hint(format!("a type is one of {}", known.join(", "))),
                );
                InputKind::Text
            }
        };

        let choices = raw.choices.as_ref().map(|choices| {
            let shaped = choices.value.found.is_none();
            (choices.at, shaped, self.texts(owner, "choices", choices))
        });
        match (kind, choices) {
            (_, Some((_, false, _))) => InputKind::Text,
            (InputKind::Choice(_), Some((_, _, choices))) if choices.len() >= 2 => {
                InputKind::Choice(choices.into_iter().map(|choice| choice.name).collect())
            }
            (InputKind::Choice(_), Some((at, _, _))) => {
                self.error(at, format!("{owner} needs at least two `choices`"));
                InputKind::Text
            }
            (InputKind::Choice(_), None) => {
                self.error(at, format!("{owner} is a `choice` but lists no `choices`"));
                InputKind::Text
            }
            (_, Some((at, _, _))) => {
                self.error(
                    at,
                    format!("{owner} has `choices` but is not of type `choice`"),
                );
                InputKind::Text
            }
            (kind, None) => kind,
        }
    }
}
