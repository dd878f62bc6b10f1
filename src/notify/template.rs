//! Message templates: `policies/templates/NAME.yaml` with `subject`, `body` and optional
//! `html`, handlebars in strict mode without escaping.
//!
//! Strict mode makes a missing value an error, and [`check_templates`] renders every template
//! against a complete sample of the data ([`sample_data`]) so that the error shows at
//! `custos validate`, not as a blank in a message to the board. A template that a runbook sends
//! is rendered with that runbook's inputs, fields, outputs and answers; one that only
//! escalations send gets no runbook values, since it may be sent for any incident.
//!
//! The names of the template data are listed in [`crate::notify`].

use std::collections::BTreeMap;
use std::path::Path;

use handlebars::{RenderErrorReason, Template};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use serde_saphyr::Spanned;

use super::yaml::{self, pos};
use crate::catalog;
use crate::runbook::template::registry;
use crate::runbook::{Diagnostic, InputKind, NodeKind, Pos, Report, Runbook};

/// One message template.
#[derive(Clone, Debug)]
pub struct MessageTemplate {
    pub name: String,
    pub subject: String,
    pub body: String,
    pub html: Option<String>,
    /// Where each part starts in the file, for pointing at problems.
    at: [Pos; 3],
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
    pub html: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    subject: Spanned<String>,
    body: Spanned<String>,
    html: Option<Spanned<String>>,
}

impl MessageTemplate {
    /// Renders the three parts with `data`; the error names the part and the missing value.
    pub fn render(&self, data: &Value) -> Result<Rendered, (&'static str, String)> {
        let subject = render(&self.subject, data).map_err(|e| ("subject", e))?;
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let body = render(&self.body, data).map_err(|e| ("body", e))?;
        let html = match &self.html {
            Some(html) => Some(render(html, data).map_err(|e| ("html", e))?),
            None => None,
        };
        Ok(Rendered {
            subject,
            body,
            html,
        })
    }

    fn parts(&self) -> impl Iterator<Item = (&'static str, &str, Pos)> {
        [
            ("subject", Some(self.subject.as_str())),
            ("body", Some(self.body.as_str())),
            ("html", self.html.as_deref()),
        ]
        .into_iter()
        .zip(self.at)
        .filter_map(|((part, text), at)| text.map(|text| (part, text, at)))
    }
}

/// Renders one text in strict mode, describing a missing value by its name.
fn render(text: &str, data: &Value) -> Result<String, String> {
    registry()
        .render_template(text, data)
        .map_err(|error| match error.reason() {
            RenderErrorReason::MissingVariable(Some(name)) => {
                format!("it uses `{{{{{name}}}}}`, which has no value")
            }
            _ => error.to_string(),
        })
}

/// Every template in `dir`; `Ok(None)` when the directory does not exist.
pub(crate) fn load_all(
    dir: &Path,
) -> Result<Option<BTreeMap<String, MessageTemplate>>, Vec<Report>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            let message = format!("cannot list the templates: {error}");
            return Err(vec![Report::new(
                dir,
                String::new(),
                vec![Diagnostic::new(None, message)],
            )]);
        }
    };

    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();

    let mut templates = BTreeMap::new();
    let mut reports = Vec::new();
    for path in paths {
        match load(&path) {
            Ok(template) => {
                templates.insert(template.name.clone(), template);
            }
            Err(report) => reports.push(report),
        }
    }
    if reports.is_empty() {
        Ok(Some(templates))
    } else {
        Err(reports)
    }
}

fn load(path: &Path) -> Result<MessageTemplate, Report> {
    let name = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default()
        .to_owned();
    let Some(parsed) = yaml::read::<RawTemplate>(path)? else {
        let message = "the file disappeared while it was read";
        return Err(Report::new(
            path,
            String::new(),
            vec![Diagnostic::new(None, message)],
        ));
    };
    let raw = parsed.value;
    let template = MessageTemplate {
        name,
        at: [
            pos(&raw.subject),
            pos(&raw.body),
            raw.html.as_ref().map(pos).unwrap_or_default(),
        ],
        subject: raw.subject.value,
        body: raw.body.value,
        html: raw.html.map(|html| html.value),
    };

    let problems = compile_problems(&template);
    if problems.is_empty() {
        Ok(template)
    } else {
        Err(Report::new(path, parsed.source, problems))
    }
}

