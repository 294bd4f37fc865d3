//! `package_facts`: the installed packages as `ansible_facts.packages`, shaped as Ansible shapes
//! them: `{name: [{name, version, arch, category, source: apt}]}` (a list per name, as several
//! versions may be installed). One script asks each package manager the host has (dpkg-query,
//! rpm, apk) for one line per package; the controller parses. `strategy: first` (the default)
//! keeps the first manager that listed packages, `all` merges them. Nothing on the host changes.

use crate::modules::doc::{dflt, one_of};
use crate::modules::packages::pkgkit::sections;
use crate::modules::remote::host_error;
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use indexmap::IndexMap;
use minijinja::Value;
use serde::Deserialize;

pub struct PackageFacts;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    #[default]
    First,
    All,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct PackageFactsArgs {
    #[serde(default)]
    manager: Vec<String>,
    #[serde(default)]
    strategy: Strategy,
}

const ARGS: &[ArgDoc] = &[
    dflt(
        "manager",
        "auto",
        "Package managers to ask, in order: auto (all of them), apt (dpkg), rpm, apk.",
    ),
    one_of(
        dflt(
            "strategy",
            "first",
            "first: the first manager that lists packages; all: every manager's packages merged.",
        ),
        &["first", "all"],
    ),
];

/// Managers in the order `auto` tries them, with the query each runs.
const MANAGERS: &[(&str, &str, &str)] = &[
    (
        "apt",
        "dpkg-query",
        "dpkg-query -W -f '${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\t${Section}\\n'",
    ),
    (
        "rpm",
        "rpm",
        "rpm -qa --qf '%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{EPOCH}\\t%{ARCH}\\n'",
    ),
    ("apk", "apk", "apk info -v"),
];

fn script(managers: &[&str]) -> String {
    let mut s = String::from("export LC_ALL=C\n");
    for (name, tool, query) in MANAGERS.iter().filter(|m| managers.contains(&m.0)) {
        s.push_str(&format!(
            "if command -v {tool} >/dev/null 2>&1; then echo @@{name}; {query} 2>/dev/null; fi\n"
        ));
    }
    s.push_str("exit 0\n");
    s
}

fn pkg(fields: &[(&str, Option<&str>)], source: &str) -> Value {
    let mut m: IndexMap<&str, Value> = fields
        .iter()
        .map(|(k, v)| (*k, v.map(Value::from).unwrap_or(Value::from(()))))
        .collect();
    m.insert("source", Value::from(source));
    Value::from_pairs(m)
}

