//! Async jobs: a task with `async: SECONDS` runs its scripts as jobs detached from the SSH
//! session (`nohup setsid`), each in `~/.ansible_async/JID/` (the script, its stdin, stdout,
//! stderr and exit status, and what module ran with which arguments), as Ansible keeps them.
//! A watchdog beside each job kills its process group at the limit and leaves `timedout`.
//!
//! - `poll: N` ([`run_async`] with a poll): the module runs as usual, but each script it sends
//!   becomes a job the controller checks every N seconds ([`PollingConn`]); the task fails
//!   when the limit passes ("async task did not complete within the requested time").
//! - `poll: 0`: the module's one script is started and the task returns at once with
//!   `ansible_job_id`; `async_status` later reads the job and, once it has finished, gives the
//!   module that job's output ([`ReplayConn`]) so the result has the module's own shape.
//!   Only modules that do their work in one script (command, shell, raw, script) can run so.
//!
//! Knows the Connection trait and the registry; knows nothing of tasks or plays.

use crate::connection::{BoxFuture, ConnError, Connection, ExecOutput, ExecRequest};
use crate::modules::remote::q;
use crate::modules::{DynModule, ModuleError, Outcome, TaskContext};
use base64::Engine;
use minijinja::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Modules whose whole work is one script, which `poll: 0` can leave running.
pub const BACKGROUND_MODULES: &[&str] = &["command", "shell", "raw", "script"];

/// A job's state as its directory tells it.
#[derive(Debug, Clone)]
pub enum JobState {
    Running,
    Done(ExecOutput),
    TimedOut,
    /// No exit status and no process: killed from outside (or the host rebooted).
    Vanished,
}

/// A job read back, with what ran.
pub struct Job {
    pub state: JobState,
    /// `{"module": NAME, "args": {...}}` as written at launch.
    pub meta: Option<serde_json::Value>,
}