/// Whether every part compiles as handlebars.
fn compile_problems(template: &MessageTemplate) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for (part, text, at) in template.parts() {
        if let Err(error) = Template::compile(text) {
            let reason = error.reason().to_string();
            let reason = reason
                .split(':')
                .next()
                .unwrap_or("invalid syntax")
                .to_owned();
            problems.push(
                Diagnostic::at(at, format!("the {part} does not compile: {reason}"))
                    .with_hint("every `{{` needs its `}}`, and every `{{#if}}` its `{{/if}}`"),
            );
        }
    }
    problems
}

/// Renders every template against sample data: with the values of each runbook that sends
/// it, and without runbook values when no runbook sends it.
pub fn check_templates(
    dir: &Path,
    templates: &BTreeMap<String, MessageTemplate>,
    runbooks: &[Runbook],
) -> Vec<Report> {
    let mut senders: BTreeMap<&str, Vec<(&Runbook, &str)>> = BTreeMap::new();
    for runbook in runbooks {
        for node in &runbook.nodes {
            if let NodeKind::Notify { template, .. } = &node.kind {
                senders
                    .entry(template.name.as_str())
                    .or_default()
                    .push((runbook, node.id.as_str()));
            }
        }
    }

    let mut reports = Vec::new();
    for (name, template) in templates {
        let mut problems = Vec::new();
        match senders.get(name.as_str()) {
            Some(users) => {
                for (runbook, node) in users {
                    let data = sample_data(Some(runbook), false);
                    let place = format!(" when runbook `{}` sends it at `{node}`", runbook.id);
                    rendering_problems(template, &data, &place, &mut problems);
                }
            }
            None => {
                let data = sample_data(None, true);
                let place = " for an escalation, which has no runbook values";
                rendering_problems(template, &data, place, &mut problems);
            }
        }
        problems.dedup();
        if !problems.is_empty() {
            let path = dir.join(format!("{name}.yaml"));
            let source = std::fs::read_to_string(&path).unwrap_or_default();
            reports.push(Report::new(&path, source, problems));
        }
    }
    reports
}

fn rendering_problems(
    template: &MessageTemplate,
    data: &Value,
    place: &str,
    problems: &mut Vec<Diagnostic>,
) {
    for (part, text, at) in template.parts() {
        if let Err(reason) = render(text, data) {
            let at = reason
                .split('`')
                .nth(1)
                .map_or(at, |name| locate(text, at, name.trim_matches(['{', '}'])));
            problems.push(Diagnostic::at(
                at,
                format!("the {part} cannot be rendered{place}: {reason}"),
            ));
        }
    }
}

/// Where `name` first appears in a part that starts at `at`. Lines of a block scalar share
/// the indentation of its first line; a quoted scalar starts one column after its quote.
fn locate(text: &str, at: Pos, name: &str) -> Pos {
    let Some(offset) = text.find(name) else {
        return at;
    };
    let before = &text[..offset];
    let line = u32::try_from(before.matches('\n').count()).unwrap_or(0);
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |start| start.chars().count());
    let column = u32::try_from(column).unwrap_or(0);
    let quote = u32::from(line == 0 && at.width as usize > text.chars().count());
    Pos {
        line: at.line + line,
        column: at.column + column + quote,
        width: u32::try_from(name.chars().count()).unwrap_or(1),
    }
}

