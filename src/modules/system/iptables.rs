//! `iptables`: one rule (or a chain's policy, a flush, a user chain) in the running kernel's
//! tables, as Ansible's module has it: the rule's arguments are built in Ansible's order, `-C`
//! says whether it is there, and `-A`/`-I`/`-D` add or remove it. One script checks and (unless
//! in check mode) changes. Nothing is saved to disk (as in Ansible: use iptables-save).

use crate::modules::doc::{arg, dflt, one_of};
use crate::modules::remote::{host_error, parse_kv, q};
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, Presence, TaskContext};
use serde::Deserialize;

pub struct Iptables;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Append,
    Insert,
}

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum IpVersion {
    #[default]
    Ipv4,
    Ipv6,
}

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Syn {
    #[default]
    Ignore,
    Match,
    Negate,
}

fn filter() -> String {
    "filter".into()
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct IptablesArgs {
    #[serde(default = "filter")]
    table: String,
    chain: Option<String>,
    #[serde(default)]
    state: Presence,
    #[serde(default)]
    action: Action,
    rule_num: Option<String>,
    #[serde(default)]
    ip_version: IpVersion,
    policy: Option<String>,
    #[serde(default)]
    flush: bool,
    #[serde(default)]
    chain_management: bool,
    wait: Option<String>,
    protocol: Option<String>,
    source: Option<String>,
    destination: Option<String>,
    #[serde(default)]
    r#match: Vec<String>,
    jump: Option<String>,
    gateway: Option<String>,
    log_prefix: Option<String>,
    log_level: Option<String>,
    to_destination: Option<String>,
    #[serde(default)]
    destination_ports: Vec<String>,
    to_source: Option<String>,
    goto: Option<String>,
    in_interface: Option<String>,
    out_interface: Option<String>,
    fragment: Option<String>,
    set_counters: Option<String>,
    source_port: Option<String>,
    destination_port: Option<String>,
    to_ports: Option<String>,
    set_dscp_mark: Option<String>,
    set_dscp_mark_class: Option<String>,
    #[serde(default)]
    syn: Syn,
    #[serde(default)]
    ctstate: Vec<String>,
    src_range: Option<String>,
    dst_range: Option<String>,
    limit: Option<String>,
    limit_burst: Option<String>,
    uid_owner: Option<String>,
    gid_owner: Option<String>,
    reject_with: Option<String>,
    icmp_type: Option<String>,
    comment: Option<String>,
}

const ARGS: &[ArgDoc] = &[
    dflt("table", "filter", "filter, nat, mangle, raw or security."),
    arg("chain", "The chain (INPUT, a user chain...)."),
    one_of(
        dflt("state", "present", "Whether the rule is there."),
        &["present", "absent"],
    ),
    one_of(
        dflt(
            "action",
            "append",
            "append (-A) or insert (-I, at rule_num).",
        ),
        &["append", "insert"],
    ),
    arg("rule_num", "Position for action=insert."),
    one_of(
        dflt("ip_version", "ipv4", "iptables or ip6tables."),
        &["ipv4", "ipv6"],
    ),
    arg(
        "policy",
        "Set the chain's policy (ACCEPT, DROP...) instead of a rule.",
    ),
    dflt(
        "flush",
        "no",
        "Flush the chain (or the table) instead of a rule; always changed.",
    ),
    dflt(
        "chain_management",
        "no",
        "Create the chain when missing (state=present), delete it (state=absent with no rule arguments).",
    ),
    arg(
        "protocol, source, destination, match, jump, goto, in_interface, out_interface, fragment, source_port, destination_port, destination_ports, to_ports, to_destination, to_source, ctstate, src_range, dst_range, limit, limit_burst, uid_owner, gid_owner, reject_with, icmp_type, comment, log_prefix, log_level, set_counters, set_dscp_mark, set_dscp_mark_class, gateway, syn, wait",
        "The rule, as in Ansible (a leading `!` negates a value).",
    ),
];

/// `[! ]FLAG VALUE` (a value starting with `!` is negated).
fn param(rule: &mut Vec<String>, v: &Option<String>, flag: &str) {
    if let Some(v) = v {
        match v.strip_prefix('!') {
            Some(n) => rule.extend(["!".into(), flag.into(), n.trim().into()]),
            None => rule.extend([flag.into(), v.clone()]),
        }
    }
}

fn matcher(rule: &mut Vec<String>, on: bool, m: &str) {
    if on {
        rule.extend(["-m".into(), m.into()]);
    }
}

/// The rule's arguments, in the order Ansible's `construct_rule` gives them.
pub fn rule(a: &IptablesArgs) -> Vec<String> {
    let mut r = Vec::new();
    if let Some(w) = &a.wait {
        r.extend(["-w".into(), w.clone()]);
    }
    param(&mut r, &a.protocol, "-p");
    param(&mut r, &a.source, "-s");
    param(&mut r, &a.destination, "-d");
    for m in &a.r#match {
        r.extend(["-m".into(), m.clone()]);
    }
    param(&mut r, &a.jump, "-j");
    if a.jump
        .as_deref()
        .is_some_and(|j| j.eq_ignore_ascii_case("tee"))
    {
        param(&mut r, &a.gateway, "--gateway");
    }
    param(&mut r, &a.log_prefix, "--log-prefix");
    param(&mut r, &a.log_level, "--log-level");
    param(&mut r, &a.to_destination, "--to-destination");
    matcher(&mut r, !a.destination_ports.is_empty(), "multiport");
    if !a.destination_ports.is_empty() {
        r.extend(["--dports".into(), a.destination_ports.join(",")]);
    }
    param(&mut r, &a.to_source, "--to-source");
    param(&mut r, &a.goto, "-g");
    param(&mut r, &a.in_interface, "-i");
    param(&mut r, &a.out_interface, "-o");
    param(&mut r, &a.fragment, "-f");
    param(&mut r, &a.set_counters, "-c");
    param(&mut r, &a.source_port, "--source-port");
    param(&mut r, &a.destination_port, "--destination-port");
    param(&mut r, &a.to_ports, "--to-ports");
    param(&mut r, &a.set_dscp_mark, "--set-dscp");
    param(&mut r, &a.set_dscp_mark_class, "--set-dscp-class");
    match a.syn {
        Syn::Match => r.push("--syn".into()),
        Syn::Negate => r.extend(["!".into(), "--syn".into()]),
        Syn::Ignore => {}
    }
    if !a.ctstate.is_empty() {
        let flag = if a.r#match.iter().any(|m| m == "conntrack") {
            "--ctstate"
        } else if a.r#match.iter().any(|m| m == "state") {
            "--state"
        } else {
            matcher(&mut r, true, "conntrack");
            "--ctstate"
        };
        r.extend([flag.into(), a.ctstate.join(",")]);
    }
    let iprange = a.src_range.is_some() || a.dst_range.is_some();
    matcher(
        &mut r,
        iprange && !a.r#match.iter().any(|m| m == "iprange"),
        "iprange",
    );
    param(&mut r, &a.src_range, "--src-range");
    param(&mut r, &a.dst_range, "--dst-range");
    matcher(
        &mut r,
        a.limit.is_some() || a.limit_burst.is_some(),
        "limit",
    );
    param(&mut r, &a.limit, "--limit");
    param(&mut r, &a.limit_burst, "--limit-burst");
    matcher(
        &mut r,
        a.uid_owner.is_some() || a.gid_owner.is_some(),
        "owner",
    );
    param(&mut r, &a.uid_owner, "--uid-owner");
    param(&mut r, &a.gid_owner, "--gid-owner");
    if a.jump.is_none() && a.reject_with.is_some() {
        r.extend(["-j".into(), "REJECT".into()]);
    }
    param(&mut r, &a.reject_with, "--reject-with");
    let icmp = if a.ip_version == IpVersion::Ipv6 {
        "--icmpv6-type"
    } else {
        "--icmp-type"
    };
    param(&mut r, &a.icmp_type, icmp);
    matcher(&mut r, a.comment.is_some(), "comment");
    param(&mut r, &a.comment, "--comment");
    r
}

