//! A scripted, in-process [`Connector`]: the executor runs against hosts that exist only as
//! answering rules, with no root, no network and no processes, and every script a host
//! receives is recorded. For the executor's tests (tests/executor.rs).
//!
//! Each host answers a script with the first of its rules (then the `*` rules, shared by every
//! host) whose pattern matches the script and whose `nth` accepts the count: a rule counts
//! every script on that host its pattern matches, answered by it or not, so `nth: [2]` is
//! "the second time this host receives such a script". A rule answers an exit status with
//! stdout and stderr, a dead connection (`unreachable`), or a local error. Without a matching
//! rule the answer is rc 0 and no output, except that a script whose last line is `exit N`
//! answers rc N, as `sh` would (modules end a script that way when they only report, as
//! `command` does in check mode). A host can also refuse every connection.
//!
//! Every host name works, in the inventory or not (`delegate_to: elsewhere`), whatever its
//! `ansible_connection`; the record keeps the kind and user each connection was opened with,
//! and which host the work landed on (a delegate's scripts are the delegate's).

use crate::connection::{BoxFuture, ConnError, Connection, ExecOutput, ExecRequest};
use crate::exec::connect::ConnTarget;
use crate::exec::{ConnDefaults, Connector};
use regex::Regex;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The host name whose rules apply to every host (after the host's own).
pub const EVERY_HOST: &str = "*";

/// Which scripts a rule answers.
#[derive(Clone, Debug)]
pub enum Matcher {
    Any,
    Contains(String),
    Regex(Regex),
}

impl Matcher {
    fn matches(&self, script: &str) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::Contains(s) => script.contains(s.as_str()),
            Matcher::Regex(r) => r.is_match(script),
        }
    }
}

/// What a rule answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Exit {
        rc: i32,
        stdout: String,
        stderr: String,
    },
    /// The connection dies: the executor sees [`ConnError::Unreachable`].
    Unreachable(String),
    /// A local failure of this one command ([`ConnError::Other`]): the task fails.
    Error(String),
}

/// One answering rule of a host.
#[derive(Clone, Debug)]
pub struct Rule {
    pub matcher: Matcher,
    /// Only these occurrences (1-based) of a matching script; empty = every one.
    pub nth: Vec<usize>,
    pub answer: Answer,
}

impl Rule {
    /// Answers scripts containing `needle` (rc 0, no output until told otherwise).
    pub fn contains(needle: &str) -> Rule {
        Rule::new(Matcher::Contains(needle.to_string()))
    }

    /// Answers scripts matching the regular expression `re`.
    pub fn regex(re: &str) -> Result<Rule, regex::Error> {
        Ok(Rule::new(Matcher::Regex(Regex::new(re)?)))
    }

    /// Answers every script.
    pub fn any() -> Rule {
        Rule::new(Matcher::Any)
    }

    fn new(matcher: Matcher) -> Rule {
        Rule {
            matcher,
            nth: vec![],
            answer: Answer::Exit {
                rc: 0,
                stdout: String::new(),
                stderr: String::new(),
            },
        }
    }

    /// Only the `n`th matching script (1-based); call again to add occurrences.
    pub fn nth(mut self, n: usize) -> Rule {
        self.nth.push(n);
        self
    }

    pub fn rc(mut self, code: i32) -> Rule {
        if let Answer::Exit { rc, .. } = &mut self.answer {
            *rc = code;
        } else {
            self.answer = exit(code, "", "");
        }
        self
    }

    pub fn stdout(mut self, text: &str) -> Rule {
        if let Answer::Exit { stdout, .. } = &mut self.answer {
            *stdout = text.to_string();
        } else {
            self.answer = exit(0, text, "");
        }
        self
    }

    pub fn stderr(mut self, text: &str) -> Rule {
        if let Answer::Exit { stderr, .. } = &mut self.answer {
            *stderr = text.to_string();
        } else {
            self.answer = exit(0, "", text);
        }
        self
    }

    pub fn unreachable(mut self, msg: &str) -> Rule {
        self.answer = Answer::Unreachable(msg.to_string());
        self
    }

    pub fn error(mut self, msg: &str) -> Rule {
        self.answer = Answer::Error(msg.to_string());
        self
    }
}

fn exit(rc: i32, stdout: &str, stderr: &str) -> Answer {
    Answer::Exit {
        rc,
        stdout: stdout.to_string(),
        stderr: stderr.to_string(),
    }
}

