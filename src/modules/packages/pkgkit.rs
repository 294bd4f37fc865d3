//! What the package modules (apt, package, yum/dnf, apt_repository, apt_key,
//! deb822_repository, pip) share: the `@@section` framing their query scripts print, the
//! apt-get wrapper that waits out the dpkg lock, and shell-style glob matching for version specs.
//!
//! Knows sh, coreutils and apt-get's lock messages; knows nothing of any one module's arguments.

use indexmap::IndexMap;

/// Splits script output framed by `@@name` lines into named sections (text before the first
/// marker is dropped; a repeated name keeps the last).
pub fn sections(out: &str) -> IndexMap<String, String> {
    let mut m = IndexMap::new();
    let mut cur: Option<(String, String)> = None;
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("@@") {
            if let Some((k, v)) = cur.take() {
                m.insert(k, v);
            }
            cur = Some((name.trim().to_string(), String::new()));
        } else if let Some((_, v)) = cur.as_mut() {
            v.push_str(line);
            v.push('\n');
        }
    }
    if let Some((k, v)) = cur {
        m.insert(k, v);
    }
    m
}

/// A shell function `rm_apt ARGS...` that runs `apt-get ARGS...` non-interactively and, while
/// another process holds the dpkg or apt lists lock, retries every second for up to
/// `lock_timeout` seconds. apt-get's stdout and stderr pass through unchanged.
pub fn apt_get_fn(lock_timeout: u64) -> String {
    format!(
        r#"export DEBIAN_FRONTEND=noninteractive LC_ALL=C
rm_apt() {{
  rm_deadline=$(( $(date +%s) + {lock_timeout} ))
  rm_o=$(mktemp) && rm_e=$(mktemp) || return 70
  while :; do
    apt-get "$@" >"$rm_o" 2>"$rm_e"; rm_rc=$?
    if [ $rm_rc -ne 0 ] && grep -q -e 'Could not get lock' -e 'Unable to acquire the dpkg frontend lock' -e 'Unable to lock' "$rm_e" \
       && [ "$(date +%s)" -lt "$rm_deadline" ]; then sleep 1; continue; fi
    cat "$rm_o"; cat "$rm_e" >&2; rm -f "$rm_o" "$rm_e"; return $rm_rc
  done
}}
"#
    )
}

/// Shell glob matching (`*`, `?`, `[...]`, `[!...]`) over a whole string, as Python's fnmatch.
pub fn fnmatch(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => {
                let Some(close) = p.iter().skip(2).position(|c| *c == ']').map(|i| i + 2) else {
                    return t.first() == Some(&'[') && go(&p[1..], &t[1..]);
                };
                let Some(c) = t.first() else { return false };
                let (negate, set) = match p[1] {
                    '!' | '^' => (true, &p[2..close]),
                    _ => (false, &p[1..close]),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[close + 1..], &t[1..])
            }
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// Shell that fetches `url` to `dest` with curl or wget, exiting 91 when neither exists and 92
/// when the download fails.
pub fn download_script(url: &str, dest: &str) -> String {
    use crate::modules::remote::q;
    format!(
        "if command -v curl >/dev/null 2>&1; then curl -fsSL -o {d} {u} || exit 92; \
         elif command -v wget >/dev/null 2>&1; then wget -q -O {d} {u} || exit 92; \
         else echo 'neither curl nor wget is installed on the host' >&2; exit 91; fi\n",
        d = q(dest),
        u = q(url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_on_markers() {
        let s = sections("junk\n@@a\n1\n2\n@@b\n@@c\nx\n");
        assert_eq!(s["a"], "1\n2\n");
        assert_eq!(s["b"], "");
        assert_eq!(s["c"], "x\n");
        assert!(!s.contains_key("junk"));
    }

    #[test]
    fn fnmatch_as_python() {
        assert!(fnmatch("1.2*", "1.2.3-1"));
        assert!(!fnmatch("1.2*", "1.3"));
        assert!(fnmatch("1.?-1", "1.6-1"));
        assert!(fnmatch("[0-9].*", "7.1"));
        assert!(!fnmatch("[!0-9].*", "7.1"));
        assert!(fnmatch("*", ""));
        assert!(!fnmatch("a", "ab"));
    }

    #[tokio::test]
    async fn apt_get_wrapper_passes_output_and_rc() {
        // A fake apt-get on PATH: fails with the lock message twice, then succeeds.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("apt-get");
        let count = dir.path().join("count");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\nn=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}\n\
                 if [ $n -lt 3 ]; then echo 'E: Could not get lock /var/lib/dpkg/lock-frontend' >&2; exit 100; fi\n\
                 echo \"ran $*\"\n",
                c = count.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let script = format!(
            "PATH={}:$PATH\n{}rm_apt install jq\n",
            dir.path().display(),
            apt_get_fn(10)
        );
        let out = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ran install jq\n");
        assert_eq!(std::fs::read_to_string(&count).unwrap().trim(), "3");

        // Past the deadline the lock error comes back as apt-get's failure.
        std::fs::write(&count, "-100").unwrap();
        let script = format!(
            "PATH={}:$PATH\n{}rm_apt install jq\n",
            dir.path().display(),
            apt_get_fn(0)
        );
        let out = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(100));
        assert!(String::from_utf8_lossy(&out.stderr).contains("Could not get lock"));
    }
}
