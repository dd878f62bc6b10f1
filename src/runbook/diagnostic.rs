//! Problems found in a file, each with its position, rendered with the offending line.
//!
//! A [`Diagnostic`] is one problem; a [`Report`] is all the problems of one file with the text
//! they point into, rendered as `path:line:col: message` followed by the line and a caret.

use super::model::Pos;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub at: Option<Pos>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(at: Option<Pos>, message: impl Into<String>) -> Self {
        Self {
            at,
            message: message.into(),
            hint: None,
        }
    }

    pub fn at(at: Pos, message: impl Into<String>) -> Self {
        Self::new(Some(at), message)
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl Diagnostic {
    /// A serde-saphyr error as one diagnostic, without the position its text repeats.
    ///
    /// Every YAML file custos reads (runbooks, policies, answers) reports through here, so a
    /// repeated key or a syntax error reads the same wherever it is.
    pub fn from_yaml(error: &serde_saphyr::Error) -> Self {
        let at = error
            .location()
            .filter(|location| location.line() > 0)
            .map(|location| Pos {
                line: u32::try_from(location.line()).unwrap_or(u32::MAX),
                column: u32::try_from(location.column()).unwrap_or(u32::MAX),
                width: 1,
            });
        if let serde_saphyr::Error::DuplicateMappingKey { key, .. } = error.without_snippet() {
            let key = key.as_deref().unwrap_or("this key");
            let message = format!("`{key}` appears twice in the same mapping");
            let hint = "two entries with one name would silently become one; rename or remove one";
            return Self::new(at, message).with_hint(hint);
        }
        let message = error.without_snippet().to_string();
        let first = message
            .lines()
            .next()
            .unwrap_or("the file is not valid YAML");
        let first = match first.rfind(" at line ") {
            Some(cut) => &first[..cut],
            None => first,
        };
        Self::new(at, first.trim_end_matches(',').to_owned())
    }
}

/// Every problem of one file, ready to print.
#[derive(Debug)]
pub struct Report {
    pub path: PathBuf,
    pub source: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn new(path: &Path, source: String, mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics.sort_by_key(|diagnostic| diagnostic.at.map(|at| (at.line, at.column)));
        Self {
            path: path.to_owned(),
            source,
            diagnostics,
        }
    }
}

/// The lines of a text, found once so that many diagnostics can each show theirs.
struct Lines<'a>(Vec<&'a str>);

impl<'a> Lines<'a> {
    fn new(source: &'a str) -> Self {
        Self(source.lines().collect())
    }

    fn get(&self, number: u32) -> Option<&'a str> {
        let index = usize::try_from(number).ok()?.checked_sub(1)?;
        self.0.get(index).copied()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        let path = self.path.display();
        let lines = Lines::new(&self.source);
        for diagnostic in &self.diagnostics {
            let Some(at) = diagnostic.at.filter(|at| at.line > 0) else {
                writeln!(formatter, "{path}: {}", diagnostic.message)?;
                write_hint(formatter, 0, diagnostic)?;
                continue;
            };

            writeln!(
                formatter,
                "{path}:{}:{}: {}",
                at.line, at.column, diagnostic.message
            )?;
            let gutter = at.line.to_string().len();
            if let Some(line) = lines.get(at.line) {
                let snippet = Snippet::new(line, at);
                writeln!(formatter, "{:gutter$} |", "")?;
                writeln!(formatter, "{} | {}", at.line, snippet.text)?;
                writeln!(
                    formatter,
                    "{:gutter$} | {}{}",
                    "", snippet.indent, snippet.caret
                )?;
            }
            write_hint(formatter, gutter, diagnostic)?;
        }
        Ok(())
    }
}

/// The longest source line a diagnostic shows whole. A generated runbook can be one line of
/// megabytes; a longer line is cut to a window of [`SNIPPET`] characters.
const WHOLE: usize = 200;

/// How much of a line longer than [`WHOLE`] a diagnostic shows around the position.
const SNIPPET: usize = 100;

