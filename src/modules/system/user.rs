//! `user`: creates, modifies and removes local accounts with useradd/usermod/userdel, and
//! generates an SSH key for them. One query script reads the account (getent passwd, its
//! groups, the shadow hash only when a password is given, the home and the key); a second runs
//! only when something differs. The password hash never appears in results, diffs or messages.

use super::group::Presence;
use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::remote::{host_error, parse_kv, q};
use crate::modules::{ArgDoc, FileDiff, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;
use std::collections::BTreeSet;

pub struct User;

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum UpdatePassword {
    #[default]
    Always,
    OnCreate,
}

fn yes() -> bool {
    true
}

fn default_key_type() -> String {
    "rsa".into()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct UserArgs {
    #[serde(alias = "user")]
    name: String,
    #[serde(default)]
    state: Presence,
    uid: Option<u32>,
    group: Option<String>,
    groups: Option<Vec<String>>,
    #[serde(default)]
    append: bool,
    shell: Option<String>,
    home: Option<String>,
    #[serde(default = "yes", alias = "createhome")]
    create_home: bool,
    #[serde(default)]
    move_home: bool,
    #[serde(default)]
    system: bool,
    #[serde(default)]
    remove: bool,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    non_unique: bool,
    password: Option<String>,
    #[serde(default)]
    update_password: UpdatePassword,
    comment: Option<String>,
    #[serde(default)]
    generate_ssh_key: bool,
    ssh_key_bits: Option<u32>,
    #[serde(default = "default_key_type")]
    ssh_key_type: String,
    ssh_key_file: Option<String>,
    ssh_key_comment: Option<String>,
    #[serde(default)]
    ssh_key_passphrase: String,
}

const ARGS: &[ArgDoc] = &[
    aka(req("name", "The account."), &["user"]),
    one_of(
        dflt("state", "present", "Whether the account exists."),
        &["present", "absent"],
    ),
    arg("uid", "The user id."),
    arg(
        "group",
        "Primary group (name or gid); it must exist. New accounts without one get a group of their own name.",
    ),
    arg(
        "groups",
        "Supplementary groups (list or comma-separated); they must exist. Without append the account is in exactly these ('' removes all).",
    ),
    dflt(
        "append",
        "no",
        "Add the groups to the account's others instead of replacing them.",
    ),
    arg("shell", "Login shell."),
    arg("home", "Home directory."),
    aka(
        dflt(
            "create_home",
            "yes",
            "Create the home directory (from /etc/skel) when the account is created or its home is missing.",
        ),
        &["createhome"],
    ),
    dflt(
        "move_home",
        "no",
        "With a new home, move the old one's contents there (usermod -m).",
    ),
    dflt(
        "system",
        "no",
        "Create a system account (useradd -r); no effect on an existing account.",
    ),
    dflt(
        "remove",
        "no",
        "With state=absent, remove the home directory and mail spool (userdel -r).",
    ),
    dflt(
        "force",
        "no",
        "With state=absent, remove even if logged in (userdel -f).",
    ),
    dflt(
        "non_unique",
        "no",
        "Allow a uid that another account has (-o).",
    ),
    arg(
        "password",
        "The crypt(3) hash (not the clear text) for /etc/shadow. Never shown; use no_log anyway.",
    ),
    one_of(
        dflt(
            "update_password",
            "always",
            "always: set the hash when it differs; on_create: only for new accounts.",
        ),
        &["always", "on_create"],
    ),
    arg("comment", "The GECOS field (full name)."),
    dflt(
        "generate_ssh_key",
        "no",
        "Generate an SSH key pair unless ssh_key_file exists; returns ssh_public_key.",
    ),
    arg("ssh_key_bits", "Key size (ssh-keygen's default if unset)."),
    dflt("ssh_key_type", "rsa", "Key type (ssh-keygen -t)."),
    dflt(
        "ssh_key_file",
        ".ssh/id_TYPE",
        "Key file; relative paths are under the home directory.",
    ),
    dflt(
        "ssh_key_comment",
        "ansible-generated on HOSTNAME",
        "Key comment.",
    ),
    dflt("ssh_key_passphrase", "''", "Passphrase of the new key."),
];

impl Module for User {
    const NAME: &'static str = "user";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("name", "the user"),
            ("uid", "its id"),
            ("group", "its primary group"),
            ("home", "its home"),
            ("shell", "its shell"),
            ("comment", "GECOS"),
            ("state", "present or absent"),
            ("system", "whether a system user"),
            ("ssh_key_file", "the key made (generate_ssh_key)"),
            ("ssh_public_key", "its public half"),
        ],
        summary: "Manage local user accounts and their SSH keys.",
        args: ARGS,
        example: "- user:\n    name: mesos\n    group: mesos\n    groups: docker\n    append: yes\n    shell: /bin/bash\n    system: yes\n",
    };
    type Args = UserArgs;

    async fn run(&self, a: UserArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let out = cx.run(&query_script(&a), &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error("cannot query the account", &out)));
        }
        let mut found = parse_found(&out.stdout_str());
        // As in Ansible, check mode reports an account it would create without checking its
        // groups: earlier tasks of the same check run may create them only in simulation.
        if cx.check_mode && found.account.is_none() {
            found.missing_groups.clear();
        }
        let plan = match plan(&a, &found) {
            Ok(p) => p,
            Err(e) => return Ok(Outcome::fail(e.to_string()).with("name", a.name.as_str())),
        };
        let changed = plan.command.is_some() || plan.make_home || plan.make_key;
        let mut outcome = Outcome::changed(changed)
            .with("name", a.name.as_str())
            .with("state", a.state.as_str());
        if a.state == Presence::Present {
            outcome = outcome.with("system", a.system);
            if let Some(acc) = &found.account {
                outcome = outcome
                    .with("uid", a.uid.unwrap_or(acc.uid))
                    .with("group", a.group.clone().unwrap_or(acc.group.clone()))
                    .with("home", a.home.clone().unwrap_or(acc.home.clone()))
                    .with("shell", a.shell.clone().unwrap_or(acc.shell.clone()))
                    .with("comment", a.comment.clone().unwrap_or(acc.comment.clone()));
            }
            if a.password.is_some() {
                outcome = outcome.with("password", "NOT_LOGGING_PASSWORD");
            }
            if let Some(k) = &found.ssh_pub {
                outcome = outcome.with("ssh_public_key", k.as_str());
            }
        }
        if cx.diff && changed {
            let mut before = String::new();
            let mut after = String::new();
            for (field, b, af) in &plan.changes {
                if !b.is_empty() {
                    before.push_str(&format!("{field}: {b}\n"));
                }
                if !af.is_empty() {
                    after.push_str(&format!("{field}: {af}\n"));
                }
            }
            if plan.password_changes {
                before.push_str("password: (hidden)\n");
                after.push_str("password: (changed, hidden)\n");
            }
            outcome.diff.push(FileDiff {
                path: format!("user {}", a.name),
                before,
                after,
            });
        }
        if cx.check_mode || !changed {
            return Ok(outcome);
        }
        let out = cx
            .run(&apply_script(&a, &plan, &found.hostname), &[])
            .await?;
        if out.rc != 0 {
            // The command line may hold the hash: report only what the host said.
            let mut failed = Outcome::fail(host_error("changing the account failed", &out));
            failed.result = outcome.result;
            return Ok(failed);
        }
        if let Some(k) = parse_kv(&out.stdout_str()).get("ssh_pub") {
            outcome = outcome
                .with("ssh_public_key", k.as_str())
                .with("ssh_key_file", a.key_file());
        }
        Ok(outcome)
    }
}

