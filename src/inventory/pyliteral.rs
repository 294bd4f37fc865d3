//! Python literals, as `ast.literal_eval` reads them: INI inventories pass every variable value
//! through it, so `42` is an int, `True` a bool, `[1, 2]` a list, `"x"` a string, and anything
//! that is not a literal (`yes`, `0644`, `a b`) stays the text it was.
//!
//! Tuples and sets become lists and complex numbers stay text, as Ansible 2.19 coerces them.

use indexmap::IndexMap;
use minijinja::Value;

/// The value of `text` read as a Python literal, or `None` when it is not one.
pub fn literal_eval(text: &str) -> Option<Value> {
    let mut p = Parser {
        s: text.trim_start_matches([' ', '\t']).as_bytes(),
        i: 0,
    };
    let v = p.expr()?;
    p.skip_space();
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Whitespace and a trailing `# comment` are not part of a literal.
    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' => self.i += 1,
                b'#' => self.i = self.s.len(),
                _ => break,
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Option<Value> {
        self.skip_space();
        match self.peek()? {
            b'-' | b'+' => {
                let neg = self.peek() == Some(b'-');
                self.i += 1;
                match Num::of(&self.expr()?) {
                    Num::Int(i) => Some(Value::from(if neg { -i } else { i })),
                    Num::Float(f) => Some(Value::from(if neg { -f } else { f })),
                    Num::Other => None,
                }
            }
            b'[' => {
                self.i += 1;
                let items = self.items(b']')?;
                Some(Value::from(items))
            }
            b'(' => {
                self.i += 1;
                self.tuple_or_group()
            }
            b'{' => {
                self.i += 1;
                self.dict_or_set()
            }
            b'0'..=b'9' | b'.' => self.number(),
            _ => self.word_or_string(),
        }
    }

    /// Comma-separated literals up to `close`; a trailing comma is allowed.
    fn items(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            if self.eat(close) {
                return Some(out);
            }
            out.push(self.expr()?);
            if self.eat(b',') {
                continue;
            }
            return self.eat(close).then_some(out);
        }
    }

    fn tuple_or_group(&mut self) -> Option<Value> {
        if self.eat(b')') {
            return Some(Value::from(Vec::<Value>::new()));
        }
        let first = self.expr()?;
        if self.eat(b')') {
            return Some(first);
        }
        if !self.eat(b',') {
            return None;
        }
        let mut rest = self.items(b')')?;
        rest.insert(0, first);
        Some(Value::from(rest))
    }

    fn dict_or_set(&mut self) -> Option<Value> {
        if self.eat(b'}') {
            return Some(Value::from(IndexMap::<Value, Value>::new()));
        }
        let first = self.expr()?;
        if !self.eat(b':') {
            // A set: Ansible turns it into a list.
            if self.eat(b'}') {
                return Some(Value::from(vec![first]));
            }
            if !self.eat(b',') {
                return None;
            }
            let mut rest = self.items(b'}')?;
            rest.insert(0, first);
            return Some(Value::from(rest));
        }
        let mut entries = vec![(first, self.expr()?)];
        loop {
            if self.eat(b'}') {
                return Some(Value::from(entries.into_iter().collect::<IndexMap<_, _>>()));
            }
            if !self.eat(b',') {
                return None;
            }
            if self.eat(b'}') {
                return Some(Value::from(entries.into_iter().collect::<IndexMap<_, _>>()));
            }
            let k = self.expr()?;
            if !self.eat(b':') {
                return None;
            }
            entries.push((k, self.expr()?));
        }
    }

    fn word_or_string(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.i += 1;
        }
        let word = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        match self.peek() {
            Some(b'\'' | b'"') => {
                let prefix = word.to_ascii_lowercase();
                if !matches!(prefix.as_str(), "" | "r" | "u" | "b" | "br" | "rb") {
                    return None;
                }
                self.strings(prefix.contains('r'))
            }
            _ => match word {
                "True" => Some(Value::from(true)),
                "False" => Some(Value::from(false)),
                "None" => Some(Value::from(())),
                _ => None,
            },
        }
    }

    /// One string literal, then any adjacent ones (`'a' "b"` is `ab`, as in Python).
    fn strings(&mut self, raw: bool) -> Option<Value> {
        let mut out = self.string(raw)?;
        loop {
            self.skip_space();
            let save = self.i;
            let mut prefix_raw = false;
            while let Some(c) = self.peek().filter(u8::is_ascii_alphabetic) {
                prefix_raw |= c.eq_ignore_ascii_case(&b'r');
                self.i += 1;
            }
            if matches!(self.peek(), Some(b'\'' | b'"')) {
                out.push_str(&self.string(prefix_raw)?);
            } else {
                self.i = save;
                return Some(Value::from(out));
            }
        }
    }

    fn string(&mut self, raw: bool) -> Option<String> {
        let quote = self.peek()?;
        let triple = self.s[self.i..].starts_with(&[quote; 3]);
        self.i += if triple { 3 } else { 1 };
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            if c == quote && (!triple || self.s[self.i..].starts_with(&[quote; 3])) {
                self.i += if triple { 3 } else { 1 };
                return String::from_utf8(out).ok();
            }
            self.i += 1;
            if c != b'\\' {
                out.push(c);
                continue;
            }
            let e = self.peek()?;
            self.i += 1;
            if raw {
                out.extend([b'\\', e]);
                continue;
            }
            let mut push = |ch: char| {
                let mut buf = [0; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            };
            match e {
                b'\n' => {}
                b'\\' | b'\'' | b'"' => push(e as char),
                b'n' => push('\n'),
                b't' => push('\t'),
                b'r' => push('\r'),
                b'a' => push('\x07'),
                b'b' => push('\x08'),
                b'f' => push('\x0c'),
                b'v' => push('\x0b'),
                b'0'..=b'7' => {
                    let start = self.i - 1;
                    while self.i < start + 3 && matches!(self.peek(), Some(b'0'..=b'7')) {
                        self.i += 1;
                    }
                    let code =
                        u32::from_str_radix(std::str::from_utf8(&self.s[start..self.i]).ok()?, 8)
                            .ok()?;
                    push(char::from_u32(code)?);
                }
                b'x' | b'u' | b'U' => {
                    let len = match e {
                        b'x' => 2,
                        b'u' => 4,
                        _ => 8,
                    };
                    let hex = std::str::from_utf8(self.s.get(self.i..self.i + len)?).ok()?;
                    let code = u32::from_str_radix(hex, 16).ok()?;
                    self.i += len;
                    push(char::from_u32(code)?);
                }
                // Python keeps unknown escapes as written (with a warning).
                _ => {
                    out.extend([b'\\', e]);
                }
            }
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
            || (self.i > start
                && matches!(self.s[self.i - 1], b'e' | b'E')
                && matches!(self.peek(), Some(b'+' | b'-'))
                && !self.s[start..].starts_with(b"0x")
                && !self.s[start..].starts_with(b"0X"))
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        match parse_number(text)? {
            Num::Int(i) => Some(Value::from(i)),
            Num::Float(f) => Some(Value::from(f)),
            Num::Other => None,
        }
    }
}

