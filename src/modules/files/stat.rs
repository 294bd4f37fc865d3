//! `stat`: reports a path's type, attributes and checksum in Ansible's `stat` dictionary, from
//! one `stat -c` script. Never changes anything.

use crate::modules::doc::{aka, dflt, one_of, req};
use crate::modules::remote::{host_error, parse_kv, q};
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;
use serde_json::{Map, json};

pub struct Stat;

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Md5,
    #[default]
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    fn command(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5sum",
            Algorithm::Sha1 => "sha1sum",
            Algorithm::Sha224 => "sha224sum",
            Algorithm::Sha256 => "sha256sum",
            Algorithm::Sha384 => "sha384sum",
            Algorithm::Sha512 => "sha512sum",
        }
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct StatArgs {
    #[serde(alias = "dest", alias = "name")]
    path: String,
    #[serde(default)]
    follow: bool,
    #[serde(default = "yes")]
    get_checksum: bool,
    #[serde(default, alias = "checksum", alias = "checksum_algo")]
    checksum_algorithm: Algorithm,
    // Accepted so roles that ask for them load; targets need not have `file` or `lsattr`.
    #[allow(dead_code)]
    #[serde(default, alias = "mime", alias = "mime_type", alias = "mime-type")]
    get_mime: bool,
    #[allow(dead_code)]
    #[serde(default, alias = "attr", alias = "attributes")]
    get_attributes: bool,
    #[serde(default)]
    get_md5: bool,
}

const ARGS: &[ArgDoc] = &[
    aka(req("path", "The path to look at."), &["dest", "name"]),
    dflt(
        "follow",
        "no",
        "Report on a symlink's target instead of the link.",
    ),
    dflt(
        "get_checksum",
        "yes",
        "Checksum regular files that are readable.",
    ),
    one_of(
        aka(
            dflt("checksum_algorithm", "sha1", "Checksum algorithm."),
            &["checksum", "checksum_algo"],
        ),
        &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"],
    ),
    aka(
        dflt(
            "get_mime",
            "no",
            "Accepted; no MIME type is reported (targets need only coreutils).",
        ),
        &["mime", "mime_type", "mime-type"],
    ),
    aka(
        dflt(
            "get_attributes",
            "no",
            "Accepted; no lsattr attributes are reported.",
        ),
        &["attr", "attributes"],
    ),
    dflt("get_md5", "no", "Also report md5 of regular files."),
];

impl Module for Stat {
    const NAME: &'static str = "stat";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[(
            "stat",
            "exists, path, mode, isdir, isreg, islnk, size, uid, gid, pw_name, gr_name, mtime, atime, ctime, inode, dev, nlink, checksum (get_checksum)...",
        )],
        summary: "Report a file's existence, type, attributes and checksum.",
        args: ARGS,
        example: "- stat:\n    path: /etc/mesos/zk\n  register: zk\n- debug: msg=present\n  when: zk.stat.exists\n",
    };
    type Args = StatArgs;

    async fn run(&self, a: StatArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let out = cx.run(&script(&a), &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error("cannot stat", &out)));
        }
        let kv = parse_kv(&out.stdout_str());
        let mut st = Map::new();
        let parts: Vec<&str> = kv
            .get("st")
            .map(|l| l.split('|').collect())
            .unwrap_or_default();
        if let [
            raw,
            mode,
            uid,
            gid,
            user,
            group,
            size,
            atime,
            mtime,
            ctime,
            inode,
            dev,
            nlink,
            _,
        ] = parts[..]
        {
            let raw = u32::from_str_radix(raw, 16).unwrap_or(0);
            let mode_bits = raw & 0o7777;
            let kind = raw & 0o170000;
            let num = |s: &str| s.parse::<u64>().unwrap_or(0);
            st.insert("exists".into(), json!(true));
            st.insert("path".into(), json!(a.path));
            st.insert(
                "mode".into(),
                json!(format!("{:04o}", u32::from_str_radix(mode, 8).unwrap_or(0))),
            );
            st.insert("isdir".into(), json!(kind == 0o040000));
            st.insert("isreg".into(), json!(kind == 0o100000));
            st.insert("islnk".into(), json!(kind == 0o120000));
            st.insert("isblk".into(), json!(kind == 0o060000));
            st.insert("ischr".into(), json!(kind == 0o020000));
            st.insert("isfifo".into(), json!(kind == 0o010000));
            st.insert("issock".into(), json!(kind == 0o140000));
            st.insert("uid".into(), json!(num(uid)));
            st.insert("gid".into(), json!(num(gid)));
            st.insert("pw_name".into(), json!(user));
            st.insert("gr_name".into(), json!(group));
            st.insert("size".into(), json!(num(size)));
            st.insert("atime".into(), json!(num(atime) as f64));
            st.insert("mtime".into(), json!(num(mtime) as f64));
            st.insert("ctime".into(), json!(num(ctime) as f64));
            st.insert("inode".into(), json!(num(inode)));
            st.insert("dev".into(), json!(num(dev)));
            st.insert("nlink".into(), json!(num(nlink)));
            for (name, bit) in [
                ("rusr", 0o400),
                ("wusr", 0o200),
                ("xusr", 0o100),
                ("rgrp", 0o040),
                ("wgrp", 0o020),
                ("xgrp", 0o010),
                ("roth", 0o004),
                ("woth", 0o002),
                ("xoth", 0o001),
                ("isuid", 0o4000),
                ("isgid", 0o2000),
            ] {
                st.insert(name.into(), json!(mode_bits & bit != 0));
            }
            for flag in ["readable", "writeable", "executable"] {
                st.insert(flag.into(), json!(kv.contains_key(flag)));
            }
            for key in ["lnk_source", "lnk_target", "checksum", "md5"] {
                if let Some(v) = kv.get(key) {
                    st.insert(key.into(), json!(v));
                }
            }
        } else {
            st.insert("exists".into(), json!(false));
        }
        Ok(Outcome::ok().with("stat", Value::from(minijinja::value::Serde(st))))
    }
}