/// An account as `getent passwd` and the group database show it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    pub group: String,
    pub comment: String,
    pub home: String,
    pub shell: String,
    /// Supplementary groups: those that list the account as a member.
    pub groups: BTreeSet<String>,
    pub home_exists: bool,
}

/// What the query found.
#[derive(Clone, Debug, Default)]
pub struct Found {
    pub account: Option<Account>,
    /// Only read when a password is given; compared, never reported.
    pub shadow: Option<String>,
    /// Groups the task names that do not exist.
    pub missing_groups: Vec<String>,
    pub ssh_pub: Option<String>,
    pub hostname: String,
}

impl UserArgs {
    fn wanted_groups(&self) -> Option<BTreeSet<String>> {
        self.groups.as_ref().map(|g| {
            g.iter()
                .flat_map(|s| s.split(','))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    fn key_file(&self) -> String {
        self.ssh_key_file
            .clone()
            .unwrap_or_else(|| format!(".ssh/id_{}", self.ssh_key_type))
    }
}

fn query_script(a: &UserArgs) -> String {
    let mut s = format!(
        "n={}\nprintf 'hostname=%s\\n' \"$(hostname)\"\n\
         if e=$(getent passwd \"$n\"); then printf 'pw=%s\\n' \"$e\"\n\
         g=$(printf '%s' \"$e\" | cut -d: -f4); printf 'pgroup=%s\\n' \"$(getent group \"$g\" | cut -d: -f1)\"\n\
         printf 'groups='; getent group | while IFS=: read -r gn _ _ m; do case \",$m,\" in *\",$n,\"*) printf '%s,' \"$gn\";; esac; done; echo\n\
         h=$(printf '%s' \"$e\" | cut -d: -f6); [ -d \"$h\" ] && echo home_exists=1\n",
        q(&a.name)
    );
    if a.password.is_some() {
        s.push_str("printf 'shadow=%s\\n' \"$(getent shadow \"$n\" | cut -d: -f2)\"\n");
    }
    if a.generate_ssh_key {
        s.push_str(&format!(
            "k={}; case $k in /*) ;; *) k=\"$h/$k\";; esac\n[ -f \"$k.pub\" ] && printf 'ssh_pub=%s\\n' \"$(head -n1 \"$k.pub\")\"\n",
            q(&a.key_file())
        ));
    }
    s.push_str("fi\nmissing=\n");
    let mut names: Vec<&str> = a.group.iter().map(String::as_str).collect();
    let wanted = a.wanted_groups().unwrap_or_default();
    names.extend(wanted.iter().map(String::as_str));
    for g in names {
        s.push_str(&format!(
            "getent group {0} >/dev/null || missing=\"$missing\"{0},\n",
            q(g)
        ));
    }
    s.push_str("printf 'missing=%s\\n' \"$missing\"\n");
    s
}

pub fn parse_found(out: &str) -> Found {
    let kv = parse_kv(out);
    let account = kv.get("pw").and_then(|pw| {
        let f: Vec<&str> = pw.split(':').collect();
        let [_, _, uid, gid, comment, home, shell] = f[..] else {
            return None;
        };
        Some(Account {
            uid: uid.parse().ok()?,
            gid: gid.parse().ok()?,
            group: kv.get("pgroup").cloned().unwrap_or_default(),
            comment: comment.to_string(),
            home: home.to_string(),
            shell: shell.to_string(),
            groups: kv
                .get("groups")
                .map(|g| {
                    g.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            home_exists: kv.contains_key("home_exists"),
        })
    });
    Found {
        account,
        shadow: kv.get("shadow").cloned(),
        missing_groups: kv
            .get("missing")
            .map(|m| {
                m.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        ssh_pub: kv.get("ssh_pub").cloned().filter(|s| !s.is_empty()),
        hostname: kv.get("hostname").cloned().unwrap_or_default(),
    }
}

/// What to run: a useradd/usermod/userdel command line (None: the account matches), whether
/// to create a missing home, whether to generate a key, and the attributes that differ.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub command: Option<String>,
    pub make_home: bool,
    pub make_key: bool,
    /// `field: before -> after` for --diff (never the password).
    pub changes: Vec<(String, String, String)>,
    pub password_changes: bool,
}

fn group_matches(wanted: &str, acc: &Account) -> bool {
    wanted == acc.group || wanted.parse::<u32>().is_ok_and(|g| g == acc.gid)
}

pub fn plan(a: &UserArgs, f: &Found) -> Result<Plan, ModuleError> {
    let mut p = Plan::default();
    let name = q(&a.name);
    if a.state == Presence::Absent {
        if let Some(acc) = &f.account {
            let mut cmd = String::from("userdel");
            if a.remove {
                cmd.push_str(" -r");
            }
            if a.force {
                cmd.push_str(" -f");
            }
            p.command = Some(format!("{cmd} {name}"));
            p.changes
                .push(("uid".into(), acc.uid.to_string(), String::new()));
        }
        return Ok(p);
    }
    if !f.missing_groups.is_empty() {
        return Err(ModuleError::Failed(format!(
            "group(s) {} do not exist on this host (create them with the group module first)",
            f.missing_groups.join(", ")
        )));
    }
    let wanted_groups = a.wanted_groups();
    let mut flags: Vec<String> = Vec::new();
    let mut change = |flag: String, field: &str, before: String, after: String| {
        flags.push(flag);
        p.changes.push((field.to_string(), before, after));
    };
    match &f.account {
        None => {
            if let Some(uid) = a.uid {
                change(format!("-u {uid}"), "uid", String::new(), uid.to_string());
            }
            if let Some(g) = &a.group {
                change(format!("-g {}", q(g)), "group", String::new(), g.clone());
            }
            if let Some(gs) = wanted_groups.filter(|g| !g.is_empty()) {
                let list = gs.iter().cloned().collect::<Vec<_>>().join(",");
                change(format!("-G {}", q(&list)), "groups", String::new(), list);
            }
            if let Some(s) = &a.shell {
                change(format!("-s {}", q(s)), "shell", String::new(), s.clone());
            }
            if let Some(h) = &a.home {
                change(format!("-d {}", q(h)), "home", String::new(), h.clone());
            }
            if let Some(c) = &a.comment {
                change(format!("-c {}", q(c)), "comment", String::new(), c.clone());
            }
            let mut opts = String::new();
            if a.create_home {
                opts.push_str(" -m");
            } else {
                opts.push_str(" -M");
            }
            if a.system {
                opts.push_str(" -r");
            }
            if a.non_unique {
                opts.push_str(" -o");
            }
            if let Some(pw) = &a.password {
                opts.push_str(&format!(" -p {}", q(pw)));
                p.password_changes = true;
            }
            if p.changes.is_empty() {
                p.changes
                    .push(("name".into(), String::new(), a.name.clone()));
            }
            p.command = Some(format!("useradd{opts} {} {name}", flags.join(" ")));
            p.make_key = a.generate_ssh_key;
        }
        Some(acc) => {
            if let Some(uid) = a.uid.filter(|u| *u != acc.uid) {
                change(
                    format!("-u {uid}"),
                    "uid",
                    acc.uid.to_string(),
                    uid.to_string(),
                );
            }
            if let Some(g) = a.group.as_ref().filter(|g| !group_matches(g, acc)) {
                change(
                    format!("-g {}", q(g)),
                    "group",
                    acc.group.clone(),
                    g.clone(),
                );
            }
            if let Some(mut want) = wanted_groups {
                // The primary group is not a supplementary one.
                want.remove(&acc.group);
                let before = acc.groups.iter().cloned().collect::<Vec<_>>().join(",");
                if a.append {
                    if !want.is_subset(&acc.groups) {
                        let all: BTreeSet<_> = acc.groups.union(&want).cloned().collect();
                        let list = want.iter().cloned().collect::<Vec<_>>().join(",");
                        let after = all.into_iter().collect::<Vec<_>>().join(",");
                        change(format!("-a -G {}", q(&list)), "groups", before, after);
                    }
                } else if want != acc.groups {
                    let list = want.iter().cloned().collect::<Vec<_>>().join(",");
                    change(format!("-G {}", q(&list)), "groups", before, list);
                }
            }
            if let Some(s) = a.shell.as_ref().filter(|s| **s != acc.shell) {
                change(
                    format!("-s {}", q(s)),
                    "shell",
                    acc.shell.clone(),
                    s.clone(),
                );
            }
            if let Some(h) = a.home.as_ref().filter(|h| **h != acc.home) {
                let m = if a.move_home { " -m" } else { "" };
                change(
                    format!("-d {}{m}", q(h)),
                    "home",
                    acc.home.clone(),
                    h.clone(),
                );
            }
            if let Some(c) = a.comment.as_ref().filter(|c| **c != acc.comment) {
                change(
                    format!("-c {}", q(c)),
                    "comment",
                    acc.comment.clone(),
                    c.clone(),
                );
            }
            if let Some(pw) = &a.password
                && a.update_password == UpdatePassword::Always
                && f.shadow.as_deref() != Some(pw.as_str())
            {
                flags.push(format!("-p {}", q(pw)));
                p.password_changes = true;
            }
            if a.non_unique && a.uid.is_some_and(|u| u != acc.uid) {
                flags.push("-o".into());
            }
            if !flags.is_empty() {
                p.command = Some(format!("usermod {} {name}", flags.join(" ")));
            }
            // A home that moves is created by usermod -m; one that is just missing, here.
            let home_moves = a.home.as_ref().is_some_and(|h| *h != acc.home);
            p.make_home = a.create_home && !acc.home_exists && !(home_moves && a.move_home);
            if p.make_home {
                p.changes
                    .push(("home directory".into(), "absent".into(), "present".into()));
            }
            p.make_key = a.generate_ssh_key && f.ssh_pub.is_none();
        }
    }
    if p.make_key {
        p.changes
            .push(("ssh key".into(), String::new(), a.key_file()));
    }
    Ok(p)
}

fn apply_script(a: &UserArgs, p: &Plan, hostname: &str) -> String {
    let mut s = format!("n={}\n", q(&a.name));
    if let Some(cmd) = &p.command {
        s.push_str(&format!("{cmd} || exit 1\n"));
    }
    if a.state == Presence::Absent {
        return s;
    }
    s.push_str(
        "e=$(getent passwd \"$n\") || { echo \"account $n missing after useradd\" >&2; exit 1; }\n\
         h=$(printf '%s' \"$e\" | cut -d: -f6); ug=$(printf '%s' \"$e\" | cut -d: -f3,4)\n",
    );
    if p.make_home {
        s.push_str(
            "mkdir -p \"$h\" && cp -R /etc/skel/. \"$h\"/ 2>/dev/null; chown -R \"$ug\" \"$h\" || exit 1\n",
        );
    }
    if p.make_key {
        let comment = a
            .ssh_key_comment
            .clone()
            .unwrap_or_else(|| format!("ansible-generated on {hostname}"));
        let bits = a
            .ssh_key_bits
            .map(|b| format!(" -b {b}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "k={kf}; case $k in /*) ;; *) k=\"$h/$k\";; esac\n\
             d=$(dirname \"$k\"); if [ ! -d \"$d\" ]; then mkdir -p \"$d\" && chmod 700 \"$d\" && chown \"$ug\" \"$d\" || exit 1; fi\n\
             if [ ! -f \"$k\" ]; then ssh-keygen -q -t {t}{bits} -C {c} -N {pp} -f \"$k\" </dev/null >/dev/null || exit 1; chown \"$ug\" \"$k\" \"$k.pub\" || exit 1; fi\n\
             printf 'ssh_pub=%s\\n' \"$(head -n1 \"$k.pub\")\"\n",
            kf = q(&a.key_file()),
            t = q(&a.ssh_key_type),
            c = q(&comment),
            pp = q(&a.ssh_key_passphrase),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(j: serde_json::Value) -> UserArgs {
        crate::modules::decode(
            &minijinja::Value::from(minijinja::value::Serde(j)),
            crate::modules::DecodeMode::RunTime,
        )
        .unwrap()
    }

    const QUERY: &str = "hostname=h1\npw=mesos:x:1500:1500:Mesos User:/var/lib/mesos:/bin/sh\npgroup=mesos\ngroups=adm,docker,\nhome_exists=1\nshadow=$6$salt$hash\nmissing=\n";

    #[test]
    fn query_output_reads_as_an_account() {
        let f = parse_found(QUERY);
        let acc = f.account.unwrap();
        assert_eq!(
            (acc.uid, acc.gid, acc.group.as_str()),
            (1500, 1500, "mesos")
        );
        assert_eq!(acc.comment, "Mesos User");
        assert_eq!(acc.home, "/var/lib/mesos");
        assert_eq!(
            acc.groups.into_iter().collect::<Vec<_>>(),
            ["adm", "docker"]
        );
        assert!(acc.home_exists);
        assert_eq!(f.shadow.as_deref(), Some("$6$salt$hash"));
        let none = parse_found("hostname=h1\nmissing=ops,\n");
        assert!(none.account.is_none());
        assert_eq!(none.missing_groups, ["ops"]);
    }

    #[test]
    fn a_matching_account_is_left_alone() {
        let f = parse_found(QUERY);
        let a = args(serde_json::json!({
            "name": "mesos", "uid": 1500, "group": "mesos", "groups": "docker,adm",
            "shell": "/bin/sh", "home": "/var/lib/mesos", "comment": "Mesos User",
            "password": "$6$salt$hash",
        }));
        assert_eq!(plan(&a, &f).unwrap(), Plan::default());
        // With append, a subset of the current groups is enough; the gid stands for the group.
        let a = args(
            serde_json::json!({"name": "mesos", "group": "1500", "groups": ["adm"], "append": true}),
        );
        assert_eq!(plan(&a, &f).unwrap(), Plan::default());
    }

    #[test]
    fn differences_become_one_usermod() {
        let f = parse_found(QUERY);
        let a = args(serde_json::json!({
            "name": "mesos", "groups": "adm", "shell": "/bin/bash", "password": "$6$new",
        }));
        let p = plan(&a, &f).unwrap();
        assert_eq!(
            p.command.as_deref(),
            Some("usermod -G adm -s /bin/bash -p '$6$new' mesos")
        );
        assert!(p.password_changes);
        assert!(
            p.changes
                .iter()
                .all(|(_, b, af)| !b.contains("$6") && !af.contains("$6"))
        );
        let on_create = args(serde_json::json!({
            "name": "mesos", "password": "$6$new", "update_password": "on_create",
        }));
        assert_eq!(plan(&on_create, &f).unwrap().command, None);
        let append = args(serde_json::json!({"name": "mesos", "groups": "sudo", "append": "yes"}));
        assert_eq!(
            plan(&append, &f).unwrap().command.as_deref(),
            Some("usermod -a -G sudo mesos")
        );
        let none = args(serde_json::json!({"name": "mesos", "groups": ""}));
        assert_eq!(
            plan(&none, &f).unwrap().command.as_deref(),
            Some("usermod -G '' mesos")
        );
    }

    #[test]
    fn new_accounts_missing_groups_and_removal() {
        let f = parse_found("hostname=h1\nmissing=\n");
        let a = args(serde_json::json!({
            "name": "zk", "system": true, "createhome": "no", "shell": "/usr/sbin/nologin",
            "generate_ssh_key": true,
        }));
        let p = plan(&a, &f).unwrap();
        assert_eq!(
            p.command.as_deref(),
            Some("useradd -M -r -s /usr/sbin/nologin zk")
        );
        assert!(p.make_key);
        let missing = parse_found("hostname=h1\nmissing=ops,\n");
        let err = plan(
            &args(serde_json::json!({"name": "zk", "groups": "ops"})),
            &missing,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ops"), "{err}");
        let gone = args(serde_json::json!({"name": "mesos", "state": "absent", "remove": true}));
        assert_eq!(
            plan(&gone, &parse_found(QUERY)).unwrap().command.as_deref(),
            Some("userdel -r mesos")
        );
        assert_eq!(plan(&gone, &f).unwrap(), Plan::default());
    }
}
