//! `locale_gen` (community.general): makes a locale available (or not). One script lists the
//! generated locales (`locale -a`) and the line /usr/share/i18n/SUPPORTED has for the name;
//! the controller compares with Ansible's normalisation (`en_US.utf8` is `en_US.UTF-8`). When it
//! must change, a second script uncomments (or appends) the name's line in /etc/locale.gen and
//! runs `locale-gen` (Debian), or runs `locale-gen NAME` where there is no /etc/locale.gen
//! (Ubuntu); `absent` comments the line out, or removes it from /var/lib/locales/supported.d.

use crate::modules::doc::{dflt, one_of, req};
use crate::modules::packages::pkgkit::sections;
use crate::modules::remote::{host_error, q};
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, Presence, TaskContext};
use serde::Deserialize;

pub struct LocaleGen;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct LocaleGenArgs {
    name: String,
    #[serde(default)]
    state: Presence,
}

const ARGS: &[ArgDoc] = &[
    req(
        "name",
        "The locale (`en_US.UTF-8`), as /usr/share/i18n/SUPPORTED names it.",
    ),
    one_of(
        dflt(
            "state",
            "present",
            "present generates it; absent removes it.",
        ),
        &["present", "absent"],
    ),
];

/// Ansible's `LOCALE_NORMALIZATION`: `locale -a` prints encodings in either case.
const NORMALIZATION: &[(&str, &str)] = &[
    (".utf8", ".UTF-8"),
    (".eucjp", ".EUC-JP"),
    (".iso885915", ".ISO-8859-15"),
    (".cp1251", ".CP1251"),
    (".koi8r", ".KOI8-R"),
    (".armscii8", ".ARMSCII-8"),
    (".euckr", ".EUC-KR"),
    (".gbk", ".GBK"),
    (".gb18030", ".GB18030"),
    (".euctw", ".EUC-TW"),
];

fn fix_case(name: &str) -> String {
    NORMALIZATION
        .iter()
        .fold(name.to_string(), |n, (s, r)| n.replace(s, r))
}

/// Whether `locale -a`'s output lists `name`.
pub fn is_present(name: &str, listing: &str) -> bool {
    let want = fix_case(name);
    listing.lines().any(|l| fix_case(l.trim()) == want)
}

/// The name as an extended regex (the validated name holds only `.` as a special character).
fn name_re(name: &str) -> String {
    name.replace('.', "\\.")
}

fn probe(name: &str) -> String {
    format!(
        "export LC_ALL=C\necho @@present; locale -a 2>/dev/null\n\
         echo @@supported; grep -E {} /usr/share/i18n/SUPPORTED 2>/dev/null | head -n 1\nexit 0\n",
        q(&format!("^{}( |$)", name_re(name)))
    )
}

fn change(name: &str, line: &str, state: Presence) -> String {
    let re = name_re(name);
    let (sed, ubuntu) = match state {
        Presence::Present => (
            format!("s/^# *({re}( |$))/\\1/"),
            format!("locale-gen {} || exit 82\n", q(name)),
        ),
        Presence::Absent => (
            format!("s/^({re}( |$))/# \\1/"),
            format!(
                "for f in /var/lib/locales/supported.d/*; do [ -f \"$f\" ] || continue; grep -vE {re_q} \"$f\" > \"$f.rmesos\" && mv -f \"$f.rmesos\" \"$f\"; done\nlocale-gen --purge || exit 82\n",
                re_q = q(&format!("^{re}( |$)"))
            ),
        ),
    };
    let append = if state == Presence::Present {
        format!(
            "grep -qE {} \"$f\" || printf '%s\\n' {} >> \"$f.rmesos\"\n",
            q(&format!("^#? *{re}( |$)")),
            q(line)
        )
    } else {
        String::new()
    };
    format!(
        "command -v locale-gen >/dev/null 2>&1 || {{ echo 'locale-gen is not installed (the locales package)' >&2; exit 80; }}\n\
         f=/etc/locale.gen\n\
         if [ -f \"$f\" ]; then\n\
         sed -E {sed_q} \"$f\" > \"$f.rmesos\" || exit 81\n{append}\
         mv -f \"$f.rmesos\" \"$f\" || exit 81\nlocale-gen >/dev/null || exit 82\n\
         else\n{ubuntu}fi\n",
        sed_q = q(&sed)
    )
}

