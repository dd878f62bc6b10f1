//! The interactive walk: prompts (inquire) and a spinner (indicatif), for an 80-column
//! terminal over SSH.
//!
//! Esc or Ctrl-C at any prompt pauses the walk; the incident stays open and `custos resume`
//! continues it. While the walk waits for approvals from other terminals, the terminal is in
//! raw mode so that Enter, Esc or Ctrl-C return to the approval menu. Nothing typed here is
//! written anywhere before the engine records it.

use crossterm::event::{self, Event as Key, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::terminal;
use custos::engine::fields::check_value;
use custos::engine::{ApprovalMove, Approver, Choice, Done, Responder, Stop, View, Waiting};
use custos::runbook::{Edge, Input, InputKind, NodeKind, Requirement};
use custos::store::event::Participant;
use indicatif::{ProgressBar, ProgressStyle};
use inquire::error::InquireError;
use inquire::validator::Validation;
use inquire::{Password, PasswordDisplayMode, Select, Text};
use serde_json::{Map, Value};
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

const WIDTH: usize = 80;
const NOTE: &str = "Add a note";
const PAUSE: &str = "Pause here (resume later)";
const DONE: &str = "Done, go on";
const GO_ON: &str = "Go on";

/// A person at a terminal.
pub struct Terminal {
    spinner: Option<ProgressBar>,
    /// Whether the terminal was put in raw mode to watch for keys while waiting.
    raw: bool,
    bold: bool,
}

impl Terminal {
    pub fn new() -> Self {
        Self {
            spinner: None,
            raw: false,
            bold: std::io::stdout().is_terminal(),
        }
    }

    fn spin(&mut self, message: String) {
        let spinner = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            spinner.set_style(style);
        }
        spinner.set_message(message);
        spinner.enable_steady_tick(Duration::from_millis(120));
        self.spinner = Some(spinner);
    }

    fn heading(&self, text: &str) -> String {
        if self.bold {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// The prompt's answer, or the walk stops: Esc and Ctrl-C pause.
fn asked<T>(result: Result<T, InquireError>) -> Result<T, Stop> {
    result.map_err(|error| match error {
        InquireError::OperationCanceled | InquireError::OperationInterrupted => Stop::Paused,
        other => Stop::Invalid(format!("the terminal could not ask: {other}")),
    })
}

fn ask_value(input: &Input) -> Result<Option<Value>, Stop> {
    let checked = input.clone();
    let validator = move |text: &str| {
        if text.trim().is_empty() && !checked.required {
            return Ok(Validation::Valid);
        }
        match check_value(&checked, &Value::String(text.to_owned())) {
            Ok(_) => Ok(Validation::Valid),
            Err(reason) => Ok(Validation::Invalid(reason.into())),
        }
    };
    let text = match &input.kind {
        InputKind::Choice(choices) => asked(Select::new(&input.prompt, choices.clone()).prompt())?,
        InputKind::Boolean => {
            asked(Select::new(&input.prompt, vec!["yes".to_owned(), "no".to_owned()]).prompt())?
        }
        kind => {
            let help = match kind {
                InputKind::Kcv => "hexadecimal, like 08D7B4",
                InputKind::Date => "like 2026-12-03",
                InputKind::Number => "a number",
                InputKind::Person => "an id of the roster, like alice",
                _ => "",
            };
            asked(
                Text::new(&input.prompt)
                    .with_help_message(help)
                    .with_validator(validator)
                    .prompt(),
            )?
        }
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    check_value(input, &Value::String(text))
        .map(Some)
        .map_err(Stop::Invalid)
}

/// Offers "add a note" until the person picks something else; returns that choice.
fn choose_with_notes(
    message: &str,
    mut options: Vec<String>,
    notes: &mut Vec<String>,
) -> Result<String, Stop> {
    options.push(NOTE.to_owned());
    options.push(PAUSE.to_owned());
    loop {
        let picked = asked(
            Select::new(message, options.clone())
                .with_page_size(12)
                .prompt(),
        )?;
        match picked.as_str() {
            NOTE => {
                let note = asked(Text::new("Note:").prompt())?;
                if !note.trim().is_empty() {
                    notes.push(note);
                }
            }
            PAUSE => return Err(Stop::Paused),
            _ => return Ok(picked),
        }
    }
}

/// `alice:custodian, bob:witness` as participants; empty when any pair is malformed.
fn parse_participants(text: &str) -> Vec<Participant> {
    let pairs: Option<Vec<Participant>> = text
        .split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (person, role) = pair.split_once(':')?;
            let (person, role) = (person.trim(), role.trim());
            (!person.is_empty() && !role.is_empty()).then(|| Participant {
                person: person.to_owned(),
                role: role.to_owned(),
            })
        })
        .collect();
    pairs.unwrap_or_default()
}

/// Text broken into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    for paragraph in text.lines() {
        let indent: String = paragraph
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect();
        let mut line = indent.clone();
        for word in paragraph.split_whitespace() {
            if !line.trim().is_empty() && line.chars().count() + word.chars().count() + 1 > width {
                out.push_str(line.trim_end());
                out.push('\n');
                line = format!("{indent}  ");
            }
            if !line.trim().is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Guidance as paragraphs that fill the width: runbook authors break their lines near column
/// 100, and wrapping each of those lines alone would leave a word or two on a line of its own.
/// Lines of one paragraph are joined before wrapping; a blank line, a list item (`- `, `* `,
/// `1. `) or a change of indentation starts a new one. A list item's lines wrap under its text.
fn reflow(text: &str, width: usize) -> String {
    let mut blocks: Vec<(String, usize, Vec<&str>)> = Vec::new();
    let mut continues_at: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let body = line.trim();
        if body.is_empty() {
            blocks.push((String::new(), 0, Vec::new()));
            continues_at = None;
            continue;
        }

        let marker = list_marker(body);
        match (continues_at, marker, blocks.last_mut()) {
            (Some(at), None, Some((_, _, words))) if at == indent => {
                words.extend(body.split_whitespace());
            }
            _ => {
                let (first, rest) = body.split_at(marker.unwrap_or(0));
                let prefix = format!("{}{}", " ".repeat(indent), first);
                let hanging = indent + first.chars().count();
                blocks.push((prefix, hanging, rest.split_whitespace().collect()));
                continues_at = Some(hanging);
            }
        }
    }

    let mut out = String::new();
    for (prefix, hanging, words) in blocks {
        let mut line = prefix;
        let mut empty = true;
        for word in words {
            let fits = line.chars().count() + word.chars().count() + usize::from(!empty) <= width;
            if !empty && !fits {
                out.push_str(line.trim_end());
                out.push('\n');
                line = " ".repeat(hanging);
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The width of a list marker and its space at the start of `body` (`- `, `* `, `12. `).
fn list_marker(body: &str) -> Option<usize> {
    if body.starts_with("- ") || body.starts_with("* ") {
        return Some(2);
    }
    let digits = body.chars().take_while(char::is_ascii_digit).count();
    (digits > 0 && body[digits..].starts_with(". ")).then_some(digits + 2)
}

/// Whether a key event asks to stop waiting: Enter (a line feed in raw mode reads as Ctrl-J),
/// Esc or Ctrl-C.
fn is_back(key: &Key) -> bool {
    let Key::Key(key) = key else {
        return false;
    };
    if key.kind != KeyEventKind::Press {
        return false;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let ctrl_key = ctrl && matches!(key.code, KeyCode::Char('c' | 'j'));
    matches!(key.code, KeyCode::Enter | KeyCode::Esc) || ctrl_key
}

/// Watches the keyboard for up to `pause`; `true` when the person asked to go back.
fn asked_back(pause: Duration) -> bool {
    let deadline = Instant::now() + pause;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        match event::poll(left) {
            Ok(true) => {
                if event::read().is_ok_and(|key| is_back(&key)) {
                    return true;
                }
            }
            Ok(false) | Err(_) => return false,
        }
    }
}

impl Responder for Terminal {
    fn authenticate(&mut self, person: &str) -> Result<Zeroizing<String>, Stop> {
        outln!(
            "{}",
            wrap(
                &format!(
                    "This runbook's approvals exclude the person who opens the incident, so \
                     custos checks that you are {person}."
                ),
                WIDTH
            )
            .trim_end()
        );
        let passphrase = asked(
            Password::new(&format!("Passphrase for {person}:"))
                .without_confirmation()
                .with_display_mode(PasswordDisplayMode::Hidden)
                .prompt(),
        )?;
        Ok(Zeroizing::new(passphrase))
    }

    fn interactive(&self) -> bool {
        true
    }

    fn inputs(&mut self, inputs: &[Input]) -> Result<Map<String, Value>, Stop> {
        let mut values = Map::new();
        if !inputs.is_empty() {
            outln!("{}", self.heading("Before the first step, a few facts:"));
        }
        for input in inputs {
            if let Some(value) = ask_value(input)? {
                values.insert(input.name.clone(), value);
            }
        }
        Ok(values)
    }

    fn participants(&mut self) -> Result<Vec<Participant>, Stop> {
        outln!(
            "{}",
            self.heading("This runbook is a key ceremony. Record who takes part.")
        );
        let validator = |text: &str| {
            let parsed = parse_participants(text);
            Ok(if parsed.is_empty() {
                Validation::Invalid(
                    "write id:role pairs, like alice:custodian, bob:custodian".into(),
                )
            } else {
                Validation::Valid
            })
        };
        let text = asked(
            Text::new("Participants (id:role, separated by commas):")
                .with_help_message("roster ids or names of outside witnesses")
                .with_validator(validator)
                .prompt(),
        )?;
        Ok(parse_participants(&text))
    }

    fn arrive(&mut self, view: &View<'_>) {
        let node = view.node;
        let phase = node.phase.map_or("", |phase| phase.label());
        let mut facts = format!("Step {} · {}", view.step, node.kind_name());
        if !phase.is_empty() {
            facts.push_str(&format!(" · {phase}"));
        }
        if view.visit > 1 {
            facts.push_str(&format!(" · visit {}", view.visit));
        }
        if view.rehearsal {
            facts.push_str(" · DRILL");
        }
        outln!("\n{}", "─".repeat(WIDTH));
        outln!("{}", wrap(&facts, WIDTH).trim_end());
        outln!("{}", self.heading(wrap(&node.title, WIDTH).trim_end()));
        if let Some(within) = node.within {
            outln!(
                "Time limit: {}",
                custos::runbook::checklist::friendly(within)
            );
        }
        if let Some(guidance) = &view.guidance {
            outln!("\n{}", reflow(guidance.trim_end(), WIDTH).trim_end());
        }
        let recent: Vec<&str> = view.recent.iter().map(String::as_str).collect();
        if recent.len() > 1 {
            let more = if view.step > recent.len() {
                "… → "
            } else {
                ""
            };
            outln!(
                "\n{}",
                wrap(&format!("Path: {more}{}", recent.join(" → ")), WIDTH).trim_end()
            );
        }
        outln!();
    }

    fn decide(&mut self, _: &View<'_>, options: &[Edge]) -> Result<Choice, Stop> {
        let labels = options.iter().map(|edge| edge.label.to_string()).collect();
        let mut notes = Vec::new();
        let option = choose_with_notes("Your decision:", labels, &mut notes)?;
        Ok(Choice { option, notes })
    }

    fn complete(&mut self, _: &View<'_>, fields: &[Input]) -> Result<Done, Stop> {
        let mut values = Map::new();
        for field in fields {
            if let Some(value) = ask_value(field)? {
                values.insert(field.name.clone(), value);
            }
        }
        let mut notes = Vec::new();
        choose_with_notes("When the step is done:", vec![DONE.to_owned()], &mut notes)?;
        Ok(Done {
            fields: values,
            notes,
        })
    }

    fn notes(&mut self, _: &View<'_>) -> Vec<String> {
        // The node's work is done and must be recorded, so this menu offers no pause: Esc and
        // Ctrl-C just go on.
        let mut notes = Vec::new();
        loop {
            let options = vec![GO_ON.to_owned(), NOTE.to_owned()];
            match Select::new("Before going on:", options).prompt().as_deref() {
                Ok(NOTE) => {
                    if let Ok(note) = Text::new("Note:").prompt()
                        && !note.trim().is_empty()
                    {
                        notes.push(note);
                    }
                }
                _ => return notes,
            }
        }
    }

    fn approve(
        &mut self,
        view: &View<'_>,
        require: &Requirement,
        already: &[String],
    ) -> Result<ApprovalMove, Stop> {
        let roles: Vec<&str> = require
            .roles
            .iter()
            .map(|role| role.name.as_str())
            .collect();
        let so_far = if already.is_empty() {
            "nobody yet".to_owned()
        } else {
            already.join(", ")
        };
        outln!(
            "{}",
            wrap(
                &format!(
                    "Needs {} different people with role {}. Approved so far: {so_far}.",
                    require.count,
                    roles.join(" or ")
                ),
                WIDTH
            )
            .trim_end()
        );
        let here = "Someone here approves now".to_owned();
        let wait = "Wait for an approval from another terminal".to_owned();
        let picked =
            asked(Select::new("Approval:", vec![here.clone(), wait, PAUSE.to_owned()]).prompt())?;
        if picked == PAUSE {
            return Err(Stop::Paused);
        }
        if picked != here {
            if let NodeKind::Approval { .. } = view.node.kind {
                outln!(
                    "{}",
                    wrap(
                        &format!(
                            "From another terminal: custos approve {} {} --as PERSON",
                            view.incident, view.node.id
                        ),
                        WIDTH
                    )
                    .trim_end()
                );
                outln!("Press Enter to go back to the menu.");
            }
            return Ok(ApprovalMove::Wait);
        }
        let person = asked(Text::new("Your id in the roster:").prompt())?;
        let passphrase = asked(
            Password::new("Your passphrase:")
                .without_confirmation()
                .with_display_mode(PasswordDisplayMode::Hidden)
                .prompt(),
        )?;
        Ok(ApprovalMove::Approve(Approver {
            person: person.trim().to_owned(),
            passphrase: Zeroizing::new(passphrase),
        }))
    }

    fn tell(&mut self, message: &str) {
        outln!("{}", wrap(&format!("→ {message}"), WIDTH).trim_end());
    }

    fn waiting(
        &mut self,
        view: &View<'_>,
        already: &[String],
        pause: Duration,
    ) -> Result<Waiting, Stop> {
        let so_far = if already.is_empty() {
            "none yet".to_owned()
        } else {
            already.join(", ")
        };
        let message = format!("waiting at `{}`; approved: {so_far}", view.node.id);
        match &self.spinner {
            Some(spinner) => spinner.set_message(message),
            None => {
                self.spin(message);
                self.raw = std::io::stdin().is_terminal() && terminal::enable_raw_mode().is_ok();
            }
        }

        if !self.raw {
            std::thread::sleep(pause);
            return Ok(Waiting::Still);
        }
        Ok(if asked_back(pause) {
            Waiting::Back
        } else {
            Waiting::Still
        })
    }

    fn working(&mut self, what: &str) {
        self.spin(format!("running {what}"));
    }

    fn finished(&mut self) {
        if let Some(spinner) = self.spinner.take() {
            spinner.finish_and_clear();
        }
        if self.raw {
            let _ = terminal::disable_raw_mode();
            self.raw = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{reflow, wrap};

    #[test]
    fn guidance_paragraphs_are_joined_and_list_items_wrap_under_their_text() {
        let guidance = "Write down when the first failure was seen. That time starts the clock \
                        for how long\nproduction runs on one HSM.\n\n1. Check the dashboards: \
                        are card authorisations or\n   PIN translations failing?\n- a dash item\n  \
                        pkcs11-tool --list-slots";

        assert_eq!(
            reflow(guidance, 40),
            "Write down when the first failure was\n\
             seen. That time starts the clock for how\n\
             long production runs on one HSM.\n\
             \n\
             1. Check the dashboards: are card\n   \
             authorisations or PIN translations\n   \
             failing?\n\
             - a dash item pkcs11-tool --list-slots\n"
        );
    }

    #[test]
    fn long_lines_wrap_within_the_width() {
        let text = "word ".repeat(40);
        assert!(
            wrap(&text, 30)
                .lines()
                .all(|line| line.chars().count() <= 30)
        );
    }
}
