//! `rmesos doc`: the modules and their arguments, read from the module registry: each
//! argument's type (from the module's `Args` struct), default, aliases, choices and whether it
//! is required, and the values the module returns. docs/modules.md is `rmesos doc --markdown`.

use super::error::AppError;
use super::exit::Exit;
use crate::modules::{self, DynModule, REGISTRY};
use clap::Args;

#[derive(Args)]
pub struct DocArgs {
    pub module: Option<String>,
    /// Print every module's argument table as Markdown (docs/modules.md is made from it).
    #[arg(long)]
    pub markdown: bool,
}

/// What every result has, whatever the module.
const COMMON_RETURNS: &str = "changed, failed, msg (when there is one), diff (with --diff), \
                              skipped; loops add results";

pub fn main(a: DocArgs) -> Result<Exit, AppError> {
    if a.markdown {
        print!("{}", markdown());
        return Ok(Exit::Ok);
    }
    match a.module {
        None => {
            let mut names: Vec<_> = REGISTRY
                .iter()
                .map(|m| (m.name(), m.doc().summary))
                .collect();
            names.sort();
            let w = names.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
            for (n, s) in names {
                println!("{:<w$}  {}", n, s, w = w);
            }
            Ok(Exit::Ok)
        }
        Some(name) => match modules::lookup(&name) {
            None => Err(AppError::UnknownModule {
                hint: suggestion(&name),
                name,
            }),
            Some(m) => {
                print!("{}", text(m));
                Ok(Exit::Ok)
            }
        },
    }
}

/// "did you mean" for a module name that is not one: the closest name or alias, by edit
/// distance, FQCNs compared by their last part.
fn suggestion(name: &str) -> Option<String> {
    let short = name.rsplit('.').next().unwrap_or(name);
    let names: Vec<&str> = REGISTRY
        .iter()
        .flat_map(|m| std::iter::once(m.name()).chain(m.aliases().iter().copied()))
        .collect();
    crate::plan::closest(short, names.iter().copied()).map(str::to_string)
}

/// The type of a documented argument; an entry that documents several (`a, b (x), c`) gives
/// each distinct type once.
fn type_of(m: &dyn DynModule, names: &str) -> String {
    let mut types: Vec<String> = Vec::new();
    for n in names.split(", ") {
        let n = n.split(" (").next().unwrap_or(n).trim();
        let t = m.arg_type(n);
        if !types.contains(&t) {
            types.push(t);
        }
    }
    types.join(" / ")
}

/// One argument's facts: `type`, then `required`, `default`, `choices` and `aliases` when
/// they apply.
fn facts(m: &dyn DynModule, a: &modules::ArgDoc) -> Vec<String> {
    let mut f = vec![format!("type: {}", type_of(m, a.name))];
    if a.required {
        f.push("required".into());
    }
    if let Some(d) = a.default {
        f.push(format!("default: {d}"));
    }
    if !a.choices.is_empty() {
        f.push(format!("choices: {}", a.choices.join(", ")));
    }
    if !a.aliases.is_empty() {
        f.push(format!("aliases: {}", a.aliases.join(", ")));
    }
    f
}

/// `rmesos doc MODULE`.
fn text(m: &dyn DynModule) -> String {
    let d = m.doc();
    let mut s = format!("{} - {}\n\n", m.name(), d.summary);
    let others = modules::other_names(m);
    if !others.is_empty() {
        s.push_str(&format!("Also known as: {}\n\n", others.join(", ")));
    }
    s.push_str("ARGUMENTS:\n");
    for arg in d.args {
        s.push_str(&format!("  {}\n", arg.name));
        s.push_str(&format!("      {}\n", arg.help));
        s.push_str(&format!("      {}\n", facts(m, arg).join("; ")));
    }
    s.push_str("\nRETURNS:\n");
    let w = d.returns.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, help) in d.returns {
        s.push_str(&format!("  {name:<w$}  {help}\n"));
    }
    s.push_str(&format!("  (every result: {COMMON_RETURNS})\n"));
    s.push_str(&format!("\nEXAMPLE:\n{}\n", d.example));
    s
}

/// Every module's arguments and return values as Markdown, for docs/modules.md.
pub fn markdown() -> String {
    let mut mods: Vec<_> = REGISTRY.iter().collect();
    mods.sort_by_key(|m| m.name());
    let mut s = String::new();
    for m in mods {
        let d = m.doc();
        s.push_str(&format!("### {}\n\n{}\n\n", m.name(), d.summary));
        s.push_str(
            "| argument | type | aliases | required | default | choices |\n\
             |---|---|---|---|---|---|\n",
        );
        for a in d.args {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                a.name,
                type_of(*m, a.name),
                a.aliases.join(", "),
                if a.required { "yes" } else { "" },
                a.default.unwrap_or(""),
                a.choices.join(", ")
            ));
        }
        if !d.returns.is_empty() {
            let names: Vec<String> = d.returns.iter().map(|(n, _)| format!("`{n}`")).collect();
            s.push_str(&format!("\nReturns: {}.\n", names.join(", ")));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelled_module_gets_the_closest_name() {
        assert_eq!(suggestion("lineinfle").as_deref(), Some("lineinfile"));
        assert_eq!(
            suggestion("ansible.builtin.tempalte").as_deref(),
            Some("template")
        );
        assert_eq!(suggestion("kubernetes"), None);
    }

    #[test]
    fn the_page_has_types_defaults_choices_aliases_and_returns() {
        let copy = modules::lookup("copy").unwrap();
        let page = text(copy);
        assert!(page.contains("  dest\n"), "{page}");
        assert!(page.contains("type: str; required"), "{page}");
        assert!(page.contains("type: bool; default: "), "{page}");
        assert!(page.contains("RETURNS:\n  dest "), "{page}");
        assert!(page.contains("checksum"), "{page}");
        let file = text(modules::lookup("file").unwrap());
        assert!(file.contains("choices: "), "{file}");
        assert!(file.contains("aliases: dest, name"), "{file}");
    }

    /// Every documented argument has a type the Args struct gives (not a guess): a field the
    /// doc names but the struct does not have would come out as "any" with no record.
    #[test]
    fn every_argument_has_a_type() {
        for m in REGISTRY {
            for a in m.doc().args {
                let t = type_of(*m, a.name);
                assert!(!t.is_empty(), "{} {}", m.name(), a.name);
            }
        }
    }
}