/// The part of a line a diagnostic shows, with the caret under the position.
struct Snippet {
    text: String,
    indent: String,
    caret: String,
}

impl Snippet {
    /// A line longer than [`WHOLE`] is cut to a window around the position, with `…` where
    /// text was left out.
    fn new(line: &str, at: Pos) -> Self {
        let chars: Vec<char> = line.chars().collect();
        let column = (at.column.saturating_sub(1) as usize).min(chars.len());
        let (start, end) = if chars.len() <= WHOLE {
            (0, chars.len())
        } else {
            let start = column
                .saturating_sub(SNIPPET / 4)
                .min(chars.len() - SNIPPET);
            (start, start + SNIPPET)
        };

        let mut text = String::new();
        let mut indent = String::new();
        if start > 0 {
            text.push('…');
            indent.push(' ');
        }
        text.extend(&chars[start..end]);
        if end < chars.len() {
            text.push('…');
        }
        indent.extend(
            chars[start..column]
                .iter()
                .map(|&c| if c == '\t' { '\t' } else { ' ' }),
        );
        let room = end.saturating_sub(column).max(1);
        let caret = "^".repeat((at.width as usize).clamp(1, room));
        Self {
            text,
            indent,
            caret,
        }
    }
}

fn write_hint(
    formatter: &mut fmt::Formatter,
    gutter: usize,
    diagnostic: &Diagnostic,
) -> fmt::Result {
    match &diagnostic.hint {
        Some(hint) => writeln!(formatter, "{:gutter$} = hint: {hint}", ""),
        None => Ok(()),
    }
}

/// The candidate closest to `word`, when one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let close = |candidate: &str| 2.max(candidate.len() / 4);
    let length = word.chars().count();
    candidates
        .into_iter()
        // The distance is at least the difference in length: skip the far ones cheaply.
        .filter(|candidate| candidate.chars().count().abs_diff(length) <= close(candidate))
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), candidate))
        .filter(|&(distance, candidate)| distance <= close(candidate) && distance > 0)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

/// `" (did you mean `x`?)"` or nothing.
pub fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map_or_else(String::new, |found| format!(" (did you mean `{found}`?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_typo_is_suggested() {
        assert_eq!(
            did_you_mean("destory_old", ["destroy_old", "notify"]),
            Some("destroy_old")
        );
    }

    #[test]
    fn a_distant_word_is_not_suggested() {
        assert_eq!(did_you_mean("zzz", ["destroy_old", "notify"]), None);
    }

    #[test]
    fn the_offending_line_is_shown_with_a_caret() {
        let source = "id: x\nstart: nowhere\n".to_owned();
        let diagnostic = Diagnostic::at(
            Pos {
                line: 2,
                column: 8,
                width: 7,
            },
            "no such node",
        );
        let report = Report::new(Path::new("r.yaml"), source, vec![diagnostic]);
        assert_eq!(
            report.to_string(),
            "r.yaml:2:8: no such node\n  |\n2 | start: nowhere\n  |        ^^^^^^^\n"
        );
    }

    #[test]
    fn a_long_line_is_cut_to_a_window_around_the_position() {
        let source = format!("nodes: {}x{}\n", "[".repeat(500), "]".repeat(500));
        let diagnostic = Diagnostic::at(
            Pos {
                line: 1,
                column: 508,
                width: 1,
            },
            "not a node",
        );
        let report = Report::new(Path::new("r.yaml"), source, vec![diagnostic]);
        let rendered = report.to_string();
        let lines: Vec<&str> = rendered.lines().collect();

        let shown = lines[2].strip_prefix("1 | ").unwrap_or_default();
        assert_eq!(shown.chars().count(), SNIPPET + 2, "{shown}");
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        let caret = lines[3].strip_prefix("  | ").unwrap_or_default();
        let under = shown.chars().nth(caret.len() - 1);
        assert_eq!(under, Some('x'), "{rendered}");
    }
}
