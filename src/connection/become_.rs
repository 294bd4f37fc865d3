//! Privilege escalation: wraps a script in sudo or su. The password travels on stdin, ahead of
//! the script's own stdin, only after the transport has seen the prompt (a random marker), so it
//! is never on a command line and never fed to a command that did not ask for it.

use super::sh_quote;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BecomeMethod {
    Sudo,
    Su,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BecomeSpec {
    pub method: BecomeMethod,
    pub user: String,
    pub flags: Option<String>,
    /// Never printed, never put on a command line.
    pub password: Option<String>,
}

/// A script wrapped for escalation, with the markers the transport watches for on stderr.
pub struct Wrapped {
    pub command: String,
    /// Printed by sudo/su when it wants the password.
    pub prompt: String,
    /// Printed (to stderr) by the escalated shell before the real script starts.
    pub success: String,
}

impl BecomeSpec {
    /// Wraps `inner` (an `sh -c` ready command line) so it runs as `self.user`.
    pub fn wrap(&self, script: &str) -> Wrapped {
        let nonce = super::random_token();
        let prompt = format!("[rmesos-become-{}] password:", nonce);
        let success = format!("RMESOS-BECOME-OK-{}", nonce);
        let inner = format!("echo {} >&2; exec /bin/sh -c {}", success, sh_quote(script));
        let command = match self.method {
            BecomeMethod::Sudo => {
                let flags = self.flags.clone().unwrap_or_else(|| "-H -S".to_string());
                let n = if self.password.is_none() { " -n" } else { "" };
                format!(
                    "sudo {}{} -p {} -u {} /bin/sh -c {}",
                    flags,
                    n,
                    sh_quote(&prompt),
                    sh_quote(&self.user),
                    sh_quote(&inner)
                )
            }
            BecomeMethod::Su => {
                let flags = self.flags.clone().unwrap_or_default();
                format!(
                    "su {} {} -c {}",
                    flags,
                    sh_quote(&self.user),
                    sh_quote(&inner)
                )
            }
        };
        Wrapped {
            command,
            prompt,
            success,
        }
    }
}

/// What the transport does next while it watches a wrapped command's stderr.
#[derive(Debug, PartialEq, Eq)]
pub enum BecomeStep {
    /// Keep reading stderr.
    Wait,
    /// Write these bytes (the password and a newline) to the command's stdin, then keep reading.
    Answer(Vec<u8>),
    /// The escalated shell has started: send the script's own stdin now. Carries the stderr
    /// seen so far with the prompt and the marker removed.
    Started(Vec<u8>),
}

/// The prompt dance shared by every transport: answers sudo's password prompt once, notices
/// when the escalated shell starts, and keeps prompts and markers out of the stderr returned.
/// Transport-agnostic: it is fed stderr chunks and says what to do.
pub struct BecomeWatch {
    prompt: Vec<u8>,
    success: Vec<u8>,
    password: Option<String>,
    head: Vec<u8>,
    answered: bool,
}

impl BecomeWatch {
    pub fn new(wrapped: &Wrapped, password: Option<&str>) -> Self {
        BecomeWatch {
            prompt: wrapped.prompt.as_bytes().to_vec(),
            success: wrapped.success.as_bytes().to_vec(),
            password: password.map(str::to_string),
            head: Vec::new(),
            answered: false,
        }
    }

    /// Takes the next chunk of stderr (only until [`BecomeStep::Started`] was returned).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<BecomeStep, super::ConnError> {
        self.head.extend_from_slice(chunk);
        if let Some(pos) = super::find_from(&self.head, 0, &self.success) {
            let mut rest = self.head[..pos].to_vec();
            let after = &self.head[pos + self.success.len()..];
            rest.extend_from_slice(after.strip_prefix(b"\n").unwrap_or(after));
            return Ok(BecomeStep::Started(rest));
        }
        let Some(pos) = super::find_from(&self.head, 0, &self.prompt) else {
            return Ok(BecomeStep::Wait);
        };
        self.head.drain(pos..pos + self.prompt.len());
        if self.answered {
            // sudo asks again only when the password it was given is wrong.
            return Err(super::ConnError::Become(format!(
                "incorrect sudo password{}",
                self.message_suffix()
            )));
        }
        let Some(password) = &self.password else {
            return Err(super::ConnError::Become(
                "sudo asked for a password but none is set (ansible_become_password)".into(),
            ));
        };
        self.answered = true;
        let mut answer = password.clone().into_bytes();
        answer.push(b'\n');
        Ok(BecomeStep::Answer(answer))
    }

    /// The command ended before the escalated shell started: what sudo/su said, as an error.
    pub fn failure(&self) -> super::ConnError {
        let text = String::from_utf8_lossy(&self.head).trim().to_string();
        if text.is_empty() {
            super::ConnError::Become(
                "privilege escalation ended without starting the command".into(),
            )
        } else {
            super::ConnError::Become(text)
        }
    }

    fn message_suffix(&self) -> String {
        let text = String::from_utf8_lossy(&self.head).trim().to_string();
        if text.is_empty() {
            String::new()
        } else {
            format!(": {}", text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sudo_spec(password: Option<&str>) -> BecomeSpec {
        BecomeSpec {
            method: BecomeMethod::Sudo,
            user: "root".into(),
            flags: None,
            password: password.map(str::to_string),
        }
    }

    #[test]
    fn password_never_on_command_line() {
        let w = sudo_spec(Some("hunter2")).wrap("id -u");
        assert!(!w.command.contains("hunter2"));
        assert!(w.command.contains(&w.prompt));
    }

    #[test]
    fn answers_prompt_split_across_chunks_then_starts() {
        let w = sudo_spec(Some("pw")).wrap("true");
        let mut watch = BecomeWatch::new(&w, Some("pw"));
        let (a, b) = w.prompt.split_at(5);
        assert_eq!(watch.feed(a.as_bytes()).unwrap(), BecomeStep::Wait);
        assert_eq!(
            watch.feed(b.as_bytes()).unwrap(),
            BecomeStep::Answer(b"pw\n".to_vec())
        );
        let tail = format!("{}\nscript err\n", w.success);
        assert_eq!(
            watch.feed(tail.as_bytes()).unwrap(),
            BecomeStep::Started(b"script err\n".to_vec())
        );
    }

    #[test]
    fn second_prompt_means_wrong_password() {
        let w = sudo_spec(Some("bad")).wrap("true");
        let mut watch = BecomeWatch::new(&w, Some("bad"));
        assert!(matches!(
            watch.feed(w.prompt.as_bytes()).unwrap(),
            BecomeStep::Answer(_)
        ));
        let again = format!("Sorry, try again.\n{}", w.prompt);
        match watch.feed(again.as_bytes()) {
            Err(super::super::ConnError::Become(m)) => {
                assert!(m.contains("Sorry, try again."), "{m}");
                assert!(!m.contains("bad"), "{m}");
            }
            other => panic!("expected a become error, got {other:?}"),
        }
    }

    #[test]
    fn prompt_without_password_is_an_error() {
        let w = sudo_spec(None).wrap("true");
        let mut watch = BecomeWatch::new(&w, None);
        assert!(watch.feed(w.prompt.as_bytes()).is_err());
    }
}
