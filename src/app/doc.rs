//! `rmesos doc`: the modules and their arguments, read from the module registry.

use super::error::AppError;
use super::exit::Exit;
use crate::modules::{self, REGISTRY};
use clap::Args;

#[derive(Args)]
pub struct DocArgs {
    pub module: Option<String>,
    /// Print every module's argument table as Markdown (docs/compat.md is made from it).
    #[arg(long)]
    pub markdown: bool,
}

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
            None => Err(AppError::UnknownModule(name)),
            Some(m) => {
                let d = m.doc();
                println!("{} - {}\n", m.name(), d.summary);
                let others = modules::other_names(m);
                if !others.is_empty() {
                    println!("Also known as: {}\n", others.join(", "));
                }
                println!("ARGUMENTS:");
                for arg in d.args {
                    let mut line = format!("  {}", arg.name);
                    if !arg.aliases.is_empty() {
                        line.push_str(&format!(" (aliases: {})", arg.aliases.join(", ")));
                    }
                    if arg.required {
                        line.push_str(" [required]");
                    }
                    println!("{}", line);
                    println!("      {}", arg.help);
                    if !arg.choices.is_empty() {
                        println!("      choices: {}", arg.choices.join(", "));
                    }
                    if let Some(def) = arg.default {
                        println!("      default: {}", def);
                    }
                }
                println!("\nEXAMPLE:\n{}", d.example);
                Ok(Exit::Ok)
            }
        },
    }
}

/// Every module's arguments as Markdown, for docs/compat.md.
pub fn markdown() -> String {
    let mut mods: Vec<_> = REGISTRY.iter().collect();
    mods.sort_by_key(|m| m.name());
    let mut s = String::new();
    for m in mods {
        let d = m.doc();
        s.push_str(&format!("### {}\n\n{}\n\n", m.name(), d.summary));
        s.push_str(
            "| argument | aliases | required | default | choices |\n|---|---|---|---|---|\n",
        );
        for a in d.args {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                a.name,
                a.aliases.join(", "),
                if a.required { "yes" } else { "" },
                a.default.unwrap_or(""),
                a.choices.join(", ")
            ));
        }
        s.push('\n');
    }
    s
}
