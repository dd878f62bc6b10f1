//! What a template uses, read from its compiled elements: every name of a value with what
//! guards it, the helpers it calls that templates do not have, and an unclosed block.

use super::HELPERS;
use crate::runbook::source::offset_of;
use handlebars::Template;
use handlebars::template::{Parameter, TemplateElement, TemplateMapping};
use handlebars::{Path, PathSeg};

/// What a template uses: names of values, and helpers templates do not have.
#[derive(Default)]
pub(super) struct Found {
    pub(super) references: Vec<Reference>,
    /// Unknown helpers, with the offset of the element that calls them.
    pub(super) helpers: Vec<(String, usize)>,
}

/// One name a template uses.
pub(super) struct Reference {
    pub(super) path: Vec<String>,
    /// The value is what an `#if`, `#unless`, or `#with`/`#each` with an `{{else}}` tests:
    /// it may be missing.
    pub(super) tested: bool,
    /// How many leading segments of the path an enclosing `#if` guarantees to exist.
    pub(super) covered: usize,
    /// Where in the template text to start looking for it.
    pub(super) offset: usize,
}

/// The last block opened and never closed, with its name, when the text has one.
pub(super) fn unclosed(text: &str) -> Option<(usize, &str)> {
    let mut open: Vec<(usize, &str)> = Vec::new();
    let mut rest = 0;
    while let Some(found) = text[rest..].find("{{") {
        let at = rest + found;
        let tag = text[at + 2..].trim_start_matches('~');
        let name_of = |tag: &str| {
            let end = tag
                .find(|c: char| c.is_whitespace() || c == '}' || c == '~')
                .unwrap_or(tag.len());
            tag[..end].to_owned()
        };
        if let Some(opened) = tag.strip_prefix('#') {
            let name = name_of(opened);
            let start = at + text[at..].find(&name).unwrap_or(0);
            open.push((at, &text[start..start + name.len()]));
        } else if let Some(closed) = tag.strip_prefix('/') {
            let name = name_of(closed);
            if let Some(last) = open.iter().rposition(|(_, opened)| *opened == name) {
                open.truncate(last);
            }
        }
        rest = at + 2;
    }
    open.pop()
}

/// Every root-scoped path the elements refer to, with what guards it, and the helpers they
/// call that templates do not have. `guards` are the paths the enclosing `#if` blocks test;
/// `at` is the offset of the enclosing element.
pub(super) fn collect(
    text: &str,
    elements: &[TemplateElement],
    mapping: &[TemplateMapping],
    at: usize,
    guards: &mut Vec<Vec<String>>,
    out: &mut Found,
) {
    for (index, element) in elements.iter().enumerate() {
        let offset = mapping
            .get(index)
            .map_or(at, |place| offset_of(text, place.0, place.1));
        let mut note = |param: &Parameter, tested: bool, bare: bool| {
            for path in paths(param, bare) {
                out.references.push(reference(path, tested, guards, offset));
            }
        };
        match element {
            TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
                if helper.params.is_empty() && helper.hash.is_empty() {
                    note(&helper.name, false, true);
                } else if let Parameter::Name(name) = &helper.name
                    && !HELPERS.contains(&name.as_str())
                {
                    out.helpers.push((name.clone(), offset));
                }
                for param in helper.params.iter().chain(helper.hash.values()) {
                    note(param, false, false);
                }
            }
            TemplateElement::HelperBlock(helper) => {
                let name = match &helper.name {
                    Parameter::Name(name) => name.as_str(),
                    _ => "",
                };
                if !HELPERS.contains(&name) {
                    out.helpers.push((name.to_owned(), offset));
                }
                let first = helper.params.first();
                let tests = match name {
                    "if" | "unless" => true,
                    "with" | "each" => helper.inverse.is_some(),
                    _ => false,
                };
                let tested = first.and_then(path_of).filter(|_| tests);
                for (position, param) in helper.params.iter().enumerate() {
                    let plain = path_of(param).is_some();
                    note(param, tests && position == 0 && plain, false);
                }
                for param in helper.hash.values() {
                    note(param, false, false);
                }

                let (body_guard, inverse_guard) = match name {
                    "if" => (tested, None),
                    "unless" => (None, tested),
                    _ => (None, None),
                };
                if !matches!(name, "with" | "each")
                    && let Some(body) = &helper.template
                {
                    guarded(text, body, offset, body_guard, guards, out);
                }
                if let Some(inverse) = &helper.inverse {
                    guarded(text, inverse, offset, inverse_guard, guards, out);
                }
            }
            _ => {}
        }
    }
}