enum Num {
    Int(i128),
    Float(f64),
    /// Complex and other numbers Ansible keeps as text.
    Other,
}

impl Num {
    /// The number a parsed literal holds, for unary `-`/`+` (which apply to numbers only).
    fn of(v: &Value) -> Num {
        if v.kind() != minijinja::value::ValueKind::Number {
            return Num::Other;
        }
        if v.is_integer() {
            return i128::try_from(v.clone()).map_or(Num::Other, Num::Int);
        }
        f64::try_from(v.clone()).map_or(Num::Other, Num::Float)
    }
}

/// Python's int and float literal syntax (underscores between digits, `0x`/`0o`/`0b`, no
/// leading zeros on decimals other than zero itself).
fn parse_number(text: &str) -> Option<Num> {
    if text.ends_with(['j', 'J']) {
        return Some(Num::Other).filter(|_| parse_number(&text[..text.len() - 1]).is_some());
    }
    if !valid_underscores(text) {
        return None;
    }
    let clean = text.replace('_', "");
    let lower = clean.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            return i128::from_str_radix(digits, radix).ok().map(Num::Int);
        }
    }
    if lower.bytes().all(|c| c.is_ascii_digit()) {
        if lower.len() > 1 && lower.starts_with('0') && lower.bytes().any(|c| c != b'0') {
            return None;
        }
        return lower.parse::<i128>().ok().map(Num::Int);
    }
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let mantissa_ok = !mantissa.is_empty()
        && mantissa != "."
        && mantissa.bytes().filter(|&c| c == b'.').count() <= 1
        && mantissa.bytes().all(|c| c.is_ascii_digit() || c == b'.');
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit())
    });
    if !(mantissa_ok && exponent_ok && (mantissa.contains('.') || exponent.is_some())) {
        return None;
    }
    lower.parse::<f64>().ok().map(Num::Float)
}

