//! Where a place inside a scalar's text sits in the file.
//!
//! YAML changes text on the way in: a block scalar (`|`) loses its indentation, a folded one
//! (`>`) joins lines with spaces, a quoted one loses its quotes and escapes. So an offset into
//! a template is not an offset from the start of its value in the file. [`SourceMap::locate`]
//! walks both texts side by side, matching the characters that are not white space (the only
//! ones those changes keep), which lands on the right line and column for every style; escapes
//! may shift a position by a character or two.

use super::model::Pos;

/// A runbook file's text, with the start of each line.
pub struct SourceMap<'s> {
    source: &'s str,
    lines: Vec<usize>,
}

/// How far past a mismatch the walk looks for the next character before it gives up on it.
const SLACK: usize = 16;

impl<'s> SourceMap<'s> {
    pub fn new(source: &'s str) -> Self {
        let mut lines = vec![0];
        lines.extend(source.match_indices('\n').map(|(at, _)| at + 1));
        Self { source, lines }
    }

    /// The file position of byte `offset` of `text`, the value of a scalar that starts at `at`,
    /// `width` characters wide.
    pub fn locate(&self, at: Pos, text: &str, offset: usize, width: usize) -> Pos {
        let Some(mut cursor) = self.byte_of(at) else {
            return at;
        };
        let rest = &self.source[cursor..];
        if rest.starts_with(['|', '>']) {
            // The value's position is its indicator; the text starts on the next line.
            cursor += rest.find('\n').map_or(rest.len(), |end| end + 1);
        } else if rest.starts_with(['"', '\'']) {
            cursor += 1;
        }

        let offset = floor_char_boundary(text, offset);
        for wanted in text[..offset].chars().filter(|c| !c.is_whitespace()) {
            if let Some(found) = self.find(cursor, wanted) {
                cursor = found + wanted.len_utf8();
            }
        }
        if let Some(wanted) = text[offset..].chars().find(|c| !c.is_whitespace())
            && let Some(found) = self.find(cursor, wanted)
        {
            cursor = found;
        }
        self.position(cursor, width)
    }

    /// The position of `key`, the key whose value starts at `value`: the last place it is
    /// written before the value.
    pub fn key_before(&self, value: Pos, key: &str) -> Pos {
        let width = key.chars().count();
        let Some(end) = self.byte_of(value) else {
            return value;
        };
        match self.source[..end].rfind(key) {
            Some(found) => self.position(found, width),
            None => value,
        }
    }

    /// Where `wanted` next appears from `cursor`, within a few characters.
    fn find(&self, cursor: usize, wanted: char) -> Option<usize> {
        self.source[cursor..]
            .char_indices()
            .take(SLACK)
            .find(|&(_, c)| c == wanted)
            .map(|(at, _)| cursor + at)
    }

    fn byte_of(&self, at: Pos) -> Option<usize> {
        let line = usize::try_from(at.line).ok()?.checked_sub(1)?;
        let start = *self.lines.get(line)?;
        let end = self
            .lines
            .get(line + 1)
            .copied()
            .unwrap_or(self.source.len());
        let column = usize::try_from(at.column).ok()?.saturating_sub(1);
        let within = self.source[start..end]
            .char_indices()
            .nth(column)
            .map_or(end - start, |(at, _)| at);
        Some(start + within)
    }

    fn position(&self, byte: usize, width: usize) -> Pos {
        let line = self.lines.partition_point(|&start| start <= byte).max(1);
        let start = self.lines[line - 1];
        let column = self.source[start..byte].chars().count() + 1;
        Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
            width: u32::try_from(width.max(1)).unwrap_or(1),
        }
    }
}

/// The largest char boundary of `text` at or below `offset`.
fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The byte offset of line `line`, column `column` (both from 1, the column in characters) of
/// `text`, or its end.
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(end) => start += end + 1,
            None => return text.len(),
        }
    }
    let end = text[start..]
        .find('\n')
        .map_or(text.len(), |end| start + end);
    text[start..end]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(end, |(at, _)| start + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, column: u32) -> Pos {
        Pos {
            line,
            column,
            width: 1,
        }
    }

    #[test]
    fn a_folded_scalar_maps_back_to_its_own_line() {
        let source = "guidance: >\n  first line {{a}}\n  second {{b}} here\n";
        let text = "first line {{a}} second {{b}} here\n";
        let map = SourceMap::new(source);
        let at = map.locate(pos(2, 3), text, text.find("{{b").unwrap_or(0), 5);
        assert_eq!((at.line, at.column), (3, 10));
    }

    #[test]
    fn a_literal_block_keeps_lines_and_strips_indentation() {
        let source = "x:\n  guidance: |\n    one\n    two {{b}}\n";
        let text = "one\ntwo {{b}}\n";
        let map = SourceMap::new(source);
        let at = map.locate(pos(3, 5), text, text.find("{{b").unwrap_or(0), 5);
        assert_eq!((at.line, at.column), (4, 9));
    }

    #[test]
    fn a_quoted_scalar_skips_its_quote_and_escapes() {
        let source = "guidance: \"say \\\"hi\\\" to {{b}}\"\n";
        let text = "say \"hi\" to {{b}}";
        let map = SourceMap::new(source);
        let at = map.locate(pos(1, 11), text, text.find("{{b").unwrap_or(0), 5);
        assert_eq!((at.line, at.column), (1, 26));
    }

    #[test]
    fn offsets_count_lines_and_characters() {
        assert_eq!(offset_of("ab\ncé d", 2, 3), 6);
        assert_eq!(offset_of("ab", 4, 1), 2);
    }
}
