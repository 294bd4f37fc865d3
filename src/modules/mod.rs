//! Modules: one file each, grouped by category ([`files`], [`packages`], [`services`],
//! [`system`], [`commands`], [`databases`], [`utilities`], each with the helpers its modules
//! share beside them), registered once in [`REGISTRY`] (and under their collections' FQCNs in
//! [`COLLECTIONS`]). What every category shares sits here: the contract ([`Module`],
//! [`context`]), argument decoding ([`args`]), argument docs ([`doc`]), the shell building
//! blocks ([`remote`]) and async jobs ([`jobs`]: any module's scripts run detached from the
//! session, for `async`/`poll` and `async_status`). A module gets its arguments as a typed
//! struct (decoded by [`args::decode`] with Ansible's coercions), finds out what the host looks
//! like (one script, one round trip), changes only what differs (a second round trip when it
//! must), and says what it did in an [`Outcome`].
//!
//! Modules know a [`Connection`](crate::connection::Connection) through [`TaskContext`] and the
//! task's variables through the [`Templating`] trait; they know nothing of plays, inventories,
//! russh or minijinja environments. The executor knows modules only through [`DynModule`].

pub mod args;
pub mod commands;
pub mod context;
pub mod databases;
pub mod doc;
pub mod files;
pub mod jobs;
pub mod packages;
pub mod remote;
pub mod services;
pub mod system;
#[cfg(test)]
pub mod testutil;
#[cfg(test)]
mod testutil_misc;
pub mod utilities;

pub use args::{ArgError, DecodeMode, FileMode, Presence, decode};
pub use context::{FileDiff, ModuleError, Outcome, TaskContext, Templating, TemplatingError};
pub use doc::{ArgDoc, ModuleDoc};

use crate::connection::BoxFuture;
use minijinja::Value;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::OnceLock;

/// How a module takes a free-form string (`command: ls -l chdir=/tmp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeForm {
    /// Every token must be `key=value`.
    No,
    /// Tokens that are not `key=value` (or whose key is not in `keys`) form `_raw_params`.
    /// `keys: None` means every `key=value` token is an argument.
    Yes {
        keys: Option<&'static [&'static str]>,
        required: bool,
    },
}

/// What every module implements.
pub trait Module: Send + Sync + 'static {
    /// The short name; `ansible.builtin.NAME` and `ansible.legacy.NAME` resolve to it as well.
    const NAME: &'static str;
    /// Other names (legacy names such as `dnf5`); collection FQCNs go in [`COLLECTIONS`].
    const ALIASES: &'static [&'static str] = &[];
    const FREE_FORM: FreeForm = FreeForm::No;
    /// False for modules that run on the controller only (debug, set_fact, ...): they need no
    /// connection and are not retried on unreachable hosts.
    const NEEDS_HOST: bool = true;
    const DOC: ModuleDoc;
    type Args: DeserializeOwned + Send;

    /// Runs the module on `cx`'s host; modules write it as `async fn run(...)`.
    fn run(
        &self,
        args: Self::Args,
        cx: &TaskContext<'_>,
    ) -> impl Future<Output = Result<Outcome, ModuleError>> + Send;
}

/// The object-safe face of [`Module`] that the registry stores.
pub trait DynModule: Send + Sync {
    fn name(&self) -> &'static str;
    fn aliases(&self) -> &'static [&'static str];
    fn free_form(&self) -> FreeForm;
    fn needs_host(&self) -> bool;
    fn doc(&self) -> &'static ModuleDoc;
    /// The type of argument `name`, read from the `Args` struct ([`doc::arg_type`]).
    fn arg_type(&self, name: &str) -> String;
    /// Load-time check: unknown or missing arguments, wrong types and choices, with templated
    /// values standing in for any type.
    fn check_args(&self, args: &Value) -> Result<(), ArgError>;
    /// Run-time: `args` are fully templated. The one place a module's future is boxed.
    fn run_dyn<'a>(
        &'a self,
        args: &'a Value,
        cx: &'a TaskContext<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>>;
}

