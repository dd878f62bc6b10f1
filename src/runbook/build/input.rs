//! Inputs of the runbook and fields of steps: one shape, a name and how it is asked.

use super::{Builder, is_identifier};
use crate::runbook::diagnostic::{Diagnostic, suggestion};
use crate::runbook::model::{Input, InputKind, NodeId, Pos};
use crate::runbook::raw::{At, Entries, INPUT_FIELDS, RawInput};

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
        };
        if let Some(found) = &raw.found {
            self.not_a_mapping(at, owner, found, "`prompt: ...`, `type: ...`");
            return input;
        }
        self.unknown(&raw.unknown, INPUT_FIELDS, owner);

        let missing = format!("{owner} has no `prompt`");
        input.prompt = self.required_text(raw.prompt.as_ref(), owner, "prompt", at, &missing);
        input.kind = self.input_kind(raw, owner, is_field, at);
        input.required = raw
            .required
            .as_ref()
            .and_then(|required| self.flag(owner, "required", required))
            .unwrap_or(true);
        input
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
            "choice" => InputKind::Choice(Vec::new()),
            other => {
                let mut known = vec!["text", "number", "boolean", "date", "choice"];
                if allow_kcv {
                    known.push("kcv");
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