/// One thing a host saw, in the order the run did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A connection was asked for (answered or refused).
    Connect {
        host: String,
        /// `ansible_connection` as the executor resolved it ("" when unset).
        kind: String,
        user: Option<String>,
        refused: bool,
    },
    /// A script ran (or was answered with a failure).
    Exec {
        host: String,
        script: String,
        stdin: Vec<u8>,
        /// The become user, when the script ran under become.
        become_user: Option<String>,
        answer: Answer,
    },
}

impl Record {
    pub fn host(&self) -> &str {
        match self {
            Record::Connect { host, .. } | Record::Exec { host, .. } => host,
        }
    }
}

#[derive(Default)]
struct State {
    rules: HashMap<String, Vec<Rule>>,
    /// Hosts refusing every connection, with the message.
    refuse: HashMap<String, String>,
    /// (host, rule owner, rule index) -> matching scripts seen.
    counts: HashMap<(String, String, usize), usize>,
    log: Vec<Record>,
}

/// The connector; clone it to keep a handle on the record after handing one to the executor.
#[derive(Clone, Default)]
pub struct Scripted {
    state: Arc<Mutex<State>>,
}

impl Scripted {
    pub fn new() -> Scripted {
        Scripted::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a rule to `host` ([`EVERY_HOST`] for all), after the ones it has.
    pub fn rule(&self, host: &str, rule: Rule) -> &Scripted {
        self.lock()
            .rules
            .entry(host.to_string())
            .or_default()
            .push(rule);
        self
    }

    /// Every connection to `host` fails as unreachable with `msg`.
    pub fn refuse(&self, host: &str, msg: &str) -> &Scripted {
        self.lock().refuse.insert(host.to_string(), msg.to_string());
        self
    }

    /// Everything every host saw, in order.
    pub fn log(&self) -> Vec<Record> {
        self.lock().log.clone()
    }

    /// The scripts `host` received, in order.
    pub fn scripts(&self, host: &str) -> Vec<String> {
        self.lock()
            .log
            .iter()
            .filter_map(|r| match r {
                Record::Exec {
                    host: h, script, ..
                } if h == host => Some(script.clone()),
                _ => None,
            })
            .collect()
    }

    /// Hosts that received at least one script, in order of first script.
    pub fn touched(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for r in self.lock().log.iter() {
            if let Record::Exec { host, .. } = r
                && !out.contains(host)
            {
                out.push(host.clone());
            }
        }
        out
    }

    fn answer(&self, host: &str, req: &ExecRequest<'_>) -> Answer {
        let mut st = self.lock();
        let mut chosen = None;
        for owner in [host, EVERY_HOST] {
            let n_rules = st.rules.get(owner).map_or(0, Vec::len);
            for i in 0..n_rules {
                let Some(rule) = st.rules.get(owner).and_then(|r| r.get(i)).cloned() else {
                    continue;
                };
                if !rule.matcher.matches(req.script) {
                    continue;
                }
                let count = st
                    .counts
                    .entry((host.to_string(), owner.to_string(), i))
                    .or_default();
                *count += 1;
                if chosen.is_none() && (rule.nth.is_empty() || rule.nth.contains(count)) {
                    chosen = Some(rule.answer);
                }
            }
        }
        let answer = chosen.unwrap_or_else(|| default_answer(req.script));
        st.log.push(Record::Exec {
            host: host.to_string(),
            script: req.script.to_string(),
            stdin: req.stdin.to_vec(),
            become_user: req.become_.map(|b| b.user.clone()),
            answer: answer.clone(),
        });
        answer
    }
}

/// rc 0 and no output; rc N when the script's last line is `exit N`.
fn default_answer(script: &str) -> Answer {
    let rc = script
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| l.trim().strip_prefix("exit "))
        .and_then(|n| n.trim().parse::<i32>().ok())
        .unwrap_or(0);
    exit(rc, "", "")
}

impl Connector for Scripted {
    fn connect<'a>(
        &'a self,
        target: &'a ConnTarget,
        _defaults: &'a ConnDefaults,
    ) -> BoxFuture<'a, Result<Arc<dyn Connection>, ConnError>> {
        Box::pin(async move {
            let refused = {
                let mut st = self.lock();
                let refused = st.refuse.get(&target.host).cloned();
                st.log.push(Record::Connect {
                    host: target.host.clone(),
                    kind: target.kind.clone(),
                    user: target.remote_user.clone(),
                    refused: refused.is_some(),
                });
                refused
            };
            match refused {
                Some(msg) => Err(ConnError::Unreachable(msg)),
                None => Ok(Arc::new(ScriptedConnection {
                    host: target.host.clone(),
                    scripted: self.clone(),
                }) as Arc<dyn Connection>),
            }
        })
    }
}

