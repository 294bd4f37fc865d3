//! `wait_for`: waits on the target for a TCP port, a file, a string in a file or on a port, or a
//! port's connections to drain. The whole wait is one script with its own polling loop, so it
//! costs one round trip however long it waits.
//!
//! How a port is probed, in this order (the first that exists on the target): `nc -z`; bash's
//! `/dev/tcp`; for a local host only (127.x, localhost, ::1, 0.0.0.0), a LISTEN entry in
//! /proc/net/tcp{,6}. `search_regex` is written as in Ansible (Python syntax) and run on the
//! target with `grep -E`: named and non-capturing groups and `\d \s \w` (and their negations)
//! are translated to POSIX ERE; other Python-only syntax is not. Time is measured with
//! /proc/uptime, so the loop needs no GNU `date`.

use crate::modules::doc::{aka, arg, dflt, one_of};
use crate::modules::remote::{parse_kv, q};
use crate::modules::{Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Started,
    Stopped,
    Present,
    Absent,
    Drained,
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_timeout() -> u64 {
    300
}
fn default_sleep() -> f64 {
    1.0
}
fn default_connect_timeout() -> u64 {
    5
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct WaitForArgs {
    #[serde(default = "default_host")]
    pub host: String,
    pub port: Option<u16>,
    #[serde(alias = "dest")]
    pub path: Option<String>,
    #[serde(default)]
    pub state: State,
    pub search_regex: Option<String>,
    #[serde(default)]
    pub delay: u64,
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    #[serde(default = "default_sleep")]
    pub sleep: f64,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    pub msg: Option<String>,
}

pub struct WaitFor;

impl Module for WaitFor {
    const NAME: &'static str = "wait_for";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("elapsed", "seconds waited"),
            ("path", "the file (path)"),
            ("port", "the port (port)"),
            ("match_groups", "the regex groups (search_regex)"),
            ("match_groupdict", "the named groups"),
        ],
        summary: "Waits on the target for a port to open, close or drain, or for a file (or a \
                  string in it) to appear or go away.",
        args: &[
            dflt(
                "host",
                "127.0.0.1",
                "Host to connect to, as seen from the target.",
            ),
            arg(
                "port",
                "TCP port to wait for (probed with nc, else bash /dev/tcp, else \
                       /proc/net/tcp for a local host).",
            ),
            aka(
                arg(
                    "path",
                    "File to wait for (state present/started) or to disappear (absent/stopped).",
                ),
                &["dest"],
            ),
            one_of(
                dflt(
                    "state",
                    "started",
                    "started/present: open port or existing file; stopped/absent: closed port \
                       or missing file; drained: no active connections on the port.",
                ),
                &["started", "stopped", "present", "absent", "drained"],
            ),
            arg(
                "search_regex",
                "Extended regex (grep -E) to find in the file or in what the port sends.",
            ),
            dflt("delay", "0", "Seconds to wait before the first check."),
            dflt(
                "timeout",
                "300",
                "Seconds to wait in all (counting the delay) before failing. Without port \
                       or path, the task just waits this long.",
            ),
            dflt("sleep", "1", "Seconds between checks."),
            dflt(
                "connect_timeout",
                "5",
                "Seconds one connection attempt may take.",
            ),
            arg("msg", "Failure message instead of the default one."),
        ],
        example: "- wait_for: port=2181 delay=5 timeout=60\n\
                  - wait_for:\n    path: /var/log/mesos/mesos-master.INFO\n    search_regex: elected",
    };
    type Args = WaitForArgs;

    async fn run(&self, args: WaitForArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let script = build_script(&args)?;
        let out = cx.run(&script, &[]).await?;
        let kv = parse_kv(&out.stdout_str());
        let elapsed: i64 = kv.get("elapsed").and_then(|e| e.parse().ok()).unwrap_or(0);
        let mut outcome = Outcome::ok().with("elapsed", elapsed);
        if let Some(p) = args.port {
            outcome = outcome.with("port", p);
        }
        if let Some(p) = &args.path {
            outcome = outcome.with("path", p.as_str());
        }
        match out.rc {
            0 => {
                if let (Some(re), Some(line)) = (&args.search_regex, kv.get("matched")) {
                    let (groups, named) = match_groups(re, line);
                    outcome = outcome
                        .with("match_groups", groups)
                        .with("match_groupdict", named);
                }
                Ok(outcome)
            }
            3 => {
                let msg = args.msg.clone().unwrap_or_else(|| timeout_msg(&args));
                let mut failed = outcome;
                failed.failed = true;
                failed.msg = Some(msg);
                Ok(failed)
            }
            rc => Ok(Outcome::fail(kv.get("error").cloned().unwrap_or_else(
                || format!("wait_for failed (rc={}): {}", rc, out.stderr_str().trim()),
            ))),
        }
    }
}