impl<M: Module> DynModule for M {
    fn name(&self) -> &'static str {
        M::NAME
    }
    fn aliases(&self) -> &'static [&'static str] {
        M::ALIASES
    }
    fn free_form(&self) -> FreeForm {
        M::FREE_FORM
    }
    fn needs_host(&self) -> bool {
        M::NEEDS_HOST
    }
    fn doc(&self) -> &'static ModuleDoc {
        &M::DOC
    }
    fn arg_type(&self, name: &str) -> String {
        doc::arg_type::<M::Args>(name)
    }
    fn check_args(&self, args: &Value) -> Result<(), ArgError> {
        decode::<M::Args>(args, DecodeMode::LoadTime).map(|_| ())
    }
    fn run_dyn<'a>(
        &'a self,
        args: &'a Value,
        cx: &'a TaskContext<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        if let Some(e) = raw_params_refused(M::NAME, M::FREE_FORM, args) {
            return Box::pin(std::future::ready(Err(e)));
        }
        match decode::<M::Args>(args, DecodeMode::RunTime) {
            Ok(a) => Box::pin(self.run(a, cx)),
            Err(e) => Box::pin(std::future::ready(Err(ModuleError::Failed(e.to_string())))),
        }
    }
}

/// Free-form text given to a module that takes none (`file: path= "{{ dir }}"` leaves
/// `"{{ dir }}"` over): the loader keeps it as Ansible does, and the task fails on the host that
/// reaches it with Ansible's message.
pub fn raw_params_refused(name: &str, free_form: FreeForm, args: &Value) -> Option<ModuleError> {
    if free_form != FreeForm::No {
        return None;
    }
    let raw = args
        .get_attr("_raw_params")
        .ok()
        .filter(|v| !v.is_undefined())?;
    Some(ModuleError::Failed(format!(
        "Action '{}' does not support raw params: `{}` is not a key=value argument (a space after `=` leaves the value empty and the rest as raw text)",
        name, raw
    )))
}

/// Every module, one line each. Adding a module: write its file, add it here.
pub static REGISTRY: &[&dyn DynModule] = &[
    &commands::command::Command,
    &commands::command::Shell,
    &utilities::debug::Debug,
    &utilities::set_fact::SetFact,
    &utilities::fail::Fail,
    &utilities::fail::Assert,
    &files::copy::Copy,
    &files::template::Template,
    &files::file::File,
    &files::lineinfile::LineInFile,
    &files::blockinfile::BlockInFile,
    &files::replace::Replace,
    &files::stat::Stat,
    &system::setup::Setup,
    &utilities::include_vars::IncludeVars,
    &utilities::wait_for::WaitFor,
    &utilities::ping::Ping,
    &commands::raw::Raw,
    &utilities::pause::Pause,
    &packages::apt::Apt,
    &packages::yum::Yum,
    &packages::yum::Dnf,
    &packages::package::Package,
    &packages::apt_repository::AptRepository,
    &packages::apt_key::AptKey,
    &packages::deb822_repository::Deb822Repository,
    &packages::pip::Pip,
    &files::ini_file::IniFile,
    &system::cron::Cron,
    &system::sysctl::Sysctl,
    &system::pam_limits::PamLimits,
    &system::mount::Mount,
    &commands::script::Script,
    &files::fetch::Fetch,
    &system::hostname::Hostname,
    &system::selinux::Selinux,
    &system::selinux::Seboolean,
    &system::modprobe::Modprobe,
    &files::get_url::GetUrl,
    &files::unarchive::Unarchive,
    &utilities::synchronize::Synchronize,
    &services::service::Service,
    &services::service::Systemd,
    &services::supervisorctl::Supervisorctl,
    &system::group::Group,
    &system::user::User,
    &system::authorized_key::AuthorizedKey,
    &system::timezone::Timezone,
    &system::locale_gen::LocaleGen,
    &services::service_facts::ServiceFacts,
    &packages::package_facts::PackageFacts,
    &databases::postgresql_db::PostgresqlDb,
    &databases::postgresql_user::PostgresqlUser,
    &databases::postgresql_privs::PostgresqlPrivs,
    &files::git::Git,
    &utilities::async_status::AsyncStatus,
    &system::alternatives::Alternatives,
    &system::iptables::Iptables,
    &system::ufw::Ufw,
];

