//! `--list-hosts`, `--list-tasks`, `--list-tags` (read from the plan, no host touched) and
//! `rmesos doc` (read from the module registry).

use super::{DocArgs, code};
use crate::exec::RunOptions;
use crate::inventory::Inventory;
use crate::modules::{self, REGISTRY};
use crate::plan::{Action, Playbook, TaskNode};
use std::collections::BTreeSet;

fn walk<'a>(nodes: &'a [TaskNode], out: &mut Vec<&'a crate::plan::Task>) {
    for n in nodes {
        match n {
            TaskNode::Task(t) => {
                out.push(t);
                if let Action::IncludeTasks {
                    preloaded: Some(p), ..
                }
                | Action::IncludeRole {
                    preloaded: Some(p), ..
                } = &t.action
                {
                    walk(p, out);
                }
            }
            TaskNode::Block(b) => {
                walk(&b.block, out);
                walk(&b.rescue, out);
                walk(&b.always, out);
            }
        }
    }
}

pub fn list(
    pb: &Playbook,
    inv: &Inventory,
    opts: &RunOptions,
    hosts: bool,
    tasks: bool,
    tags: bool,
) -> i32 {
    println!("\nplaybook: {}", pb.path.display());
    for (i, play) in pb.plays.iter().enumerate() {
        println!(
            "\n  play #{} ({}): {}\tTAGS: [{}]",
            i + 1,
            play.hosts,
            play.name,
            play.kw.tags.join(", ")
        );
        if hosts {
            let mut matched = match inv.select(&play.hosts) {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("ERROR! {}", e);
                    return code::LOAD_ERROR;
                }
            };
            if let Some(limit) = &opts.limit {
                match inv.select(limit) {
                    Ok(allowed) => matched.retain(|h| allowed.contains(h)),
                    Err(e) => {
                        eprintln!("ERROR! {}", e);
                        return code::LOAD_ERROR;
                    }
                }
            }
            println!("    pattern: {:?}", play.hosts);
            println!("    hosts ({}):", matched.len());
            for h in matched {
                println!("      {}", h);
            }
        }
        let mut all = vec![];
        for section in [&play.pre_tasks, &play.roles, &play.tasks, &play.post_tasks] {
            walk(section, &mut all);
        }
        if tasks {
            println!("    tasks:");
            for t in &all {
                if matches!(t.action, Action::Meta(_)) || !opts.tags.selects(&t.kw.tags) {
                    continue;
                }
                println!(
                    "      {}\tTAGS: [{}]",
                    t.display_name(),
                    t.kw.tags.join(", ")
                );
            }
        }
        if tags {
            let set: BTreeSet<&String> = all.iter().flat_map(|t| t.kw.tags.iter()).collect();
            println!(
                "      TASK TAGS: [{}]",
                set.into_iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    code::OK
}

pub fn doc(a: DocArgs) -> i32 {
    if a.markdown {
        print!("{}", markdown());
        return code::OK;
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
            code::OK
        }
        Some(name) => match modules::lookup(&name) {
            None => {
                eprintln!("ERROR! unknown module {:?}", name);
                code::BAD_OPTIONS
            }
            Some(m) => {
                let d = m.doc();
                println!("{} - {}\n", m.name(), d.summary);
                if !m.aliases().is_empty() {
                    println!("Also known as: {}\n", m.aliases().join(", "));
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
                code::OK
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