/// One manager's listing → (name, details) in order.
pub fn parse(manager: &str, text: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let item = match (manager, f.as_slice()) {
            // Installed (`ii`) or held-installed (`hi`) only, as apt's cache says is_installed.
            ("apt", [st, name, ver, arch, section]) if st.get(1..2) == Some("i") => {
                let fields = [
                    ("name", Some(*name)),
                    ("version", Some(*ver)),
                    ("arch", Some(*arch)),
                    ("category", Some(*section)),
                ];
                Some((name.to_string(), pkg(&fields, "apt")))
            }
            ("rpm", [name, ver, rel, epoch, arch]) => {
                let epoch = (*epoch != "(none)").then_some(*epoch);
                let fields = [
                    ("name", Some(*name)),
                    ("version", Some(*ver)),
                    ("release", Some(*rel)),
                    ("epoch", epoch),
                    ("arch", Some(*arch)),
                ];
                Some((name.to_string(), pkg(&fields, "rpm")))
            }
            ("apk", [nvr]) => {
                let parts: Vec<&str> = nvr.rsplitn(3, '-').collect();
                match parts.as_slice() {
                    [rel, ver, name] => {
                        let fields = [
                            ("name", Some(*name)),
                            ("version", Some(*ver)),
                            ("release", Some(*rel)),
                        ];
                        Some((name.to_string(), pkg(&fields, "apk")))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        out.extend(item);
    }
    out
}

impl Module for PackageFacts {
    const NAME: &'static str = "package_facts";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[(
            "ansible_facts.packages",
            "installed packages by name: [{name, version, arch, source}]",
        )],
        summary: "Gather the installed packages (dpkg, rpm or apk) into ansible_facts.packages.",
        args: ARGS,
        example: "- package_facts:\n- debug:\n    msg: \"nginx {{ ansible_facts.packages['nginx'][0].version }}\"\n  when: \"'nginx' in ansible_facts.packages\"\n",
    };
    type Args = PackageFactsArgs;

    async fn run(&self, a: PackageFactsArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let known: Vec<&str> = MANAGERS.iter().map(|m| m.0).collect();
        let mut wanted: Vec<&str> = Vec::new();
        for m in &a.manager {
            match m.to_lowercase().as_str() {
                "auto" => wanted.extend(&known),
                "apt" | "dpkg" => wanted.push("apt"),
                "rpm" => wanted.push("rpm"),
                "apk" => wanted.push("apk"),
                other => {
                    return Ok(Outcome::fail(format!(
                        "Unsupported package managers requested: {other}"
                    )));
                }
            }
        }
        if wanted.is_empty() {
            wanted = known;
        }
        let out = cx.run(&script(&wanted), &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error("cannot list packages", &out)));
        }
        let listed = sections(&out.stdout_str());
        let mut packages: IndexMap<String, Vec<Value>> = IndexMap::new();
        let mut found = 0;
        for m in &wanted {
            if a.strategy == Strategy::First && found > 0 {
                break;
            }
            let items = listed.get(*m).map(|t| parse(m, t)).unwrap_or_default();
            found += usize::from(!items.is_empty());
            for (name, details) in items {
                packages.entry(name).or_default().push(details);
            }
        }
        if found == 0 {
            return Ok(Outcome::fail(format!(
                "Could not detect a supported package manager from the following list: {wanted:?}"
            )));
        }
        let mut o = Outcome::ok();
        o.facts.insert(
            "packages".into(),
            Value::from_pairs(packages.into_iter().map(|(k, v)| (k, Value::from(v)))),
        );
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_lines_become_lists_of_installed_versions() {
        let text = "ii \tnginx\t1.22.1-9\tamd64\thttpd\nrc \told\t1.0\tall\tmisc\n\
                    ii \tlibc6\t2.36-9\tamd64\tlibs\n";
        let p = parse("apt", text);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].0, "nginx");
        let v = &p[0].1;
        assert_eq!(v.get_attr("version").unwrap().to_string(), "1.22.1-9");
        assert_eq!(v.get_attr("arch").unwrap().to_string(), "amd64");
        assert_eq!(v.get_attr("source").unwrap().to_string(), "apt");
    }

    #[test]
    fn rpm_and_apk_lines() {
        let p = parse("rpm", "bash\t5.1\t2.el9\t(none)\tx86_64\n");
        assert!(p[0].1.get_attr("epoch").unwrap().is_none());
        assert_eq!(p[0].1.get_attr("release").unwrap().to_string(), "2.el9");
        let p = parse("apk", "musl-utils-1.2.4-r2\n");
        assert_eq!(p[0].0, "musl-utils");
        assert_eq!(p[0].1.get_attr("version").unwrap().to_string(), "1.2.4");
    }

    #[tokio::test]
    async fn this_host_lists_its_dpkg_packages() {
        let h = crate::modules::testutil::Harness::new();
        let r = h
            .run(&PackageFacts, serde_json::json!({}), true, false)
            .await;
        if std::path::Path::new("/usr/bin/dpkg-query").exists() {
            assert!(!r.outcome.failed, "{:?}", r.outcome.msg);
            let p = &r.outcome.facts["packages"];
            let dpkg = p.get_item(&Value::from("dpkg")).unwrap();
            assert_eq!(
                dpkg.get_item(&Value::from(0))
                    .unwrap()
                    .get_attr("source")
                    .unwrap()
                    .to_string(),
                "apt"
            );
        }
    }
}
