//! Values that came out of a vault: the report sinks replace each of them with `********`
//! wherever it appears (a message, a result, a diff, a JSON event), so a secret that was
//! templated into a larger string is hidden there too. By value, because a decrypted string
//! travels through templating, registers and facts where no mark would follow it.

use std::borrow::Cow;
use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Shorter values would censor ordinary words all over the output.
const MIN_LEN: usize = 3;

/// Registers a decrypted value (and its trimmed form, and each of its lines).
pub fn register_secret(value: &str) {
    let Ok(mut g) = SECRETS.write() else { return };
    let forms = std::iter::once(value)
        .chain(std::iter::once(value.trim()))
        .chain(value.lines());
    for form in forms {
        let form = form.trim();
        if form.chars().count() >= MIN_LEN && !g.iter().any(|s| s == form) {
            g.push(form.to_string());
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    g.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Registers every string of a decrypted vault file.
pub fn register_secrets_in(values: &[&str]) {
    values.iter().for_each(|v| register_secret(v));
}

/// The text with every registered secret replaced by `********`.
pub fn censor(text: &str) -> Cow<'_, str> {
    let Ok(g) = SECRETS.read() else {
        return Cow::Borrowed(text);
    };
    if g.is_empty() || !g.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in g.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "********");
        }
    }
    Cow::Owned(out)
}
