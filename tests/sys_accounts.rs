//! `group`, `user` and `authorized_key` on container hosts, driven through the real binary
//! over SSH; the accounts are checked with getent/id from outside, and the key by logging in
//! with the system ssh client. Needs Docker.

mod sys_svc_util;

use std::collections::BTreeSet;
use std::process::Command;
use sys_svc_util::Hosts;

const HASH: &str = "$6$rmesostest$Hd1mE7uW0qTLAQ2o9lBq1";

fn play_on(host: &str, tasks: &str) -> String {
    format!("- hosts: {host}\n  gather_facts: no\n  tasks:\n{tasks}")
}

#[test]
fn groups_users_and_authorized_keys_needs_docker() {
    let h = Hosts::start(2, &["group", "user", "authorized_key"]);
    let keys = tempfile::tempdir().unwrap();
    let key_path = keys.path().join("id");
    let st = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "tester@controller",
            "-f",
        ])
        .arg(&key_path)
        .status()
        .unwrap();
    assert!(st.success());
    let public = std::fs::read_to_string(key_path.with_extension("pub")).unwrap();
    let public = public.trim();

    // Check mode on a fresh host: every task would change, nothing does.
    let root_keys = h.sh("host2", "cat /root/.ssh/authorized_keys");
    let check = play_on(
        "host2",
        &format!(
            "    - group: name=mesos gid=1500\n    - user: name=zk shell=/bin/sh\n    - authorized_key:\n        user: root\n        key: '{public}'\n"
        ),
    );
    let r = h.play(&check, &["--check"]);
    r.assert_ok();
    assert_eq!(r.changed("host2"), 3, "{}", r.output);
    assert_ne!(h.sh_rc("host2", "getent group mesos").0, 0);
    assert_ne!(h.sh_rc("host2", "getent passwd zk").0, 0);
    assert_eq!(h.sh("host2", "cat /root/.ssh/authorized_keys"), root_keys);

    let setup = play_on(
        "host1",
        &format!(
            "    - group: name=mesos gid=1500 system=yes\n    - group: name=ops\n\
             \x20   - user:\n        name: mesos\n        uid: 1500\n        group: mesos\n        groups: ops,adm\n        shell: /bin/bash\n        home: /var/lib/mesos\n        comment: Mesos User\n        password: '{HASH}'\n        generate_ssh_key: yes\n\
             \x20   - authorized_key:\n        user: mesos\n        key: '{public}'\n        key_options: no-port-forwarding\n"
        ),
    );
    let r = h.play(&setup, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 4, "{}", r.output);
    assert!(!r.output.contains(HASH), "the password hash is never shown");
    let user = r.of("host1")[2];
    assert_eq!(user["result"]["password"], "NOT_LOGGING_PASSWORD");
    let generated = user["result"]["ssh_public_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(generated.starts_with("ssh-rsa "), "{user}");

    assert_eq!(h.sh("host1", "getent group mesos"), "mesos:x:1500:\n");
    assert_eq!(
        h.sh("host1", "getent passwd mesos"),
        "mesos:x:1500:1500:Mesos User:/var/lib/mesos:/bin/bash\n"
    );
    let groups = |h: &Hosts| -> BTreeSet<String> {
        h.sh("host1", "id -nG mesos")
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(
        groups(&h),
        BTreeSet::from(["mesos".into(), "ops".into(), "adm".into()])
    );
    assert_eq!(
        h.sh("host1", "getent shadow mesos | cut -d: -f2").trim(),
        HASH
    );
    assert_eq!(
        h.sh("host1", "stat -c '%U %a' /var/lib/mesos /var/lib/mesos/.ssh /var/lib/mesos/.ssh/id_rsa /var/lib/mesos/.ssh/authorized_keys"),
        "mesos 755\nmesos 700\nmesos 600\nmesos 600\n"
    );
    assert_eq!(
        h.sh("host1", "cat /var/lib/mesos/.ssh/id_rsa.pub").trim(),
        generated
    );
    assert_eq!(
        h.sh("host1", "cat /var/lib/mesos/.ssh/authorized_keys"),
        format!("no-port-forwarding {public}\n")
    );

    // The key lets the user in.
    let ip = h.lab.hosts().iter().find(|x| x.name == "host1").unwrap().ip;
    let login = Command::new("ssh")
        .arg("-i")
        .arg(&key_path)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "StrictHostKeyChecking=no",
        ])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .arg(format!("mesos@{ip}"))
        .arg("id -un")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&login.stdout),
        "mesos\n",
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );

    let r = h.play(&setup, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 0, "{}", r.output);

    let modify = play_on(
        "host1",
        "    - user: name=mesos groups=ops shell=/bin/sh\n    - user: name=mesos groups=adm append=yes\n",
    );
    let r = h.play(&modify, &["--diff"]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 2, "{}", r.output);
    let diff = &r.of("host1")[0]["diff"][0];
    assert_eq!(
        diff["before"], "groups: adm,ops\nshell: /bin/bash\n",
        "{diff}"
    );
    assert_eq!(diff["after"], "groups: ops\nshell: /bin/sh\n", "{diff}");
    assert_eq!(
        groups(&h),
        BTreeSet::from(["mesos".into(), "ops".into(), "adm".into()])
    );
    assert_eq!(
        h.sh("host1", "getent passwd mesos | cut -d: -f7"),
        "/bin/sh\n"
    );

    let remove = play_on(
        "host1",
        &format!(
            "    - authorized_key:\n        user: mesos\n        key: '{public}'\n        state: absent\n\
             \x20   - user: name=mesos state=absent remove=yes\n    - group: name=ops state=absent\n"
        ),
    );
    let r = h.play(&remove, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 3, "{}", r.output);
    assert_ne!(h.sh_rc("host1", "getent passwd mesos").0, 0);
    assert_ne!(
        h.sh_rc("host1", "[ -e /var/lib/mesos ]").0,
        0,
        "home removed"
    );
    assert_ne!(h.sh_rc("host1", "getent group ops").0, 0);
    let r = h.play(&remove, &[]);
    assert_eq!(
        r.failed("host1"),
        1,
        "authorized_key for a missing user fails: {}",
        r.output
    );
}
