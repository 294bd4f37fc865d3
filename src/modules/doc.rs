//! What `rmesos doc` and docs/modules.md say about a module: [`ModuleDoc`] with one [`ArgDoc`]
//! per argument, and the `const` builders every module writes its argument docs with
//! (`arg`, `req`, `dflt`, `aka`, `one_of`).

/// One argument, for `rmesos doc` and docs/compat.md.
pub struct ArgDoc {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub required: bool,
    pub default: Option<&'static str>,
    pub choices: &'static [&'static str],
    pub help: &'static str,
}

pub struct ModuleDoc {
    pub summary: &'static str,
    pub args: &'static [ArgDoc],
    pub example: &'static str,
}

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