/// One host's connection: answers from the shared rules, records into the shared log.
struct ScriptedConnection {
    host: String,
    scripted: Scripted,
}

impl Connection for ScriptedConnection {
    fn exec<'a>(&'a self, req: ExecRequest<'a>) -> BoxFuture<'a, Result<ExecOutput, ConnError>> {
        Box::pin(async move {
            match self.scripted.answer(&self.host, &req) {
                Answer::Exit { rc, stdout, stderr } => Ok(ExecOutput {
                    rc,
                    stdout: stdout.into_bytes(),
                    stderr: stderr.into_bytes(),
                    ..Default::default()
                }),
                Answer::Unreachable(m) => Err(ConnError::Unreachable(m)),
                Answer::Error(m) => Err(ConnError::Other(m)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str) -> ConnTarget {
        ConnTarget {
            host: host.into(),
            kind: "ssh".into(),
            remote_user: Some("deploy".into()),
            vars: Default::default(),
            trace: None,
        }
    }

    async fn run(s: &Scripted, host: &str, script: &str) -> Result<ExecOutput, ConnError> {
        let conn = s.connect(&target(host), &ConnDefaults::default()).await?;
        conn.exec(ExecRequest::new(script)).await
    }

    #[tokio::test]
    async fn rules_in_order_then_every_host_then_the_default() {
        let s = Scripted::new();
        s.rule("h1", Rule::contains("hello").stdout("hi\n"))
            .rule(EVERY_HOST, Rule::contains("hello").rc(7))
            .rule(EVERY_HOST, Rule::regex("^boom$").unwrap().stderr("bang"));
        let out = run(&s, "h1", "echo hello").await.unwrap();
        assert_eq!((out.rc, out.stdout_str()), (0, "hi\n".into()));
        assert_eq!(run(&s, "h2", "echo hello").await.unwrap().rc, 7);
        assert_eq!(run(&s, "h2", "boom").await.unwrap().stderr_str(), "bang");
        let out = run(&s, "h3", "true").await.unwrap();
        assert_eq!((out.rc, out.stdout.len()), (0, 0));
        assert_eq!(
            run(&s, "h3", "cd /x || exit 202\nexit 203\n")
                .await
                .unwrap()
                .rc,
            203
        );
        assert_eq!(s.scripts("h2"), ["echo hello", "boom"]);
        assert_eq!(s.touched(), ["h1", "h2", "h3"]);
    }

    #[tokio::test]
    async fn nth_counts_matching_scripts_per_host() {
        let s = Scripted::new();
        s.rule("h1", Rule::contains("probe").nth(2).nth(3).rc(1));
        let rcs: Vec<i32> = futures::future::join_all((0..4).map(|_| run(&s, "h1", "probe")))
            .await
            .into_iter()
            .map(|r| r.unwrap().rc)
            .collect();
        assert_eq!(rcs, [0, 1, 1, 0]);
        assert_eq!(run(&s, "h2", "probe").await.unwrap().rc, 0);
    }

    #[tokio::test]
    async fn unreachable_refused_and_errors() {
        let s = Scripted::new();
        s.refuse("down", "no route to host")
            .rule("h1", Rule::contains("x").nth(1).unreachable("reset"))
            .rule("h1", Rule::contains("y").error("broken pipe"));
        assert!(
            matches!(run(&s, "down", "x").await, Err(ConnError::Unreachable(m)) if m == "no route to host")
        );
        assert!(matches!(
            run(&s, "h1", "x").await,
            Err(ConnError::Unreachable(_))
        ));
        assert!(run(&s, "h1", "x").await.is_ok());
        assert!(matches!(run(&s, "h1", "y").await, Err(ConnError::Other(_))));
        let connects: Vec<(String, bool)> = s
            .log()
            .into_iter()
            .filter_map(|r| match r {
                Record::Connect {
                    host,
                    refused,
                    kind,
                    user,
                } => {
                    assert_eq!((kind.as_str(), user.as_deref()), ("ssh", Some("deploy")));
                    Some((host, refused))
                }
                Record::Exec { .. } => None,
            })
            .collect();
        assert_eq!(connects[0], ("down".to_string(), true));
        assert!(s.scripts("down").is_empty());
    }
}
