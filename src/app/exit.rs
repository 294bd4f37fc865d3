//! How the process ends: the one table of exit codes (ansible-playbook's where they overlap).
//! [`TABLE`] is shown by `--help` and copied in README.md and docs/compat.md (tests/docs.rs
//! keeps them the same); `app/error.rs` gives each error its code.

/// The exit codes as `--help` shows them.
pub const TABLE: &str = "\
Exit codes:
  0    all went well (also --check, --syntax-check, the listings, --help)
  1    bad input: a playbook, role, inventory, template, variables or ansible.cfg; a --limit,
       the plays' host patterns or --start-at-task that match nothing; a missing --limit @file
  2    a host failed
  4    a host was unreachable (and none failed)
  5    bad command-line options: an unknown flag, a missing or bad value
  130  interrupted by SIGINT (Ctrl-C): the commands running on the hosts are stopped, the
       recap printed (ansible-playbook exits 99)
  143  stopped by SIGTERM, the same way
  250  rmesos could not start (no async runtime)";

/// The outcome of a command, as the process reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: all went well.
    Ok,
    /// 1: bad input (playbook, role, inventory, template, variables, ansible.cfg), or a lab or
    /// cluster operation that failed.
    Failed,
    /// 2: a host failed.
    HostFailed,
    /// 4: a host was unreachable (and none failed).
    Unreachable,
    /// 5: bad command-line options.
    BadOptions,
    /// 130 (128 + SIGINT): the run was interrupted (Ctrl-C); the commands running on the hosts
    /// were stopped and the recap printed. ansible-playbook exits 99 here; 128 + the signal
    /// is what shells and CI runners read as "interrupted".
    Interrupted,
    /// 143 (128 + SIGTERM): the run was told to stop; as [`Exit::Interrupted`] otherwise
    /// (ansible-playbook also exits 143).
    Terminated,
    /// 250: the engine itself could not start (no async runtime).
    Internal,
    /// A program run in rmesos's place ended with this status (`ec2 login`'s ssh).
    Status(i32),
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::HostFailed => 2,
            Exit::Unreachable => 4,
            Exit::BadOptions => 5,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
            Exit::Internal => 250,
            Exit::Status(code) => code,
        }
    }

    /// The outcome of one playbook run (the executor's `RunSummary::exit_code`: 0, 2 or 4).
    pub fn of_run(code: i32) -> Exit {
        match code {
            0 => Exit::Ok,
            2 => Exit::HostFailed,
            4 => Exit::Unreachable,
            other => Exit::Status(other),
        }
    }

    /// Of two runs' outcomes, the one the process reports: any failure over success, and of
    /// two failures the lower code (a failed host over an unreachable one).
    pub fn worst(self, other: Exit) -> Exit {
        match (self.code(), other.code()) {
            (0, _) => other,
            (_, 0) => self,
            (a, b) if b < a => other,
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_the_worst_of_several_runs() {
        let codes: Vec<i32> = [
            Exit::Ok,
            Exit::Failed,
            Exit::HostFailed,
            Exit::Unreachable,
            Exit::BadOptions,
            Exit::Interrupted,
            Exit::Terminated,
            Exit::Internal,
            Exit::Status(7),
        ]
        .map(Exit::code)
        .to_vec();
        assert_eq!(codes, [0, 1, 2, 4, 5, 130, 143, 250, 7]);
        assert_eq!(Exit::of_run(4), Exit::Unreachable);
        assert_eq!(Exit::Ok.worst(Exit::Unreachable), Exit::Unreachable);
        assert_eq!(Exit::Unreachable.worst(Exit::HostFailed), Exit::HostFailed);
        assert_eq!(Exit::HostFailed.worst(Exit::Unreachable), Exit::HostFailed);
        assert_eq!(Exit::HostFailed.worst(Exit::Ok), Exit::HostFailed);
    }
}
