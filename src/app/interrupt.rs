//! SIGINT (Ctrl-C) and SIGTERM while plays run. The first stops the run: the executor starts
//! no further task, every command running on a host is stopped (its process group, over SSH
//! and locally, as the identity that runs it), the hosts it ran on fail with "interrupted", and
//! the run prints what it stopped and the recap; the process then exits 130 (SIGINT) or 143
//! (SIGTERM). A second interrupt exits at once with its own code, killing the local commands
//! but leaving remote ones as they are.
//!
//! Listens only while [`Session::execute`](super::session::Session::execute) runs plays: before,
//! a signal ends the process as it always does, and after (an `ec2 launch` goes on after its
//! deploy) the default action is restored, since tokio's handler, once installed, would
//! otherwise swallow every later Ctrl-C. tokio installs its handler once per process, so a
//! second `execute` in the same process would not see interrupts (none does today): a signal
//! then ends the process as before. Owns the messages to the terminal about it.

use super::exit::Exit;
use crate::exec::CancellationToken;
use std::sync::{Arc, OnceLock};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::JoinHandle;

/// Which interrupt came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    Int,
    Term,
}

impl Interrupt {
    pub fn name(self) -> &'static str {
        match self {
            Interrupt::Int => "SIGINT",
            Interrupt::Term => "SIGTERM",
        }
    }

    /// The code the process exits with after it.
    pub fn exit(self) -> Exit {
        match self {
            Interrupt::Int => Exit::Interrupted,
            Interrupt::Term => Exit::Terminated,
        }
    }
}

/// Listens for SIGINT and SIGTERM on the current runtime until dropped.
pub struct Interrupts {
    first: Arc<OnceLock<Interrupt>>,
    task: JoinHandle<()>,
    /// The signals listened for: those not ignored when rmesos started.
    listened: Vec<i32>,
}

impl Interrupts {
    /// Starts listening: the first interrupt cancels `cancel`, a second exits.
    /// A signal that was ignored when rmesos started (a shell starts a script's background
    /// jobs with SIGINT ignored, so that the terminal's Ctrl-C does not reach them) stays so.
    pub fn listen(cancel: CancellationToken) -> std::io::Result<Interrupts> {
        let listened: Vec<i32> = [libc::SIGINT, libc::SIGTERM]
            .into_iter()
            .filter(|s| !ignored(*s))
            .collect();
        let listen = |sig: i32| -> std::io::Result<Option<Signal>> {
            match listened.contains(&sig) {
                true => signal(SignalKind::from_raw(sig)).map(Some),
                false => Ok(None),
            }
        };
        let mut int = listen(libc::SIGINT)?;
        let mut term = listen(libc::SIGTERM)?;
        let first = Arc::new(OnceLock::new());
        let seen = first.clone();
        let task = tokio::spawn(async move {
            let got = next(&mut int, &mut term).await;
            let _ = seen.set(got);
            eprintln!(
                "\n[rmesos] {}: stopping the commands running on the hosts; no task starts now \
                 (interrupt again to exit at once)",
                got.name()
            );
            cancel.cancel();
            let again = next(&mut int, &mut term).await;
            eprintln!(
                "[rmesos] {} again: exiting at once; commands still running on remote hosts \
                 are left as they are",
                again.name()
            );
            crate::exec::kill_local_commands();
            std::process::exit(again.exit().code());
        });
        Ok(Interrupts {
            first,
            task,
            listened,
        })
    }

    /// The first interrupt, if one came.
    pub fn received(&self) -> Option<Interrupt> {
        self.first.get().copied()
    }
}

/// The next SIGINT or SIGTERM (of those listened for).
async fn next(int: &mut Option<Signal>, term: &mut Option<Signal>) -> Interrupt {
    async fn recv(s: &mut Option<Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    tokio::select! {
        () = recv(int) => Interrupt::Int,
        () = recv(term) => Interrupt::Term,
    }
}

/// Whether `sig`'s action is "ignore" (as the parent left it, before any handler of ours).
fn ignored(sig: i32) -> bool {
    // SAFETY: a zeroed sigaction is a valid out-parameter; a null new action only reads.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.task.abort();
        if self.received().is_none() {
            for &sig in &self.listened {
                // SAFETY: installs the default action; no handler of ours runs after this.
                unsafe { libc::signal(sig, libc::SIG_DFL) };
            }
        }
    }
}