const FMT: &str = "%f|%a|%u|%g|%U|%G|%s|%X|%Y|%Z|%i|%d|%h|%D";

fn script(a: &StatArgs) -> String {
    let l = if a.follow { "-L " } else { "" };
    let mut s = format!(
        "p={}\nif [ -e \"$p\" ] || [ -L \"$p\" ]; then\nprintf 'st='; stat {l}-c '{FMT}' \"$p\" || exit 1\n\
         [ -r \"$p\" ] && echo readable=1\n[ -w \"$p\" ] && echo writeable=1\n[ -x \"$p\" ] && echo executable=1\n\
         if [ -L \"$p\" ]; then printf 'lnk_target=%s\\n' \"$(readlink \"$p\")\"; printf 'lnk_source=%s\\n' \"$(readlink -f \"$p\")\"; fi\n",
        q(&a.path)
    );
    let regular = if a.follow {
        "[ -f \"$p\" ] && [ -r \"$p\" ]"
    } else {
        "[ -f \"$p\" ] && [ ! -L \"$p\" ] && [ -r \"$p\" ]"
    };
    if a.get_checksum {
        s.push_str(&format!(
            "if {regular}; then printf 'checksum='; {} < \"$p\" | cut -d' ' -f1; fi\n",
            a.checksum_algorithm.command()
        ));
    }
    if a.get_md5 {
        s.push_str(&format!(
            "if {regular}; then printf 'md5='; md5sum < \"$p\" | cut -d' ' -f1; fi\n"
        ));
    }
    s.push_str("fi\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    fn field(r: &crate::modules::testutil::Run, k: &str) -> Value {
        r.get("stat").get_attr(k).unwrap()
    }

    #[tokio::test]
    async fn regular_file() {
        let h = Harness::new();
        h.write("f", "abc");
        h.set_mode("f", 0o640);
        let r = h
            .run(&Stat, json!({"path": h.path("f")}), false, false)
            .await;
        assert!(!r.outcome.changed && !r.outcome.failed);
        assert_eq!(r.execs, 1);
        assert!(field(&r, "exists").is_true());
        assert!(field(&r, "isreg").is_true());
        assert!(!field(&r, "isdir").is_true());
        assert_eq!(field(&r, "mode").as_str(), Some("0640"));
        assert_eq!(field(&r, "size"), Value::from(3));
        assert_eq!(
            field(&r, "checksum").as_str(),
            Some("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert!(field(&r, "rusr").is_true() && !field(&r, "roth").is_true());
        let r = h
            .run(
                &Stat,
                json!({"path": h.path("f"), "checksum_algorithm": "sha256"}),
                false,
                false,
            )
            .await;
        assert_eq!(
            field(&r, "checksum").as_str(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[tokio::test]
    async fn missing_dir_and_link() {
        let h = Harness::new();
        let r = h
            .run(&Stat, json!({"path": h.path("nope")}), false, false)
            .await;
        assert!(!field(&r, "exists").is_true());
        std::fs::create_dir(h.path("d")).unwrap();
        std::os::unix::fs::symlink(h.path("d"), h.path("l")).unwrap();
        let r = h
            .run(&Stat, json!({"path": h.path("l")}), false, false)
            .await;
        assert!(field(&r, "islnk").is_true());
        assert_eq!(field(&r, "lnk_source").as_str(), Some(h.path("d").as_str()));
        let r = h
            .run(
                &Stat,
                json!({"path": h.path("l"), "follow": true}),
                false,
                false,
            )
            .await;
        assert!(field(&r, "isdir").is_true());
        assert!(field(&r, "checksum").is_undefined());
    }
}