/// The script: decides and acts in one go, printing `changed=`.
fn script(a: &IptablesArgs, ipt: &str, check: bool) -> Result<String, String> {
    let t = format!("{ipt} -t {}", q(&a.table));
    let chain = a.chain.as_deref().map(q).unwrap_or_default();
    let act = |cmd: String| {
        if check {
            String::new()
        } else {
            format!("{cmd} || exit 81\n")
        }
    };
    let mut s = format!(
        "command -v {} >/dev/null 2>&1 || {{ echo 'iptables is not installed' >&2; exit 80; }}\n",
        ipt.split_whitespace().last().unwrap_or("iptables")
    );
    if a.flush {
        s.push_str(&act(format!("{t} -F {chain}")));
        s.push_str("echo changed=1\n");
        return Ok(s);
    }
    let need_chain = || a.chain.as_deref().ok_or("chain is required".to_string());
    if let Some(p) = &a.policy {
        need_chain()?;
        s.push_str(&format!(
            "cur=$({t} -L {chain} 2>/dev/null | sed -n '1s/.*(policy \\([A-Z]*\\).*/\\1/p')\n\
             if [ \"$cur\" = {p} ]; then echo changed=0; exit 0; fi\n{}echo changed=1\n",
            act(format!("{t} -P {chain} {p}")),
            p = q(p)
        ));
        return Ok(s);
    }
    need_chain()?;
    let r: Vec<String> = rule(a).iter().map(|x| q(x)).collect();
    let r = r.join(" ");
    let has_chain = format!("{t} -n -L {chain} >/dev/null 2>&1");
    if a.chain_management && a.state == Presence::Absent && r.is_empty() {
        s.push_str(&format!(
            "if {has_chain}; then {}echo changed=1; else echo changed=0; fi\n",
            act(format!("{t} -X {chain}"))
        ));
        return Ok(s);
    }
    s.push_str("c=0\n");
    if a.chain_management && a.state == Presence::Present {
        s.push_str(&format!(
            "if ! {has_chain}; then c=1; {}fi\n",
            act(format!("{t} -N {chain}"))
        ));
    }
    let add = match (a.action, &a.rule_num) {
        (Action::Insert, Some(n)) => format!("{t} -I {chain} {} {r}", q(n)),
        (Action::Insert, None) => format!("{t} -I {chain} {r}"),
        (Action::Append, _) => format!("{t} -A {chain} {r}"),
    };
    let (when, cmd) = match a.state {
        Presence::Present => ("!", add),
        Presence::Absent => ("", format!("{t} -D {chain} {r}")),
    };
    s.push_str(&format!(
        "if {when} {t} -C {chain} {r} 2>/dev/null; then c=1; {}fi\necho changed=$c\n",
        act(cmd)
    ));
    Ok(s)
}