/// A new job id (Ansible's look: `j` and digits).
pub fn new_jid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() % 1_000_000_000_000)
        .unwrap_or(0);
    format!(
        "j{t}.{}.{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

const JOB_DIR: &str = "\"${HOME:-/tmp}/.ansible_async\"";

/// The job's results path as the host names it (`$HOME` expanded there).
fn dir_of(jid: &str) -> String {
    format!("{JOB_DIR}/{}", q(jid))
}

/// Starts `script` (its stdin from ours) as job `jid`, limited to `limit` seconds.
fn launch_script(jid: &str, script: &str, meta: &str, limit: u64) -> String {
    // The job: the script in the background, a watchdog that kills the session at the limit
    // (checking each second whether the job is done or its files are gone, so it outlives the
    // job by a second at most),
    // and the exit status written last, atomically.
    let job = r#"d=$1; lim=$2
sh "$d/script" < "$d/stdin" > "$d/stdout" 2> "$d/stderr" & p=$!
echo $p > "$d/pid"
( i=0; while [ $i -lt "$lim" ]; do sleep 1; [ -f "$d/rc" ] || [ ! -d "$d" ] && exit 0; i=$((i+1)); done
  echo "$lim" > "$d/timedout"; kill -KILL -$$ 2>/dev/null || kill -KILL $p ) &
wait $p; rc=$?
echo $rc > "$d/rc.t" && mv "$d/rc.t" "$d/rc"
"#;
    format!(
        "d={dir}\numask 077\nmkdir -p \"$d\" || exit 90\n\
         printf '%s' {script} > \"$d/script\" && printf '%s' {meta} > \"$d/meta\" && cat > \"$d/stdin\" || exit 90\n\
         s=; command -v setsid >/dev/null 2>&1 && s=setsid\n\
         nohup $s sh -c {job} rmesos-async \"$d\" {limit} </dev/null >/dev/null 2>&1 &\n\
         printf 'results_file=%s\\n' \"$d\"\n",
        dir = dir_of(jid),
        script = q(script),
        meta = q(meta),
        job = q(job),
    )
}

/// Prints the state line, the meta (base64) line, then the job's stdout (stderr on stderr);
/// `cleanup` removes a finished job's directory.
fn status_script(jid: &str, cleanup: bool) -> String {
    let rm = if cleanup {
        "case $st in running) ;; *) rm -rf \"$d\" ;; esac\n"
    } else {
        ""
    };
    format!(
        "d={dir}\n[ -d \"$d\" ] || {{ echo \"could not find job {jid}\" >&2; exit 91; }}\n\
         if [ -f \"$d/timedout\" ]; then st=timeout\n\
         elif [ -f \"$d/rc\" ]; then st=\"done $(cat \"$d/rc\")\"\n\
         elif [ ! -f \"$d/pid\" ] || kill -0 \"$(cat \"$d/pid\")\" 2>/dev/null; then st=running\n\
         else st=vanished; fi\n\
         echo \"$st\"\n{{ base64 < \"$d/meta\" | tr -d '\\n'; }} 2>/dev/null; echo\n\
         case $st in done*) cat \"$d/stdout\"; cat \"$d/stderr\" >&2 ;; esac\n{rm}exit 0\n",
        dir = dir_of(jid),
        jid = jid.replace(['"', '$', '`', '\\'], ""),
    )
}

/// Parses a status script's output.
fn parse_status(out: ExecOutput) -> Job {
    let mut parts = out.stdout.splitn(3, |b| *b == b'\n');
    let st = String::from_utf8_lossy(parts.next().unwrap_or_default()).to_string();
    let meta_line = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default().to_vec();
    let meta = base64::engine::general_purpose::STANDARD
        .decode(meta_line)
        .ok()
        .and_then(|m| serde_json::from_slice(&m).ok());
    let state = match st.split_once(' ') {
        Some(("done", rc)) => JobState::Done(ExecOutput {
            rc: rc.trim().parse().unwrap_or(-1),
            stdout: rest,
            stderr: out.stderr,
            stdout_omitted: out.stdout_omitted,
            stderr_omitted: out.stderr_omitted,
        }),
        _ if st == "timeout" => JobState::TimedOut,
        _ if st == "vanished" => JobState::Vanished,
        _ => JobState::Running,
    };
    Job { state, meta }
}

async fn launch(
    inner: &dyn Connection,
    req: &ExecRequest<'_>,
    jid: &str,
    meta: &str,
    limit: u64,
) -> Result<String, ConnError> {
    let script = launch_script(jid, req.script, meta, limit);
    let out = inner
        .exec(ExecRequest {
            script: &script,
            stdin: req.stdin,
            become_: req.become_,
            timeout: req.timeout,
            output_limit: None,
        })
        .await?;
    if out.rc != 0 {
        return Err(ConnError::Other(format!(
            "cannot start the async job: {}",
            out.stderr_str().trim()
        )));
    }
    let path = out.stdout_str();
    Ok(path.trim().trim_start_matches("results_file=").to_string())
}

/// Reads job `jid` (as the identity `become_` names, which must be the one that started it).
pub async fn status(cx: &TaskContext<'_>, jid: &str, cleanup: bool) -> Result<Job, ModuleError> {
    let out = cx.run(&status_script(jid, cleanup), &[]).await?;
    if out.rc != 0 {
        return Err(ModuleError::Failed(format!(
            "could not find job {jid} ({})",
            out.stderr_str().trim()
        )));
    }
    Ok(parse_status(out))
}

/// A connection whose every exec runs as a job, polled until it ends.
pub struct PollingConn<'a> {
    inner: &'a dyn Connection,
    meta: String,
    limit: u64,
    poll: Duration,
    deadline: Instant,
    /// The last job's id and results path.
    pub last: Mutex<Option<(String, String)>>,
}

impl<'a> PollingConn<'a> {
    pub fn new(inner: &'a dyn Connection, meta: String, limit: u64, poll: u64) -> Self {
        PollingConn {
            inner,
            meta,
            limit,
            poll: Duration::from_secs(poll.max(1)),
            deadline: Instant::now() + Duration::from_secs(limit),
            last: Mutex::new(None),
        }
    }

    fn timeout_error(&self) -> ConnError {
        ConnError::Other(format!(
            "async task did not complete within the requested time - {}s",
            self.limit
        ))
    }