/// Python allows `_` only between two digits.
fn valid_underscores(text: &str) -> bool {
    let b = text.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'_'
            || (i > 0
                && i + 1 < b.len()
                && b[i - 1].is_ascii_hexdigit()
                && b[i + 1].is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(s: &str) -> Option<Value> {
        literal_eval(s)
    }

    #[test]
    fn numbers() {
        assert_eq!(eval("42"), Some(Value::from(42)));
        assert_eq!(eval("-3"), Some(Value::from(-3)));
        assert_eq!(eval("1_000"), Some(Value::from(1000)));
        assert_eq!(eval("0x1F"), Some(Value::from(31)));
        assert_eq!(eval("0o17"), Some(Value::from(15)));
        assert_eq!(eval("00"), Some(Value::from(0)));
        assert_eq!(eval("1e3"), Some(Value::from(1000.0)));
        assert_eq!(eval(".5"), Some(Value::from(0.5)));
        assert_eq!(eval("2.5e-1"), Some(Value::from(0.25)));
        for not_literal in [
            "0644", "007", "1__0", "1.5.2", "1j", "1+2", "...", "1_", "inf",
        ] {
            assert_eq!(eval(not_literal), None, "{not_literal}");
        }
    }

    #[test]
    fn words_and_strings() {
        assert_eq!(eval("True"), Some(Value::from(true)));
        assert_eq!(eval("None"), Some(Value::from(())));
        assert_eq!(eval("true"), None);
        assert_eq!(eval("yes"), None);
        assert_eq!(eval("'a\\x41\\n'"), Some(Value::from("aA\n")));
        assert_eq!(eval(r"r'a\n'"), Some(Value::from(r"a\n")));
        assert_eq!(eval("u'uni'"), Some(Value::from("uni")));
        assert_eq!(
            eval("\"quoted\" 'adjacent'"),
            Some(Value::from("quotedadjacent"))
        );
        assert_eq!(eval("'''tri'ple'''"), Some(Value::from("tri'ple")));
        assert_eq!(eval("f'x'"), None);
        assert_eq!(eval("'open"), None);
        assert_eq!(eval("'\\d'"), Some(Value::from("\\d")));
    }

    #[test]
    fn containers_and_comments() {
        assert_eq!(
            eval("[1, 'a',]"),
            Some(Value::from(vec![Value::from(1), Value::from("a")]))
        );
        assert_eq!(eval("(1, 2)"), Some(Value::from(vec![1, 2])));
        assert_eq!(eval("(1)"), Some(Value::from(1)));
        assert_eq!(eval("{2}"), Some(Value::from(vec![2])));
        let d = eval("{'k': [1, {'n': None}], 2: 'two'}").unwrap();
        assert_eq!(d.get_attr("k").unwrap().len(), Some(2));
        assert_eq!(d.get_item(&Value::from(2)).unwrap(), Value::from("two"));
        assert_eq!(eval("{}").unwrap().len(), Some(0));
        assert_eq!(eval("5 # five"), Some(Value::from(5)));
        assert_eq!(eval("{k: 1}"), None);
        assert_eq!(eval("[1, 2"), None);
        assert_eq!(eval(""), None);
    }
}
