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
}

impl Interrupts {
    /// Starts listening: the first interrupt cancels `cancel`, a second exits.
    pub fn listen(cancel: CancellationToken) -> std::io::Result<Interrupts> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
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
        Ok(Interrupts { first, task })
    }

    /// The first interrupt, if one came.
    pub fn received(&self) -> Option<Interrupt> {
        self.first.get().copied()
    }
}

/// The next SIGINT or SIGTERM.
async fn next(int: &mut Signal, term: &mut Signal) -> Interrupt {
    tokio::select! {
        _ = int.recv() => Interrupt::Int,
        _ = term.recv() => Interrupt::Term,
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.task.abort();
        if self.received().is_none() {
            for sig in [libc::SIGINT, libc::SIGTERM] {
                // SAFETY: installs the default action; no handler of ours runs after this.
                unsafe { libc::signal(sig, libc::SIG_DFL) };
            }
        }
    }
}
