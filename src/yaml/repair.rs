//! Where saphyr (YAML 1.2, strict) refuses what libyaml (what Ansible reads with) accepts, in
//! ways content written for Ansible relies on: the text is rewritten at the spot saphyr names,
//! only in whitespace that carries no value, and parsed again.
//!
//! - A quoted scalar whose continuation lines sit left of the enclosing block's indentation
//!   (a Jinja block laid out over lines under `key: "{% if %}`): libyaml ignores indentation
//!   inside quoted scalars; leading whitespace of a continuation line is folded away, so
//!   indenting those lines changes nothing in the value.
//! - A tab between `:` and a value (`key:<TAB>value`): libyaml takes it as separation
//!   whitespace; a space in its place is the same separation, in the same column.
//!
//! Line numbers never change, so positions in later errors stay right (columns inside a
//! repaired quoted scalar shift, and nothing points there).

/// saphyr's messages for the two cases (pinned by Cargo.lock and the conformance tests).
const QUOTED_INDENT: &str = "invalid indentation in quoted scalar";
const TAB_AFTER_COLON: &str = "':' must be followed by a valid YAML whitespace";

/// The text repaired at the scan error (`info` at character `index`), or `None` when the
/// error is a real one.
pub(super) fn repair(text: &str, info: &str, index: usize) -> Option<String> {
    let at = text.char_indices().nth(index).map(|(b, _)| b)?;
    match info {
        QUOTED_INDENT => indent_quoted(text, at),
        TAB_AFTER_COLON => untab_after_colon(text, at),
        _ => None,
    }
}

/// Indents the continuation lines of the quoted scalar opening at byte `at` past its quote.
fn indent_quoted(text: &str, at: usize) -> Option<String> {
    let quote = text[at..]
        .chars()
        .next()
        .filter(|c| *c == '"' || *c == '\'')?;
    let end = closing_quote(text, at, quote)?;
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let pad = " ".repeat(text[line_start..at].chars().count() + 1);
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(&text[..at]);
    for (i, line) in text[at..end].split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            let blank = line.trim_matches([' ', '\t', '\r']).is_empty();
            if !blank && !starts_document_marker(line) {
                out.push_str(&pad);
            }
        }
        out.push_str(line);
    }
    out.push_str(&text[end..]);
    Some(out)
}

/// `---` or `...` at column 0 ends the document even inside quotes (an error either way).
fn starts_document_marker(line: &str) -> bool {
    (line.starts_with("---") || line.starts_with("..."))
        && line[3..].chars().next().is_none_or(|c| c.is_whitespace())
}

/// The byte offset of the quote that closes the scalar opened at `at`.
fn closing_quote(text: &str, at: usize, quote: char) -> Option<usize> {
    let mut chars = text[at + 1..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if quote == '"' && c == '\\' {
            chars.next();
        } else if c == quote {
            if quote == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                chars.next();
                continue;
            }
            return Some(at + 1 + i);
        }
    }
    None
}

/// Turns the tabs just before byte `at` (the value after `:`) into spaces.
fn untab_after_colon(text: &str, at: usize) -> Option<String> {
    let before = &text[..at];
    let ws = before.len() - before.trim_end_matches([' ', '\t']).len();
    if !before[at - ws..].contains('\t') || !before[..at - ws].ends_with(':') {
        return None;
    }
    let spaces = before[at - ws..].replace('\t', " ");
    Some(format!("{}{}{}", &before[..at - ws], spaces, &text[at..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_lines_indented_past_the_quote() {
        let t = "foo: \"{% if a %}\n  x\n{% endif %}\"\nbar: 1\n";
        let r = repair(t, QUOTED_INDENT, 5).unwrap();
        assert_eq!(
            r,
            "foo: \"{% if a %}\n        x\n      {% endif %}\"\nbar: 1\n"
        );
    }

    #[test]
    fn single_quotes_and_escapes_end_where_yaml_ends_them() {
        let t = "a: 'it''s\nb'\nc: \"x\\\"\ny\"\n";
        assert_eq!(closing_quote(t, 3, '\''), Some(11));
        assert_eq!(closing_quote(t, 16, '"'), Some(22));
    }

    #[test]
    fn tab_after_colon_becomes_a_space() {
        assert_eq!(
            repair("key:\tvalue\n", TAB_AFTER_COLON, 5).as_deref(),
            Some("key: value\n")
        );
        assert_eq!(repair("key value\n", TAB_AFTER_COLON, 4), None);
    }

    #[test]
    fn other_errors_are_left_alone() {
        assert_eq!(repair("a: [\n", "anything else", 3), None);
    }
}