/// Ansible's messages.
fn timeout_msg(a: &WaitForArgs) -> String {
    match (&a.path, a.port, a.state) {
        (Some(p), _, State::Absent | State::Stopped) => {
            format!("Timeout when waiting for {} to be absent.", p)
        }
        (Some(p), _, _) => match &a.search_regex {
            Some(r) => format!("Timeout when waiting for search string {} in {}", r, p),
            None => format!("Timeout when waiting for file {}", p),
        },
        (None, Some(port), State::Drained) => {
            format!("Timeout when waiting for {}:{} to drain", a.host, port)
        }
        (None, Some(port), State::Stopped | State::Absent) => {
            format!("Timeout when waiting for {}:{} to stop.", a.host, port)
        }
        (None, Some(port), _) => match &a.search_regex {
            Some(r) => format!(
                "Timeout when waiting for search string {} in {}:{}",
                r, a.host, port
            ),
            None => format!("Timeout when waiting for {}:{}", a.host, port),
        },
        (None, None, _) => "Timeout".into(),
    }
}

/// Groups of Ansible's `match_groups`/`match_groupdict`, from the line grep matched. A regex
/// that grep accepts but Rust's engine does not simply yields no groups.
fn match_groups(re: &str, line: &str) -> (Value, Value) {
    let mut groups = Vec::new();
    let mut named = Vec::new();
    if let Ok(r) = regex::Regex::new(re)
        && let Some(caps) = r.captures(line)
    {
        let text = |i: usize| {
            caps.get(i)
                .map_or(Value::from(()), |m| Value::from(m.as_str()))
        };
        for (i, name) in r.capture_names().enumerate().skip(1) {
            groups.push(text(i));
            if let Some(n) = name {
                named.push((n.to_string(), text(i)));
            }
        }
    }
    (Value::from(groups), Value::from_pairs(named))
}

/// Python regex -> POSIX ERE for the parts roles use: `(?P<name>` and `(?:` become plain
/// groups, `\d \s \w` (and upper-case negations) become bracket classes outside brackets.
pub fn to_ere(re: &str) -> String {
    let mut out = String::with_capacity(re.len());
    let mut chars = re.chars().peekable();
    let mut in_bracket = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push(c);
                    break;
                };
                let class = match n {
                    'd' => Some(("[0-9]", "0-9")),
                    'D' => Some(("[^0-9]", "")),
                    's' => Some(("[[:space:]]", "[:space:]")),
                    'S' => Some(("[^[:space:]]", "")),
                    'w' => Some(("[[:alnum:]_]", "[:alnum:]_")),
                    'W' => Some(("[^[:alnum:]_]", "")),
                    _ => None,
                };
                match class {
                    Some((outside, _)) if !in_bracket => out.push_str(outside),
                    Some((_, inside)) if !inside.is_empty() => out.push_str(inside),
                    _ => {
                        out.push(c);
                        out.push(n);
                    }
                }
            }
            '[' if !in_bracket => {
                in_bracket = true;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal member.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if in_bracket => {
                in_bracket = false;
                out.push(c);
            }
            '(' if !in_bracket && chars.peek() == Some(&'?') => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("?:") {
                    chars.next();
                    chars.next();
                } else if rest == "?P<" {
                    for x in chars.by_ref() {
                        if x == '>' {
                            break;
                        }
                    }
                }
                out.push('(');
            }
            _ => out.push(c),
        }
    }
    out
}