    async fn run(&self, req: ExecRequest<'_>) -> Result<ExecOutput, ConnError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.timeout_error());
        }
        let jid = new_jid();
        let path = launch(self.inner, &req, &jid, &self.meta, left.as_secs().max(1)).await?;
        if let Ok(mut l) = self.last.lock() {
            *l = Some((jid.clone(), path));
        }
        loop {
            let now = Instant::now();
            // The host's watchdog ends the job at the limit; a little grace to read that.
            if now > self.deadline + Duration::from_secs(5) {
                return Err(self.timeout_error());
            }
            tokio::time::sleep(
                self.poll
                    .min(self.deadline.saturating_duration_since(now) + Duration::from_secs(1)),
            )
            .await;
            let script = status_script(&jid, true);
            let out = self
                .inner
                .exec(ExecRequest {
                    script: &script,
                    stdin: &[],
                    become_: req.become_,
                    timeout: None,
                    output_limit: req.output_limit,
                })
                .await?;
            match parse_status(out).state {
                JobState::Running => continue,
                JobState::Done(o) => return Ok(o),
                JobState::TimedOut => return Err(self.timeout_error()),
                JobState::Vanished => {
                    return Err(ConnError::Other(format!(
                        "async job {jid} vanished (killed?)"
                    )));
                }
            }
        }
    }
}

impl Connection for PollingConn<'_> {
    fn exec<'a>(&'a self, req: ExecRequest<'a>) -> BoxFuture<'a, Result<ExecOutput, ConnError>> {
        Box::pin(self.run(req))
    }
}

/// Starts the module's one script as a job and answers the module with an empty success; a
/// second script is refused.
struct LaunchConn<'a> {
    inner: &'a dyn Connection,
    module: &'static str,
    meta: String,
    limit: u64,
    started: Mutex<Option<(String, String)>>,
}

impl LaunchConn<'_> {
    async fn run(&self, req: ExecRequest<'_>) -> Result<ExecOutput, ConnError> {
        if self.started.lock().map(|s| s.is_some()).unwrap_or(true) {
            return Err(ConnError::Other(format!(
                "{} runs more than one script, so it cannot run with poll: 0",
                self.module
            )));
        }
        let jid = new_jid();
        let path = launch(self.inner, &req, &jid, &self.meta, self.limit).await?;
        if let Ok(mut s) = self.started.lock() {
            *s = Some((jid, path));
        }
        Ok(ExecOutput::default())
    }
}

impl Connection for LaunchConn<'_> {
    fn exec<'a>(&'a self, req: ExecRequest<'a>) -> BoxFuture<'a, Result<ExecOutput, ConnError>> {
        Box::pin(self.run(req))
    }
}

/// Gives the module a finished job's output as the answer to its one script.
pub struct ReplayConn {
    out: Mutex<Option<ExecOutput>>,
}

impl ReplayConn {
    pub fn new(out: ExecOutput) -> Self {
        ReplayConn {
            out: Mutex::new(Some(out)),
        }
    }
}

impl Connection for ReplayConn {
    fn exec<'a>(&'a self, _: ExecRequest<'a>) -> BoxFuture<'a, Result<ExecOutput, ConnError>> {
        let out = self.out.lock().ok().and_then(|mut o| o.take());
        Box::pin(async move {
            out.ok_or_else(|| ConnError::Other("the job ran one script only".into()))
        })
    }
}

/// The same task context on another connection.
pub fn with_conn<'a>(cx: &TaskContext<'a>, conn: &'a dyn Connection) -> TaskContext<'a> {
    TaskContext {
        host: cx.host,
        conn,
        become_: cx.become_,
        environment: cx.environment,
        timeout: cx.timeout,
        check_mode: cx.check_mode,
        diff: cx.diff,
        search_paths: cx.search_paths,
        templating: cx.templating,
        output_limit: cx.output_limit,
    }
}

fn meta_json(module: &dyn DynModule, args: &Value) -> String {
    serde_json::json!({"module": module.name(), "args": args}).to_string()
}

