//! Guidance written out for paper, where no value is known yet.
//!
//! A value becomes a blank to fill in, `‹outputs.probe.verdict›`, and a conditional block
//! shows every branch, each labelled with when it applies ("**If `probe` succeeded:**",
//! "**Otherwise:**"), since the person holding the paper is the one who knows which holds. A
//! block inside a line stays inside it: `(if `a` was answered: ‹answers.a›; otherwise: none)`.

use handlebars::template::{Parameter, TemplateElement};
use handlebars::{Path, Template};

/// `text`, a guidance template, for paper. Text that is not a valid template is printed with
/// its `{{`/`}}` turned into `‹`/`›`, as the validator has reported it anyway.
pub fn paper(text: &str) -> String {
    let Ok(template) = Template::compile(text) else {
        return text.replace("{{", "‹").replace("}}", "›");
    };
    let mut out = String::with_capacity(text.len());
    elements(&template.elements, &mut out);
    out
}

fn elements(elements: &[TemplateElement], out: &mut String) {
    for element in elements {
        match element {
            TemplateElement::RawString(text) => out.push_str(text),
            TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
                out.push('‹');
                out.push_str(&call(&helper.name, &helper.params));
                out.push('›');
            }
            TemplateElement::HelperBlock(helper) => {
                let subject = helper.params.first();
                let (then, otherwise) = labels(&parameter_name(&helper.name), subject);
                let branches: Vec<(String, &[TemplateElement])> = [
                    helper
                        .template
                        .as_ref()
                        .map(|body| (then, body.elements.as_slice())),
                    helper
                        .inverse
                        .as_ref()
                        .map(|inverse| (otherwise, inverse.elements.as_slice())),
                ]
                .into_iter()
                .flatten()
                .collect();
                if !inline(&branches, out) {
                    for (label, elements) in &branches {
                        branch(label, elements, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A block whose branches are each a few words inside a line, written inside that line:
/// `(if `a` was answered: yes; otherwise: no)`. Whether it was.
fn inline(branches: &[(String, &[TemplateElement])], out: &mut String) -> bool {
    if out.is_empty() || out.ends_with('\n') {
        return false;
    }
    let mut parts = Vec::new();
    for (label, elements) in branches {
        let mut text = String::new();
        self::elements(elements, &mut text);
        if text.contains('\n') || matches!(elements, [TemplateElement::HelperBlock(_)]) {
            return false;
        }
        let mut label = label.trim_end_matches(':').to_owned();
        if let Some(first) = label.get(..1) {
            label.replace_range(..1, &first.to_lowercase());
        }
        parts.push(format!("{label}: {}", text.trim()));
    }
    out.push_str(&format!("({})", parts.join("; ")));
    true
}

/// One branch of a block, on a line of its own, with its label.
fn branch(label: &str, elements: &[TemplateElement], out: &mut String) {
    // An `else if` chain is one block inside the inverse: its own labels say enough.
    let chained = matches!(elements, [TemplateElement::HelperBlock(_)]);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !chained {
        out.push_str(&format!("**{label}** "));
    }
    let mut inner = String::new();
    self::elements(elements, &mut inner);
    out.push_str(inner.trim_start_matches([' ', '\n']));
}

/// What the two branches of a block are called, by the helper and what it tests.
fn labels(helper: &str, subject: Option<&Parameter>) -> (String, String) {
    let condition = subject.map_or_else(String::new, argument);
    let recorded = subject.and_then(path).map(|path| {
        let words: Vec<&str> = path.split('.').collect();
        match words.as_slice() {
            ["outputs", node] => format!("`{node}` succeeded"),
            ["answers", node] => format!("`{node}` was answered"),
            ["fields", node] => format!("step `{node}` was done"),
            _ => format!("‹{path}› was recorded"),
        }
    });
    let otherwise = "Otherwise:".to_owned();
    match (helper, recorded) {
        ("if", Some(recorded)) => (format!("If {recorded}:"), otherwise),
        ("if", None) => (format!("If ‹{condition}›:"), otherwise),
        ("unless", Some(recorded)) => (format!("Unless {recorded}:"), otherwise),
        ("unless", None) => (format!("Unless ‹{condition}›:"), otherwise),
        ("each", _) => (
            format!("For each of ‹{condition}›:"),
            "If there are none:".to_owned(),
        ),
        ("with", _) => (format!("With ‹{condition}›:"), otherwise),
        (other, _) => (format!("‹{other} {condition}›:"), otherwise),
    }
}

/// The text of a plain path parameter.
fn path(param: &Parameter) -> Option<String> {
    match param {
        Parameter::Path(Path::Relative((_, raw)) | Path::Local((_, _, raw))) => Some(raw.clone()),
        _ => None,
    }
}

fn parameter_name(param: &Parameter) -> String {
    match param {
        Parameter::Name(name) => name.clone(),
        other => argument(other),
    }
}

/// A helper call or a value as the template writes it: `outputs.a.kcv`, `len outputs.a`.
fn call(name: &Parameter, params: &[Parameter]) -> String {
    let mut words = vec![parameter_name(name)];
    words.extend(params.iter().map(argument));
    words.join(" ")
}

fn argument(param: &Parameter) -> String {
    match param {
        Parameter::Name(name) => name.clone(),
        Parameter::Path(_) => path(param).unwrap_or_default(),
        Parameter::Literal(value) => value.to_string(),
        Parameter::Subexpression(subexpression) => match subexpression.element.as_ref() {
            TemplateElement::Expression(helper) => {
                format!("({})", call(&helper.name, &helper.params))
            }
            _ => "(…)".to_owned(),
        },
        _ => "…".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_blanks_to_fill_in() {
        assert_eq!(
            paper("Check {{inputs.member}} with {{len outputs.a.objects}}."),
            "Check ‹inputs.member› with ‹len outputs.a.objects›."
        );
    }

    #[test]
    fn both_branches_of_an_if_are_shown_with_when_each_applies() {
        let text = "Probe:\n{{#if outputs.probe}}Verdict {{outputs.probe.verdict}}.\n{{else}}The \
                    probe failed.\n{{/if}}Answer.";
        assert_eq!(
            paper(text),
            "Probe:\n**If `probe` succeeded:** Verdict ‹outputs.probe.verdict›.\n**Otherwise:** \
             The probe failed.\nAnswer."
        );
    }

    #[test]
    fn a_chain_of_else_if_keeps_one_label_per_branch() {
        let text = "{{#if answers.a}}A{{else if (eq fields.b.c \"x\")}}B{{else}}C{{/if}}";
        assert_eq!(
            paper(text),
            "**If `a` was answered:** A\n**If ‹(eq fields.b.c \"x\")›:** B\n**Otherwise:** C"
        );
    }

    #[test]
    fn a_block_inside_a_line_stays_inside_it() {
        assert_eq!(
            paper("Unknown: {{#if fields.c.u}}{{fields.c.u}}{{else}}none{{/if}}."),
            "Unknown: (if ‹fields.c.u› was recorded: ‹fields.c.u›; otherwise: none)."
        );
    }

    #[test]
    fn text_that_does_not_compile_keeps_its_markers_visible() {
        assert_eq!(paper("Broken {{#if x}}"), "Broken ‹#if x›");
    }
}