fn is_local(host: &str) -> bool {
    host == "localhost"
        || host.starts_with("127.")
        || host == "::1"
        || host == "0.0.0.0"
        || host == "::"
}

/// The script: exit 0 when the condition holds (printing `elapsed=` and maybe `matched=`),
/// 3 on timeout, 4 when the target cannot check a port at all.
pub fn build_script(a: &WaitForArgs) -> Result<String, ModuleError> {
    if a.port.is_some() && a.path.is_some() {
        return Err(ModuleError::failed(
            "port and path cannot both be given to wait_for",
        ));
    }
    if a.state == State::Drained && a.port.is_none() {
        return Err(ModuleError::failed("state=drained needs a port"));
    }
    if a.search_regex.is_some()
        && matches!(a.state, State::Stopped | State::Absent | State::Drained)
    {
        return Err(ModuleError::failed(
            "search_regex only goes with state=started or present",
        ));
    }
    if !a.sleep.is_finite() || a.sleep <= 0.0 {
        return Err(ModuleError::failed(
            "sleep must be a positive number of seconds",
        ));
    }
    let mut s = format!(
        "H={h}; CT={ct}; TO={to}; SL={sl}\n\
         now() {{ read u _ </proc/uptime; echo $(( ${{u%.*}} * 100 + 1${{u#*.}} - 100 )); }}\n\
         start=$(now)\n\
         T=; command -v timeout >/dev/null 2>&1 && T=\"timeout $CT\"\n",
        h = q(&a.host),
        ct = a.connect_timeout,
        to = a.timeout,
        sl = a.sleep,
    );
    if a.delay > 0 {
        s.push_str(&format!("sleep {}\n", a.delay));
    }
    if let Some(r) = &a.search_regex {
        s.push_str(&format!("R={}\n", q(&to_ere(r))));
    }
    let check = match (a.port, &a.path) {
        (Some(port), None) => {
            s.push_str(&format!(
                "P={port}; X=$(printf '%04X' {port})\n\
                 listening() {{ grep -Eqs \"^ *[0-9]+: [0-9A-F]+:$X [0-9A-F]+:[0-9A-F]+ 0A\" /proc/net/tcp /proc/net/tcp6; }}\n\
                 if command -v nc >/dev/null 2>&1; then\n\
                 probe() {{ nc -z -w \"$CT\" \"$H\" \"$P\" </dev/null >/dev/null 2>&1; }}\n\
                 receive() {{ $T nc -w \"$CT\" \"$H\" \"$P\" </dev/null 2>/dev/null; }}\n\
                 elif command -v bash >/dev/null 2>&1; then\n\
                 probe() {{ $T bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' \"$H\" \"$P\" >/dev/null 2>&1; }}\n\
                 receive() {{ $T bash -c 'exec 3<>\"/dev/tcp/$0/$1\" && cat <&3' \"$H\" \"$P\" 2>/dev/null; }}\n"
            ));
            if is_local(&a.host) {
                s.push_str("else\nprobe() { listening; }\nreceive() { return 1; }\n");
            } else {
                s.push_str(
                    "else\necho 'error=cannot probe a remote port on this host: it has neither nc nor bash'; exit 4\n",
                );
            }
            s.push_str("fi\n");
            match (a.state, &a.search_regex) {
                (State::Drained, _) => {
                    // Ansible's active states: ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1/2, TIME_WAIT.
                    "! grep -Eqs \"^ *[0-9]+: [0-9A-F]+:$X [0-9A-F]+:[0-9A-F]+ 0[1-6]\" /proc/net/tcp /proc/net/tcp6"
                }
                (State::Stopped | State::Absent, _) => "! probe",
                (_, Some(_)) => {
                    "m=$(receive | grep -Em1 -e \"$R\") && printf 'matched=%s\\n' \"$m\""
                }
                (_, None) => "probe",
            }
        }
        (None, Some(path)) => {
            s.push_str(&format!("F={}\n", q(path)));
            match (a.state, &a.search_regex) {
                (State::Stopped | State::Absent, _) => "[ ! -e \"$F\" ]",
                (_, Some(_)) => {
                    "m=$(grep -Em1 -e \"$R\" \"$F\" 2>/dev/null) && printf 'matched=%s\\n' \"$m\""
                }
                (_, None) => "[ -e \"$F\" ]",
            }
        }
        _ => {
            // Neither port nor path: Ansible just waits `timeout` seconds.
            s.push_str(&format!(
                "sleep {}\necho elapsed=$(( ($(now) - start) / 100 ))\nexit 0\n",
                a.timeout
            ));
            return Ok(s);
        }
    };
    s.push_str(&format!(
        "while :; do\n\
         if {check}; then echo elapsed=$(( ($(now) - start) / 100 )); exit 0; fi\n\
         if [ $(( $(now) - start )) -ge $(( TO * 100 )) ]; then echo elapsed=$(( ($(now) - start) / 100 )); exit 3; fi\n\
         sleep \"$SL\"\n\
         done\n"
    ));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::DynModule;
    use crate::modules::testutil_misc::{CountingConn, args, context};
    use std::time::{Duration, Instant};

    async fn run(json: &str) -> (Outcome, usize) {
        let conn = CountingConn::default();
        let cx = context(&conn, &[]);
        let out = WaitFor.run_dyn(&args(json), &cx).await.expect("runs");
        (out, conn.count())
    }

    /// A port nobody listens on (bound, then released).
    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn open_port_is_found_in_one_exec() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (out, execs) = run(&format!(r#"{{"port": {port}, "timeout": 10}}"#)).await;
        assert!(!out.failed, "{:?}", out.msg);
        assert_eq!(execs, 1);
        assert_eq!(out.result["elapsed"], Value::from(0));
        assert!(!out.changed);
    }

    #[tokio::test]
    async fn port_that_opens_later_is_waited_for() {
        let port = free_port();
        let opener = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            // Keep it open until the test is done with it.
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(l);
        });
        let t = Instant::now();
        let (out, _) = run(&format!(
            r#"{{"port": {port}, "timeout": 10, "sleep": 0.1}}"#
        ))
        .await;
        assert!(!out.failed, "{:?}", out.msg);
        assert!(t.elapsed() >= Duration::from_millis(400));
        opener.abort();
    }

    #[tokio::test]
    async fn closed_port_times_out_with_ansibles_message() {
        let port = free_port();
        let t = Instant::now();
        let (out, execs) = run(&format!(
            r#"{{"port": {port}, "timeout": 1, "sleep": 0.2}}"#
        ))
        .await;
        assert!(out.failed);
        assert_eq!(execs, 1);
        assert_eq!(
            out.msg.as_deref(),
            Some(format!("Timeout when waiting for 127.0.0.1:{}", port).as_str())
        );
        assert!(t.elapsed() >= Duration::from_secs(1));
        assert!(i64::try_from(out.result["elapsed"].clone()).unwrap() >= 1);

        let (out, _) = run(&format!(
            r#"{{"port": {port}, "timeout": 1, "sleep": 0.2, "msg": "zookeeper did not start"}}"#
        ))
        .await;
        assert_eq!(out.msg.as_deref(), Some("zookeeper did not start"));
    }

    #[tokio::test]
    async fn stopped_and_drained_on_a_closed_port() {
        let port = free_port();
        let (out, _) = run(&format!(
            r#"{{"port": {port}, "state": "stopped", "timeout": 5}}"#
        ))
        .await;
        assert!(!out.failed, "{:?}", out.msg);
        let (out, _) = run(&format!(
            r#"{{"port": {port}, "state": "drained", "timeout": 5}}"#
        ))
        .await;
        assert!(!out.failed, "{:?}", out.msg);

        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = l.local_addr().unwrap().port();
        let (out, _) = run(&format!(
            r#"{{"port": {open}, "state": "stopped", "timeout": 1, "sleep": 0.2}}"#
        ))
        .await;
        assert!(out.failed);
        assert!(out.msg.unwrap().ends_with("to stop."));
    }

    #[tokio::test]
    async fn string_in_a_file_that_appears_later() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("server.log");
        let writer = {
            let log = log.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                std::fs::write(&log, "booting\nleader elected: node-3 port 5050\n").unwrap();
            })
        };
        let (out, execs) = run(&format!(
            r#"{{"path": "{}", "search_regex": "elected: (node-[0-9]+) port (?P<port>[0-9]+)", "timeout": 10, "sleep": 0.1}}"#,
            log.display()
        ))
        .await;
        writer.await.unwrap();
        assert!(!out.failed, "{:?}", out.msg);
        assert_eq!(execs, 1);
        let groups = &out.result["match_groups"];
        assert_eq!(
            groups.get_item_by_index(0).unwrap().as_str(),
            Some("node-3")
        );
        assert_eq!(
            out.result["match_groupdict"]
                .get_attr("port")
                .unwrap()
                .as_str(),
            Some("5050")
        );
    }

    #[tokio::test]
    async fn absent_path_and_missing_string() {
        let d = tempfile::tempdir().unwrap();
        let gone = d.path().join("lock");
        let (out, _) = run(&format!(
            r#"{{"path": "{}", "state": "absent"}}"#,
            gone.display()
        ))
        .await;
        assert!(!out.failed, "{:?}", out.msg);

        let f = d.path().join("f");
        std::fs::write(&f, "nothing here\n").unwrap();
        let (out, _) = run(&format!(
            r#"{{"path": "{}", "search_regex": "ready", "timeout": 1, "sleep": 0.2}}"#,
            f.display()
        ))
        .await;
        assert!(out.failed);
        assert_eq!(
            out.msg.unwrap(),
            format!(
                "Timeout when waiting for search string ready in {}",
                f.display()
            )
        );
    }

    #[tokio::test]
    async fn proc_net_tcp_fallback_without_nc_or_bash() {
        // A PATH with only the tools the script needs, and neither nc nor bash.
        let bin = tempfile::tempdir().unwrap();
        for tool in ["date", "sleep", "grep", "timeout"] {
            let real = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| std::path::Path::new(d).join(tool))
                .find(|p| p.exists())
                .unwrap();
            std::os::unix::fs::symlink(real, bin.path().join(tool)).unwrap();
        }
        let env = vec![("PATH".to_string(), bin.path().display().to_string())];
        let conn = CountingConn::default();
        let mut cx = context(&conn, &[]);
        cx.environment = &env;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let out = WaitFor
            .run_dyn(&args(&format!(r#"{{"port": {port}, "timeout": 5}}"#)), &cx)
            .await
            .unwrap();
        assert!(!out.failed, "{:?}", out.msg);
        drop(l);
        let out = WaitFor
            .run_dyn(
                &args(&format!(
                    r#"{{"port": {port}, "timeout": 1, "sleep": 0.2}}"#
                )),
                &cx,
            )
            .await
            .unwrap();
        assert!(out.failed, "a closed port is not seen as listening");
        // A remote host cannot be checked that way: say so instead of waiting.
        let out = WaitFor
            .run_dyn(
                &args(&format!(
                    r#"{{"host": "10.1.2.3", "port": {port}, "timeout": 1}}"#
                )),
                &cx,
            )
            .await
            .unwrap();
        assert!(out.failed);
        assert!(out.msg.unwrap().contains("neither nc nor bash"));
    }

    #[test]
    fn python_regex_to_ere() {
        assert_eq!(
            to_ere(r"(?P<port>\d+)\s(?:a|b)"),
            "([0-9]+)[[:space:]](a|b)"
        );
        assert_eq!(to_ere(r"[\d.]+\.\w"), r"[0-9.]+\.[[:alnum:]_]");
        assert_eq!(to_ere(r"[]\d]"), r"[]0-9]");
        assert_eq!(to_ere(r"plain (x)"), "plain (x)");
    }

    #[tokio::test]
    async fn bad_combinations_are_refused() {
        let conn = CountingConn::default();
        let cx = context(&conn, &[]);
        let e = WaitFor
            .run_dyn(&args(r#"{"port": 1, "path": "/x"}"#), &cx)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("port and path"), "{}", e);
        assert_eq!(conn.count(), 0);
        let e = WaitFor
            .check_args(&args(r#"{"port": 1, "state": "up"}"#))
            .unwrap_err();
        assert!(e.msg.contains("invalid value"), "{}", e);
    }
}
