//! Splitting `key=value` argument strings and free-form commands, as Ansible's `parse_kv` does:
//! tokens are separated by whitespace outside quotes and Jinja blocks (`{{ }}`, `{% %}`,
//! `{# #}`), a token is `key=value` when it has an unescaped `=` after its first character (the
//! key is whatever precedes it: `update-cache=yes` is an argument, as in Ansible), a value is
//! unquoted and its escapes decoded, and the tokens that are not arguments stay verbatim in
//! `_raw_params`. A module that takes no free-form text gets them there too, as Ansible's parser
//! gives them (`path= "{{ dir }}"` is `path=''` plus the raw text `"{{ dir }}"`): the module
//! refuses them when the task runs, with Ansible's message.

use crate::modules::FreeForm;

/// One whitespace-separated token and where it sits in the source string (byte offsets).
struct Token<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

/// Why an argument string cannot be split.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("unbalanced quotes")]
    Quotes,
    #[error("unbalanced Jinja block ({{{{ }}}}, {{% %}} or {{# #}})")]
    Jinja,
}

/// The result of splitting an argument string.
#[derive(Debug, Default, PartialEq)]
pub struct KvArgs {
    /// `key=value` arguments, in order; values are strings.
    pub args: Vec<(String, String)>,
    /// The free-form text left once the arguments are taken out (free-form modules only).
    pub raw: Option<String>,
}

/// Splits `s` for a module taking arguments the `free_form` way.
pub fn parse(s: &str, free_form: FreeForm) -> Result<KvArgs, KvError> {
    let tokens = tokenize(s)?;
    let mut out = KvArgs::default();
    let mut taken = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        let Some((key, value)) = split_pair(tok.text) else {
            continue;
        };
        let is_arg = match free_form {
            FreeForm::No => true,
            FreeForm::Yes { keys: None, .. } => true,
            FreeForm::Yes {
                keys: Some(keys), ..
            } => keys.contains(&key),
        };
        if is_arg {
            out.args
                .push((key.to_string(), decode_escapes(unquote(value))));
            taken.push(i);
        }
    }
    out.raw = raw_without(s, &tokens, &taken);
    Ok(out)
}

/// The source text with the taken tokens (and the whitespace that separated them) removed.
fn raw_without(s: &str, tokens: &[Token], taken: &[usize]) -> Option<String> {
    let mut cut: Vec<(usize, usize)> = Vec::new();
    for &i in taken {
        let tok = &tokens[i];
        if let Some(next) = tokens.get(i + 1) {
            cut.push((tok.start, next.start));
        } else if i > 0 {
            cut.push((tokens[i - 1].end, tok.end));
        } else {
            cut.push((tok.start, tok.end));
        }
    }
    let mut raw = String::new();
    let mut pos = 0;
    cut.sort();
    for (a, b) in cut {
        if a > pos {
            raw.push_str(&s[pos..a]);
        }
        pos = pos.max(b);
    }
    raw.push_str(&s[pos..]);
    let raw = raw.trim();
    (!raw.is_empty()).then(|| raw.to_string())
}

/// Splits on whitespace outside quotes and Jinja blocks; quotes are kept in the tokens.
fn tokenize(s: &str) -> Result<Vec<Token<'_>>, KvError> {
    let bytes = s.as_bytes();
    let mut tokens = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<u8> = None;
    // Closing delimiters of the Jinja blocks we are inside, innermost last.
    let mut jinja: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'{' && matches!(bytes.get(i + 1), Some(b'{' | b'%' | b'#')) {
            start.get_or_insert(i);
            jinja.push(match bytes[i + 1] {
                b'{' => b'}',
                other => other,
            });
            i += 2;
            continue;
        }
        if let Some(&close) = jinja.last() {
            if c == close && bytes.get(i + 1) == Some(&b'}') {
                jinja.pop();
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            if let Some(st) = start.take() {
                tokens.push(Token {
                    text: &s[st..i],
                    start: st,
                    end: i,
                });
            }
            i += 1;
            continue;
        }
        start.get_or_insert(i);
        if c == b'\\' {
            i += 2;
            continue;
        }
        if c == b'"' || c == b'\'' {
            quote = Some(c);
        }
        i += 1;
    }
    if quote.is_some() {
        return Err(KvError::Quotes);
    }
    if !jinja.is_empty() {
        return Err(KvError::Jinja);
    }
    if let Some(st) = start {
        tokens.push(Token {
            text: &s[st..],
            start: st,
            end: s.len(),
        });
    }
    Ok(tokens)
}

/// `key=value` at the first `=` after the token's first character that no backslash escapes,
/// as Ansible's `parse_kv` splits: the key is whatever precedes it (`update-cache`, `x.y`), so
/// a module's dashed aliases reach it. A quote before the `=` makes the token text, not a pair
/// (`"a=b"` quoted whole is a word of free-form text).
fn split_pair(tok: &str) -> Option<(&str, &str)> {
    let bytes = tok.as_bytes();
    let eq = (1..bytes.len()).find(|&i| bytes[i] == b'=' && bytes[i - 1] != b'\\')?;
    let key = tok[..eq].trim();
    if key.is_empty() || key.contains(['"', '\'', '{', '}']) {
        return None;
    }
    Some((key, &tok[eq + 1..]))
}

