//! Small pieces the system-settings modules (cron, sysctl, mount, ini_file, pam_limits, ...)
//! share: a short way to write argument docs, and line handling for config files edited on the
//! controller. Knows nothing of any one module.

use super::ArgDoc;

/// An optional argument with no aliases, default or choices.
pub const fn arg(name: &'static str, help: &'static str) -> ArgDoc {
    ArgDoc {
        name,
        aliases: &[],
        required: false,
        default: None,
        choices: &[],
        help,
    }
}

/// A required argument.
pub const fn req(name: &'static str, help: &'static str) -> ArgDoc {
    ArgDoc {
        required: true,
        ..arg(name, help)
    }
}

/// An optional argument with a default.
pub const fn dflt(name: &'static str, default: &'static str, help: &'static str) -> ArgDoc {
    ArgDoc {
        default: Some(default),
        ..arg(name, help)
    }
}

/// The same doc with aliases.
pub const fn aka(d: ArgDoc, aliases: &'static [&'static str]) -> ArgDoc {
    ArgDoc { aliases, ..d }
}

/// The same doc with choices.
pub const fn one_of(d: ArgDoc, choices: &'static [&'static str]) -> ArgDoc {
    ArgDoc { choices, ..d }
}

/// Splits text into lines without their `\n` (a final newline makes no empty last line).
pub fn text_lines(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Joins lines back, each ending in `\n`.
pub fn join_lines(lines: &[String]) -> Vec<u8> {
    let mut out = String::new();
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out.into_bytes()
}
