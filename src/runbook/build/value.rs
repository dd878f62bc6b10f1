//! Each value of the file read as the type its field wants, and the problems of values
//! reported with their node and field: text, whole numbers, flags, lists of text, closed sets
//! of words, durations and edges, and fields that are missing or unknown.

use super::{Builder, broken, named};
use crate::runbook::diagnostic::{Diagnostic, did_you_mean, suggestion};
use crate::runbook::model::{Edge, EdgeLabel, Named, NodeId, Pos, Word};
use crate::runbook::raw::{At, List, Loose};
use crate::runbook::source::SourceMap;
use jiff::{SignedDuration, Span, SpanRelativeTo};

/// Parses an ISO 8601 duration such as `PT30M` or `P1D` (a day counts as 24 hours).
pub fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    let not_iso = || "it is not an ISO 8601 duration".to_owned();
    let span: Span = text.parse().map_err(|_| not_iso())?;
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| not_iso())?;
    if duration.is_positive() {
        Ok(duration)
    } else {
        Err("it must be longer than zero".into())
    }
}

/// `"node `a`: "`, or nothing for the top of the file.
pub(super) fn prefix(owner: &str) -> String {
    if owner.is_empty() {
        String::new()
    } else {
        format!("{owner}: ")
    }
}

impl Builder<'_> {
    pub(super) fn error(&mut self, at: Pos, message: impl Into<String>) {
        self.problems.push(Diagnostic::at(at, message));
    }

    /// A required field is missing, unless an unknown key right there misspells it.
    pub(super) fn missing(&mut self, at: Pos, field: &str, message: impl Into<String>) {
        if !self.typos.contains(&field) {
            self.error(at, message);
        }
    }

    /// Reports the keys the format does not know, and remembers what they likely meant (until
    /// the next call: a nested mapping saves and restores the typos of its owner).
    pub(super) fn unknown(
        &mut self,
        keys: &[At<String>],
        known: &'static [&'static str],
        owner: &str,
    ) {
        self.typos.clear();
        for key in keys {
            let meant = did_you_mean(&key.value, known.iter().copied());
            let hint =
                meant.map_or_else(String::new, |meant| format!(" (did you mean `{meant}`?)"));
            self.typos.extend(meant);
            let source = self.source;
            let at = self
                .map
                .get_or_init(|| SourceMap::new(source))
                .key_before(key.at, &key.value);
            self.problems.push(
                Diagnostic::at(
                    at,
                    format!("unknown field `{}` in {owner}{hint}", key.value),
                )
                .with_hint(format!("the fields here are {}", known.join(", "))),
            );
        }
    }

    /// A mapping of the format that turned out to be something else.
    pub(super) fn not_a_mapping(&mut self, at: Pos, what: &str, found: &Loose, example: &str) {
        self.error(
            at,
            format!(
                "{what} must be a mapping ({example}), not {}",
                found.describe()
            ),
        );
    }

    /// Text, from any scalar; `None` (reported) for a list, a mapping or nothing.
    pub(super) fn text(&mut self, owner: &str, field: &str, value: &At<Loose>) -> Option<String> {
        match &value.value {
            Loose::Text(text) | Loose::Number(text) => Some(text.clone()),
            Loose::Bool(flag) => Some(flag.to_string()),
            other => {
                let found = other.describe();
                self.error(
                    value.at,
                    format!("{}`{field}` must be text, not {found}", prefix(owner)),
                );
                None
            }
        }
    }

    /// A whole number from `least`; `None` (reported) for anything else.
    pub(super) fn number(
        &mut self,
        owner: &str,
        field: &str,
        value: &At<Loose>,
        least: u32,
    ) -> Option<u32> {
        let parsed = match &value.value {
            Loose::Number(text) => text.parse::<u32>().ok(),
            _ => None,
        };
        match parsed {
            Some(number) if number >= least => Some(number),
            _ => {
                let found = value.value.describe();
                let from = if least > 0 {
                    format!(" from {least}")
                } else {
                    String::new()
                };
                self.error(
                    value.at,
                    format!(
                        "{}`{field}` must be a whole number{from}, not {found}",
                        prefix(owner)
                    ),
                );
                None
            }
        }
    }

    /// `true` or `false`; `None` (reported) for anything else.
    pub(super) fn flag(&mut self, owner: &str, field: &str, value: &At<Loose>) -> Option<bool> {
        if let Loose::Bool(flag) = value.value {
            return Some(flag);
        }
        let found = value.value.describe();
        self.error(
            value.at,
            format!(
                "{}`{field}` must be `true` or `false`, not {found}",
                prefix(owner)
            ),
        );
        None
    }

    /// The items of a list of text, reporting a value that is not a list or an item that is
    /// not text.
    pub(super) fn texts(
        &mut self,
        owner: &str,
        field: &str,
        list: &At<List<At<Loose>>>,
    ) -> Vec<Named> {
        if let Some(found) = &list.value.found {
            let found = found.describe();
            self.error(
                list.at,
                format!(
                    "{}`{field}` must be a list, like `[a, b]`, not {found}",
                    prefix(owner)
                ),
            );
            return Vec::new();
        }
        let mut texts = Vec::with_capacity(list.value.items.len());
        for item in &list.value.items {
            match &item.value {
                Loose::Text(text) | Loose::Number(text) => texts.push(named(text.clone(), item.at)),
                other => {
                    let found = other.describe();
                    self.error(
                        item.at,
                        format!(
                            "{}each of `{field}` must be text, not {found}",
                            prefix(owner)
                        ),
                    );
                }
            }
        }
        texts
    }

    pub(super) fn required_text(
        &mut self,
        value: Option<&At<Loose>>,
        owner: &str,
        field: &str,
        at: Pos,
        message: &str,
    ) -> String {
        let Some(value) = value else {
            self.missing(at, field, message);
            return String::new();
        };
        match self.text(owner, field, value) {
            Some(text) if text.trim().is_empty() => {
                self.error(value.at, message.replace("has no", "has an empty"));
                String::new()
            }
            Some(text) => text,
            None => String::new(),
        }
    }

    /// A word of a closed set, with a suggestion when it is misspelt.
    pub(super) fn word<W: Word + PartialEq>(
        &mut self,
        owner: &str,
        value: &At<Loose>,
        what: &str,
    ) -> Option<W> {
        let text = self.text(owner, what, value)?;
        let parsed = W::parse(&text);
        if parsed.is_none() {
            let names = W::ALL.iter().map(|(name, _)| *name);
            let hint = suggestion(&text, names.clone());
            let all: Vec<_> = names.collect();
            let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            let message = match owner {
                "" => format!("unknown {what} `{text}`{hint}"),
                owner => format!("{owner} has unknown {what} `{text}`{hint}"),
            };
            self.problems.push(
                Diagnostic::at(value.at, message)
                    .with_hint(format!("{article} {what} is one of {}", all.join(", "))),
            );
        }
        parsed
    }

    pub(super) fn duration(
        &mut self,
        owner: &str,
        field: &str,
        value: &At<Loose>,
    ) -> Option<SignedDuration> {
        let text = self.text(owner, field, value)?;
        match parse_duration(&text) {
            Ok(duration) => Some(duration),
            Err(reason) => {
                self.problems.push(
                    Diagnostic::at(value.at, format!("{owner}: `{field}: {text}`: {reason}"))
                        .with_hint("write an ISO 8601 duration, like `PT30M`, `PT4H` or `P1D`"),
                );
                None
            }
        }
    }

    /// An edge to the node `target` names; a broken one if it names none.
    pub(super) fn edge(
        &mut self,
        owner: &str,
        field: &str,
        label: EdgeLabel,
        target: &At<Loose>,
    ) -> Edge {
        match &target.value {
            Loose::Text(text) | Loose::Number(text) if !text.is_empty() => Edge {
                label,
                target: NodeId(text.clone()),
                at: target.at,
            },
            Loose::Bool(flag) => Edge {
                label,
                target: NodeId(flag.to_string()),
                at: target.at,
            },
            other => {
                let found = other.describe();
                self.error(
                    target.at,
                    format!("{}`{field}` must name a node, not {found}", prefix(owner)),
                );
                broken(label, target.at)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_iso_8601_and_positive() {
        assert_eq!(parse_duration("PT30M"), Ok(SignedDuration::from_mins(30)));
        assert_eq!(parse_duration("P1D"), Ok(SignedDuration::from_hours(24)));
        assert!(parse_duration("PT0S").is_err());
        assert!(parse_duration("half an hour").is_err());
    }
}
