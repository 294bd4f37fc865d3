//! `rmesos inventory`: the inventory as ansible-inventory shows it (`--list`, `--graph`,
//! `--host`).

use super::config::AnsibleCfg;
use super::error::AppError;
use super::exit::Exit;
use super::options::inventory_sources;
use super::session::Hosts;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct InventoryArgs {
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<String>,
    #[arg(long)]
    pub list: bool,
    #[arg(long)]
    pub graph: bool,
    /// With --graph: show variables.
    #[arg(long)]
    pub vars: bool,
    #[arg(long)]
    pub host: Option<String>,
    /// Group for --graph.
    pub group: Option<String>,
    #[arg(long = "playbook-dir")]
    pub playbook_dir: Option<PathBuf>,
    /// Refresh the cache of dynamic inventory sources (aws_ec2).
    #[arg(long = "flush-cache")]
    pub flush_cache: bool,
    #[command(flatten)]
    pub vault: super::vault::VaultArgs,
}

pub fn main(a: InventoryArgs) -> Result<Exit, AppError> {
    let cfg = AnsibleCfg::load(0)?;
    super::vault::install_keyring(&a.vault, &cfg)?;
    let hosts = Hosts {
        sources: inventory_sources(&a.inventory, &cfg).0,
        flush_cache: a.flush_cache,
    };
    let inv = hosts.load(a.playbook_dir.as_deref())?;
    if let Some(h) = &a.host {
        let host = inv.host(h).ok_or_else(|| AppError::NoSuchHost(h.clone()))?;
        let m: serde_json::Map<String, serde_json::Value> = host
            .vars
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect();
        // Vault-decrypted values stay hidden here too (ansible-inventory shows the ciphertext).
        let text = serde_json::to_string_pretty(&m).unwrap_or_default();
        println!("{}", crate::vault::censor(&text));
    } else if a.graph {
        if let Some(g) = &a.group
            && !inv.groups.contains_key(g)
        {
            return Err(AppError::NoSuchGroup(g.clone()));
        }
        let graph = inv.graph(a.group.as_deref(), a.vars);
        let text = crate::vault::censor(&graph);
        if text.ends_with('\n') {
            print!("{}", text);
        } else {
            println!("{}", text);
        }
    } else if a.list {
        let text = serde_json::to_string_pretty(&inv.to_list_json()).unwrap_or_default();
        println!("{}", crate::vault::censor(&text));
    } else {
        return Err(AppError::NoInventoryView);
    }
    Ok(Exit::Ok)
}