/// A complete set of template data: every name of [the table](crate::notify) with a plausible value,
/// and, for a runbook, a value for each of its inputs, fields, outputs and answers.
pub fn sample_data(runbook: Option<&Runbook>, escalation: bool) -> Value {
    let mut data = json!({
        "incident": {
            "id": "INC-42",
            "title": "Emergency ZMK rotation after a suspected or confirmed compromise",
            "runbook": "zmk-compromise",
            "severity": "critical",
            "rehearsal": false,
            "opened": "2026-12-03 08:00 UTC",
            "initiator": "alice",
            "elapsed": "4 h 05 min",
            "state": "open",
        },
        "inputs": {},
        "path": [
            {"node": "intake", "title": "Record the report", "at": "2026-12-03 08:00 UTC"},
            {"node": "assess", "title": "Assess the report", "at": "2026-12-03 08:40 UTC"},
        ],
        "outputs": {},
        "fields": {},
        "answers": {},
        "approvals": [
            {"node": "approve", "who": "bob", "role": "custodian", "when": "2026-12-03 10:00 UTC"},
        ],
        "deadlines": [
            {
                "name": "dora-initial-report",
                "title": "DORA initial report",
                "due": "2026-12-03 12:40 UTC",
                "status": "open",
                "met": false,
                "missed": false,
            },
        ],
        "node": {"id": "notify_board", "title": "Report to the board"},
    });
    if escalation {
        data["escalation"] = json!({
            "rule": "board-after-4-hours",
            "reason": "the incident has been open for 4 h 05 min (rule: 4 h)",
        });
    }
    if let Some(runbook) = runbook {
        fill_runbook(&mut data, runbook);
    }
    data
}

fn fill_runbook(data: &mut Value, runbook: &Runbook) {
    data["incident"]["runbook"] = json!(runbook.id);
    data["incident"]["title"] = json!(runbook.title);
    for input in &runbook.inputs {
        data["inputs"][&input.name] = sample(&input.kind);
    }

    for node in &runbook.nodes {
        let id = node.id.as_str();
        match &node.kind {
            NodeKind::Step { fields, .. } if !fields.is_empty() => {
                let values: Map<String, Value> = fields
                    .iter()
                    .map(|field| (field.name.clone(), sample(&field.kind)))
                    .collect();
                data["fields"][id] = Value::Object(values);
            }
            NodeKind::Decision { options } => {
                let first = options.first().map(|edge| edge.label.to_string());
                data["answers"][id] = json!(first.unwrap_or_default());
            }
            NodeKind::Action(action) => {
                let outputs = catalog::action(&action.run.name).map_or(&[][..], |s| s.outputs);
                let values: Map<String, Value> = outputs
                    .iter()
                    .map(|output| (output.name.to_owned(), json!("sample")))
                    .collect();
                data["outputs"][id] = Value::Object(values);
            }
            _ => {}
        }
    }
}

fn sample(kind: &InputKind) -> Value {
    match kind {
        InputKind::Text => json!("sample text"),
        InputKind::Number => json!(3),
        InputKind::Boolean => json!(true),
        InputKind::Date => json!("2026-12-31"),
        InputKind::Kcv => json!("1A2B3C"),
        InputKind::Person => json!("alice"),
        InputKind::Choice(choices) => json!(choices.first().cloned().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(body: &str) -> MessageTemplate {
        MessageTemplate {
            name: "t".to_owned(),
            subject: "Incident {{incident.id}}".to_owned(),
            body: body.to_owned(),
            html: None,
            at: [Pos::default(); 3],
        }
    }

    #[test]
    fn a_missing_value_is_an_error_that_names_it() {
        let error = template("{{incident.nickname}}")
            .render(&sample_data(None, false))
            .unwrap_err();
        assert_eq!(
            error,
            (
                "body",
                "it uses `{{incident.nickname}}`, which has no value".to_owned()
            )
        );
    }

    #[test]
    fn an_if_on_a_missing_value_renders_its_else_branch() {
        let rendered = template("{{#if fields.nowhere}}yes{{else}}no{{/if}}")
            .render(&sample_data(None, false))
            .unwrap();
        assert_eq!(rendered.body, "no");
    }

    #[test]
    fn text_is_not_html_escaped() {
        let rendered = template("{{inputs.x}}")
            .render(&json!({"incident": {"id": "INC-1"}, "inputs": {"x": "A & B <c>"}}))
            .unwrap();
        assert_eq!(rendered.body, "A & B <c>");
    }
}