impl Module for LocaleGen {
    const NAME: &'static str = "locale_gen";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[("name", "the locale")],
        summary: "Generate (or remove) a locale: /etc/locale.gen and locale-gen.",
        args: ARGS,
        example: "- community.general.locale_gen:\n    name: en_US.UTF-8\n    state: present\n",
    };
    type Args = LocaleGenArgs;

    async fn run(&self, a: LocaleGenArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let valid = |c: char| c.is_ascii_alphanumeric() || "_.@-".contains(c);
        if a.name.is_empty() || !a.name.chars().all(valid) {
            return Err(ModuleError::failed(format!(
                "invalid locale name {:?}",
                a.name
            )));
        }
        let out = cx.run(&probe(&a.name), &[]).await?;
        let s = sections(&out.stdout_str());
        let present = is_present(&a.name, s.get("present").map(String::as_str).unwrap_or(""));
        let supported = s.get("supported").map(|l| l.trim()).unwrap_or("");
        let res = |changed| {
            Outcome::changed(changed)
                .with("name", a.name.as_str())
                .with("msg", "OK")
        };
        if present == (a.state == Presence::Present) {
            return Ok(res(false));
        }
        if a.state == Presence::Present && supported.is_empty() {
            return Ok(Outcome::fail(
                "The locale you've entered is not available on your system.",
            ));
        }
        if cx.check_mode {
            return Ok(res(true));
        }
        let w = cx.run(&change(&a.name, supported, a.state), &[]).await?;
        if w.rc != 0 {
            return Ok(Outcome::fail(host_error(
                &format!("cannot generate locale {}", a.name),
                &w,
            )));
        }
        Ok(res(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn locale_a_spellings_are_normalised() {
        assert!(is_present("en_US.UTF-8", "C\nC.utf8\nen_US.utf8\nPOSIX\n"));
        assert!(!is_present("de_DE.UTF-8", "C\nen_US.utf8\n"));
        assert!(is_present("C.UTF-8", "C.utf8\n"));
    }

    #[test]
    fn the_locale_gen_line_is_uncommented_or_appended() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("locale.gen");
        std::fs::write(
            &f,
            "# en_US ISO-8859-1\n# en_US.UTF-8 UTF-8\n# fr_FR.UTF-8 UTF-8\n",
        )
        .unwrap();
        // The script with the file path and locale-gen stubbed.
        let run = |name: &str, line: &str, st: Presence| {
            let s = change(name, line, st)
                .replace("/etc/locale.gen", f.to_str().unwrap())
                .replace("command -v locale-gen", "true")
                .replace("locale-gen >/dev/null", "true");
            let out = Command::new("sh").args(["-c", &s]).output().unwrap();
            assert!(out.status.success(), "{out:?}");
            std::fs::read_to_string(&f).unwrap()
        };
        let t = run("en_US.UTF-8", "en_US.UTF-8 UTF-8", Presence::Present);
        assert_eq!(
            t,
            "# en_US ISO-8859-1\nen_US.UTF-8 UTF-8\n# fr_FR.UTF-8 UTF-8\n"
        );
        let t = run("de_DE.UTF-8", "de_DE.UTF-8 UTF-8", Presence::Present);
        assert!(
            t.ends_with("# fr_FR.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\n"),
            "{t}"
        );
        let t = run("en_US.UTF-8", "", Presence::Absent);
        assert!(
            t.contains("# en_US.UTF-8 UTF-8\n") && !t.contains("\nen_US.UTF-8"),
            "{t}"
        );
    }
}