/// Removes one pair of matching surrounding quotes.
fn unquote(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// Decodes the escapes Python's `unicode_escape` knows (`\n`, `\t`, `\\`, `\"`, `\xHH`,
/// `\uHHHH`...), as Ansible does for `key=value` values; other backslashes stay.
fn decode_escapes(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&n) = chars.peek() else {
            out.push('\\');
            break;
        };
        let simple = match n {
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            '=' => Some('='),
            _ => None,
        };
        if let Some(s) = simple {
            chars.next();
            out.push(s);
            continue;
        }
        let hex_len = match n {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => 0,
        };
        if hex_len > 0 {
            let rest: String = chars.clone().skip(1).take(hex_len).collect();
            if rest.len() == hex_len
                && let Some(ch) = u32::from_str_radix(&rest, 16).ok().and_then(char::from_u32)
            {
                for _ in 0..=hex_len {
                    chars.next();
                }
                out.push(ch);
                continue;
            }
        }
        if n.is_digit(8) {
            let digits: String = chars
                .clone()
                .take(3)
                .take_while(|d| d.is_digit(8))
                .collect();
            if let Some(ch) = u32::from_str_radix(&digits, 8)
                .ok()
                .and_then(char::from_u32)
            {
                for _ in 0..digits.len() {
                    chars.next();
                }
                out.push(ch);
                continue;
            }
        }
        out.push('\\');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHELL: FreeForm = FreeForm::Yes {
        keys: Some(&["chdir", "creates", "removes", "executable"]),
        required: true,
    };

    fn pairs(k: &KvArgs) -> Vec<(&str, &str)> {
        k.args
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect()
    }

    #[test]
    fn kv_with_quotes_and_jinja() {
        let k = parse(
            r#"src={{ item }}.j2 dest="/etc/my app/{{ item | default('x y') }}" mode=0644"#,
            FreeForm::No,
        )
        .unwrap();
        assert_eq!(
            pairs(&k),
            vec![
                ("src", "{{ item }}.j2"),
                ("dest", "/etc/my app/{{ item | default('x y') }}"),
                ("mode", "0644"),
            ]
        );
        assert_eq!(k.raw, None);
    }

    #[test]
    fn kv_values_keep_inner_equals_and_decode_escapes() {
        let k = parse(r#"line='a=b' regexp=^x\\.y msg="tab\there""#, FreeForm::No).unwrap();
        assert_eq!(
            pairs(&k),
            vec![("line", "a=b"), ("regexp", "^x\\.y"), ("msg", "tab\there")]
        );
    }

    #[test]
    fn free_form_pulls_out_only_listed_keys() {
        let k = parse("FOO=1 ./run.sh chdir=/tmp", SHELL).unwrap();
        assert_eq!(pairs(&k), vec![("chdir", "/tmp")]);
        assert_eq!(k.raw.as_deref(), Some("FOO=1 ./run.sh"));
    }

    #[test]
    fn free_form_keeps_quoted_text_verbatim() {
        let k = parse(r#"creates=/x echo "a=b  c" '{{ y }}' | grep -q "z""#, SHELL).unwrap();
        assert_eq!(pairs(&k), vec![("creates", "/x")]);
        assert_eq!(
            k.raw.as_deref(),
            Some(r#"echo "a=b  c" '{{ y }}' | grep -q "z""#)
        );
    }

    #[test]
    fn free_form_multiline_keeps_newlines() {
        let k = parse("set -e\ncd /x && make\n", SHELL).unwrap();
        assert_eq!(k.raw.as_deref(), Some("set -e\ncd /x && make"));
    }

    #[test]
    fn free_form_with_only_args() {
        let k = parse("chdir=/tmp", SHELL).unwrap();
        assert_eq!(k.raw, None);
    }

    #[test]
    fn jinja_with_spaces_is_one_token() {
        let k = parse("msg={{ a ~ ' ' ~ b }} {% if x %}y{% endif %}", SHELL).unwrap();
        assert!(k.args.is_empty());
        let k = parse("msg={{ a ~ ' ' ~ b }}", FreeForm::No).unwrap();
        assert_eq!(pairs(&k), vec![("msg", "{{ a ~ ' ' ~ b }}")]);
    }

    #[test]
    fn bad_input() {
        assert_eq!(
            KvError::Jinja.to_string(),
            "unbalanced Jinja block ({{ }}, {% %} or {# #})"
        );
        assert!(
            parse("msg='oops", FreeForm::No)
                .unwrap_err()
                .to_string()
                .contains("quotes")
        );
        assert!(
            parse("msg={{ x", FreeForm::No)
                .unwrap_err()
                .to_string()
                .contains("Jinja")
        );
    }

    #[test]
    fn keys_are_what_precedes_the_first_unescaped_equals() {
        let k = parse("update-cache=yes x.y=1 msg==z a\\=b =c", FreeForm::No).unwrap();
        assert_eq!(
            pairs(&k),
            vec![("update-cache", "yes"), ("x.y", "1"), ("msg", "=z")]
        );
    }

    #[test]
    fn a_space_after_equals_leaves_an_empty_value_and_raw_text() {
        // Ansible's parse_kv: {'path': '', 'state': 'directory', '_raw_params': '"{{ dir }}"'}.
        let k = parse(r#"path= "{{ dir }}" state=directory"#, FreeForm::No).unwrap();
        assert_eq!(pairs(&k), vec![("path", ""), ("state", "directory")]);
        assert_eq!(k.raw.as_deref(), Some(r#""{{ dir }}""#));
        let k = parse("hello", FreeForm::No).unwrap();
        assert_eq!(k.raw.as_deref(), Some("hello"));
    }
}