/// The collections whose modules we implement under their short names, with the modules each
/// holds: `COLLECTION.NAME` resolves to our `NAME` (as `ansible.builtin.NAME` does for every
/// module). One table, so that a collection's FQCNs are only the ones that collection really
/// has (`community.general.copy` stays unknown).
pub static COLLECTIONS: &[(&str, &[&str])] = &[
    (
        "ansible.posix",
        &[
            "authorized_key",
            "mount",
            "seboolean",
            "selinux",
            "synchronize",
            "sysctl",
        ],
    ),
    (
        "community.general",
        &[
            "alternatives",
            "ini_file",
            "locale_gen",
            "modprobe",
            "pam_limits",
            "supervisorctl",
            "timezone",
            "ufw",
        ],
    ),
    (
        "community.postgresql",
        &["postgresql_db", "postgresql_privs", "postgresql_user"],
    ),
];

/// The names a module is also known by: its aliases, then its collection FQCNs.
pub fn other_names(m: &dyn DynModule) -> Vec<String> {
    let mut names: Vec<String> = m.aliases().iter().map(|a| a.to_string()).collect();
    for (collection, members) in COLLECTIONS {
        if members.contains(&m.name()) {
            names.push(format!("{collection}.{}", m.name()));
        }
    }
    names
}

/// Finds a module by short name, `ansible.builtin.`/`ansible.legacy.` name, collection FQCN
/// ([`COLLECTIONS`]) or alias.
pub fn lookup(name: &str) -> Option<&'static dyn DynModule> {
    static INDEX: OnceLock<HashMap<String, &'static dyn DynModule>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut m = HashMap::new();
        for module in REGISTRY {
            m.insert(module.name().to_string(), *module);
            m.insert(format!("ansible.builtin.{}", module.name()), *module);
            m.insert(format!("ansible.legacy.{}", module.name()), *module);
            for alias in module.aliases() {
                m.insert(alias.to_string(), *module);
            }
        }
        for (collection, names) in COLLECTIONS {
            for name in *names {
                if let Some(module) = m.get(*name).copied() {
                    m.insert(format!("{collection}.{name}"), module);
                }
            }
        }
        m
    });
    index.get(name).copied()
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    /// Every argument and alias a module documents is one its Args accept.
    #[test]
    fn documented_arguments_are_accepted() {
        for m in REGISTRY {
            for arg in m.doc().args {
                let names = std::iter::once(arg.name).chain(arg.aliases.iter().copied());
                for name in names {
                    if name.contains(' ') || name.chars().all(|c| c.is_ascii_uppercase()) {
                        continue; // placeholders such as "KEY" or "_raw_params (free form)"
                    }
                    let args = Value::from_pairs([(name, Value::from("{{ placeholder }}"))]);
                    if let Err(e) = m.check_args(&args) {
                        assert!(
                            !e.msg.contains("unsupported argument"),
                            "{}: documented argument `{}` is refused: {}",
                            m.name(),
                            name,
                            e
                        );
                    }
                }
            }
        }
    }

    /// Every module a collection lists is registered, and its FQCN finds it.
    #[test]
    fn collection_fqcns_resolve() {
        for (collection, names) in COLLECTIONS {
            for name in *names {
                let m = lookup(&format!("{collection}.{name}"));
                assert!(
                    m.is_some_and(|m| m.name() == *name || m.aliases().contains(name)),
                    "{collection}.{name} does not resolve"
                );
            }
        }
        assert!(lookup("community.general.copy").is_none());
        assert!(lookup("ansible.posix.sysctl").is_some_and(|m| m.name() == "sysctl"));
    }

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for m in REGISTRY {
            for n in std::iter::once(m.name()).chain(m.aliases().iter().copied()) {
                assert!(seen.insert(n), "module name {} registered twice", n);
            }
        }
    }
}