/// Runs `module` as an async task: `async: limit`, `poll: poll` (0: start it and return).
pub async fn run_async(
    module: &'static dyn DynModule,
    args: &Value,
    cx: &TaskContext<'_>,
    limit: u64,
    poll: u64,
) -> Result<Outcome, ModuleError> {
    let meta = meta_json(module, args);
    if poll > 0 {
        let conn = PollingConn::new(cx.conn, meta, limit, poll);
        let o = module.run_dyn(args, &with_conn(cx, &conn)).await?;
        let last = conn.last.lock().ok().and_then(|l| l.clone());
        let mut o = o.with("finished", 1);
        if let Some((jid, path)) = last {
            o = o.with("ansible_job_id", jid).with("results_file", path);
        }
        return Ok(o);
    }
    if !BACKGROUND_MODULES.contains(&module.name()) {
        return Err(ModuleError::Failed(format!(
            "{} cannot run with poll: 0 (only {} run as one script that can be left running); use poll: N",
            module.name(),
            BACKGROUND_MODULES.join(", ")
        )));
    }
    let conn = LaunchConn {
        inner: cx.conn,
        module: module.name(),
        meta,
        limit,
        started: Mutex::new(None),
    };
    let o = module.run_dyn(args, &with_conn(cx, &conn)).await?;
    let started = conn.started.lock().ok().and_then(|s| s.clone());
    let Some((jid, path)) = started else {
        return Ok(o); // nothing ran on the host (check mode, creates/removes)
    };
    Ok(Outcome::changed(true)
        .with("ansible_job_id", jid)
        .with("started", 1)
        .with("finished", 0)
        .with("results_file", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::local::LocalConnection;

    fn sh_status(jid: &str, home: &str) -> Job {
        let out = std::process::Command::new("sh")
            .args(["-c", &status_script(jid, false)])
            .env("HOME", home)
            .output()
            .unwrap();
        parse_status(ExecOutput {
            rc: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn a_job_runs_detached_and_its_status_carries_output_and_meta() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().display().to_string();
        let conn = LocalConnection::default();
        let script = format!(
            "export HOME={}\n{}",
            q(&h),
            launch_script(
                "j1",
                "cat; echo err >&2; exit 3",
                "{\"module\":\"shell\"}",
                30
            )
        );
        let out = conn
            .exec(ExecRequest {
                script: &script,
                stdin: b"in\n",
                become_: None,
                timeout: None,
                output_limit: None,
            })
            .await
            .unwrap();
        assert_eq!(out.rc, 0, "{}", out.stderr_str());
        let mut job = sh_status("j1", &h);
        // Generous: the machine may be busy with other tests.
        for _ in 0..300 {
            if !matches!(job.state, JobState::Running) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            job = sh_status("j1", &h);
        }
        let JobState::Done(o) = job.state else {
            panic!("{:?}", job.state)
        };
        assert_eq!(
            (o.rc, o.stdout_str(), o.stderr_str()),
            (3, "in\n".into(), "err\n".into())
        );
        assert_eq!(job.meta.unwrap()["module"], "shell");
    }

    #[tokio::test]
    async fn a_job_past_its_limit_is_killed() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().display().to_string();
        let script = format!(
            "export HOME={}\n{}",
            q(&h),
            launch_script("j2", "sleep 30; echo late", "{}", 1)
        );
        let out = LocalConnection::default()
            .exec(ExecRequest {
                script: &script,
                stdin: b"",
                become_: None,
                timeout: None,
                output_limit: None,
            })
            .await
            .unwrap();
        assert_eq!(out.rc, 0);
        let mut state = sh_status("j2", &h).state;
        for _ in 0..150 {
            if !matches!(state, JobState::Running) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            state = sh_status("j2", &h).state;
        }
        assert!(matches!(state, JobState::TimedOut), "{state:?}");
        let pid = std::fs::read_to_string(home.path().join(".ansible_async/j2/pid")).unwrap();
        // Killed: gone, or a zombie waiting to be reaped.
        let running = || {
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|st| {
                st.rsplit(')')
                    .next()
                    .is_some_and(|r| !r.trim_start().starts_with('Z'))
            })
        };
        for _ in 0..30 {
            if !running() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!running(), "the job's process is still running");
    }
}