impl Module for Iptables {
    const NAME: &'static str = "iptables";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("chain", "the chain"),
            ("table", "the table"),
            ("rule", "the rule"),
            ("state", "present or absent"),
            ("ip_version", "ipv4 or ipv6"),
            ("flush", "whether the chain was flushed"),
        ],
        summary: "Add or remove an iptables rule, set a chain's policy, flush, or manage a user chain (running tables only).",
        args: ARGS,
        example: "- iptables:\n    chain: INPUT\n    protocol: tcp\n    destination_port: '2181'\n    ctstate: [NEW]\n    jump: ACCEPT\n    comment: zookeeper\n",
    };
    type Args = IptablesArgs;

    async fn run(&self, a: IptablesArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let ipt = match a.ip_version {
            IpVersion::Ipv4 => "iptables",
            IpVersion::Ipv6 => "ip6tables",
        };
        run_with(ipt, a, cx).await
    }
}

async fn run_with(
    ipt: &str,
    a: IptablesArgs,
    cx: &TaskContext<'_>,
) -> Result<Outcome, ModuleError> {
    let s = script(&a, ipt, cx.check_mode).map_err(ModuleError::Failed)?;
    let out = cx.run(&s, &[]).await?;
    if out.rc != 0 {
        return Ok(Outcome::fail(host_error("iptables failed", &out)));
    }
    let changed = parse_kv(&out.stdout_str())
        .get("changed")
        .is_some_and(|c| c == "1");
    let ipv = match a.ip_version {
        IpVersion::Ipv4 => "ipv4",
        IpVersion::Ipv6 => "ipv6",
    };
    Ok(Outcome::changed(changed)
        .with("state", a.state.as_str())
        .with("table", a.table.as_str())
        .with("chain", a.chain.as_deref().unwrap_or(""))
        .with("rule", rule(&a).join(" "))
        .with("ip_version", ipv)
        .with("flush", a.flush))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use crate::modules::{DecodeMode, decode};
    use minijinja::Value;

    fn args(j: serde_json::Value) -> IptablesArgs {
        decode(
            &Value::from(minijinja::value::Serde(j)),
            DecodeMode::RunTime,
        )
        .unwrap()
    }

    #[test]
    fn rules_are_built_in_ansibles_order() {
        let a = args(
            serde_json::json!({"chain": "INPUT", "protocol": "tcp", "destination_port": "22",
            "ctstate": ["NEW", "ESTABLISHED"], "jump": "ACCEPT", "comment": "ssh", "source": "!10.0.0.0/8"}),
        );
        assert_eq!(
            rule(&a).join(" "),
            "-p tcp ! -s 10.0.0.0/8 -j ACCEPT --destination-port 22 -m conntrack --ctstate NEW,ESTABLISHED -m comment --comment ssh"
        );
    }

    /// Runs in a network namespace of its own (root and iproute2 needed), so the host's tables
    /// are never touched.
    #[tokio::test]
    async fn a_rule_is_added_once_and_removed_once() {
        let ns = format!("rmesos-ipt-{}", std::process::id());
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &ns])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return;
        }
        let h = Harness::new();
        let ipt = format!("ip netns exec {ns} iptables");
        let rule = serde_json::json!({"chain": "RMESOS", "chain_management": true, "protocol": "tcp",
            "destination_port": "2181", "jump": "ACCEPT", "comment": "zk"});
        let mut seen = Vec::new();
        for (state, check) in [
            ("present", true),
            ("present", false),
            ("present", false),
            ("absent", false),
            ("absent", false),
        ] {
            let mut j = rule.clone();
            j["state"] = state.into();
            let cx = h.cx(check);
            let o = run_with(&ipt, args(j), &cx).await.unwrap();
            assert!(!o.failed, "{state}: {:?}", o.msg);
            seen.push(o.changed);
        }
        let _ = std::process::Command::new("ip")
            .args(["netns", "delete", &ns])
            .status();
        assert_eq!(seen, [true, true, false, true, false]);
    }
}