/// Collects a block's template with `guard` added to the enclosing guards.
fn guarded(
    text: &str,
    template: &Template,
    at: usize,
    guard: Option<Vec<String>>,
    guards: &mut Vec<Vec<String>>,
    out: &mut Found,
) {
    let pushed = guard.is_some();
    guards.extend(guard);
    collect(text, &template.elements, &template.mapping, at, guards, out);
    if pushed {
        guards.pop();
    }
}

fn reference(path: Vec<String>, tested: bool, guards: &[Vec<String>], offset: usize) -> Reference {
    let covered = guards
        .iter()
        .map(|guard| guard.iter().zip(&path).take_while(|(a, b)| a == b).count())
        .max()
        .unwrap_or(0);
    Reference {
        path,
        tested,
        covered,
        offset,
    }
}

/// The named segments of a plain path parameter.
pub(super) fn path_of(param: &Parameter) -> Option<Vec<String>> {
    let Parameter::Path(Path::Relative((segments, _))) = param else {
        return None;
    };
    let named: Option<Vec<String>> = segments
        .iter()
        .map(|segment| match segment {
            PathSeg::Named(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    named.filter(|named| !named.is_empty())
}

/// The root-scoped paths a parameter refers to: itself, or those of a subexpression's
/// parameters. A bare name (`{{member}}`) is a path unless it is a helper.
fn paths(param: &Parameter, bare: bool) -> Vec<Vec<String>> {
    match param {
        Parameter::Path(_) => path_of(param).into_iter().collect(),
        Parameter::Name(name) if bare && !HELPERS.contains(&name.as_str()) => {
            vec![name.split(['.', '/']).map(str::to_owned).collect()]
        }
        Parameter::Subexpression(subexpression) => {
            let mut found = Vec::new();
            if let TemplateElement::Expression(helper) = subexpression.element.as_ref() {
                for param in helper.params.iter().chain(helper.hash.values()) {
                    found.extend(paths(param, false));
                }
            }
            found
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn references(text: &str) -> Vec<(String, bool, usize)> {
        let template = Template::compile(text).unwrap_or_default();
        let mut out = Found::default();
        collect(
            text,
            &template.elements,
            &template.mapping,
            0,
            &mut Vec::new(),
            &mut out,
        );
        out.references
            .into_iter()
            .map(|r| (r.path.join("."), r.tested, r.covered))
            .collect()
    }

    #[test]
    fn an_if_guards_its_body_but_not_its_else() {
        let found = references(
            "{{#if outputs.a}}{{outputs.a.kcv}}{{else}}{{outputs.a.kcv}}{{/if}}{{fields.b.c}}",
        );
        assert_eq!(
            found,
            [
                ("outputs.a".to_owned(), true, 0),
                ("outputs.a.kcv".to_owned(), false, 2),
                ("outputs.a.kcv".to_owned(), false, 0),
                ("fields.b.c".to_owned(), false, 0),
            ]
        );
    }

    #[test]
    fn an_unless_guards_its_else_and_subexpressions_are_never_guards() {
        let found = references(
            "{{#unless answers.x}}{{answers.x}}{{else}}{{answers.x}}{{/unless}}\
             {{#if (eq answers.y \"a\")}}{{answers.y}}{{/if}}",
        );
        assert_eq!(
            found,
            [
                ("answers.x".to_owned(), true, 0),
                ("answers.x".to_owned(), false, 0),
                ("answers.x".to_owned(), false, 2),
                ("answers.y".to_owned(), false, 0),
                ("answers.y".to_owned(), false, 0),
            ]
        );
    }

    #[test]
    fn with_and_each_test_their_value_only_with_an_else() {
        let found = references(
            "{{#with outputs.a}}{{kcv}}{{/with}}{{#each outputs.b.objects}}{{this}}{{else}}none{{/each}}",
        );
        assert_eq!(
            found,
            [
                ("outputs.a".to_owned(), false, 0),
                ("outputs.b.objects".to_owned(), true, 0),
            ]
        );
    }

    #[test]
    fn an_unclosed_block_is_found_by_its_opening() {
        assert_eq!(
            unclosed("a {{#if x}} b {{#each y}}{{/each}}"),
            Some((2, "if"))
        );
        assert_eq!(unclosed("{{#if x}}{{/if}}"), None);
    }
}
