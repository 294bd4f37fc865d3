//! `vars_prompt`: asking the plays' questions on the terminal before any host is touched
//! (Ansible asks as each play starts; asking first means a run never stops half-way to wait).
//! A variable given with `-e` is not asked. Without a terminal the default is used, as in
//! Ansible; a question with no default and no terminal stops the run, naming the variable and
//! the `-e` that answers it (Ansible would carry on with an empty value).

use super::error::AppError;
use crate::error::LoadError;
use crate::plan::VarPrompt;
use minijinja::Value;
use std::io::{BufRead, IsTerminal, Write};

/// Reads one answer: the question, and whether to echo what is typed.
pub type Reader<'a> = &'a mut dyn FnMut(&str, bool) -> std::io::Result<String>;

/// The answer to `p`: asked through `tty` when there is a terminal (`None`: there is not).
pub fn answer(p: &VarPrompt, tty: Option<Reader<'_>>) -> Result<Value, AppError> {
    let Some(read) = tty else {
        return match &p.default {
            Some(d) => {
                eprintln!(
                    "[WARNING]: Not prompting for `{}`: no terminal; using its default",
                    p.name
                );
                Ok(d.clone())
            }
            None => Err(AppError::Load(
                LoadError::new(
                    &p.span,
                    format!(
                        "vars_prompt `{}` needs an answer and there is no terminal to ask on",
                        p.name
                    ),
                )
                .hint(format!(
                    "pass it with -e {}=VALUE (or give the prompt a `default:`)",
                    p.name
                )),
            )),
        };
    };
    let question = match &p.default {
        Some(d) => format!("{} [{}]: ", p.prompt, d),
        None => format!("{}: ", p.prompt),
    };
    loop {
        let first = read(&question, p.private).map_err(AppError::Password)?;
        if p.confirm {
            let again =
                read(&format!("confirm {}", question), p.private).map_err(AppError::Password)?;
            if again != first {
                eprintln!("***** VALUES ENTERED DO NOT MATCH ****");
                continue;
            }
        }
        return Ok(match (&p.default, first.is_empty()) {
            (Some(d), true) => d.clone(),
            _ if p.unsafe_ => crate::yaml::unsafe_value(&first),
            _ => Value::from(first),
        });
    }
}

/// Asks on the process's terminal; `None` when stdin is not one.
pub fn terminal() -> Option<impl FnMut(&str, bool) -> std::io::Result<String>> {
    std::io::stdin()
        .is_terminal()
        .then_some(|q: &str, private: bool| {
            if private {
                return rpassword::prompt_password(q);
            }
            let mut out = std::io::stdout();
            out.write_all(q.as_bytes())?;
            out.flush()?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            Ok(line.trim_end_matches(['\n', '\r']).to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Span;

    fn prompt(default: Option<&str>, confirm: bool) -> VarPrompt {
        VarPrompt {
            name: "version".into(),
            prompt: "Which version?".into(),
            private: false,
            default: default.map(Value::from),
            confirm,
            unsafe_: false,
            span: Span::new("site.yml", 3, 7),
        }
    }

    #[test]
    fn without_a_terminal_the_default_or_a_clear_error() {
        let v = answer(&prompt(Some("1.2"), false), None).unwrap();
        assert_eq!(v, Value::from("1.2"));
        let e = answer(&prompt(None, false), None).unwrap_err().to_string();
        assert!(e.starts_with("site.yml:3:7: vars_prompt `version`"), "{e}");
        assert!(e.contains("-e version=VALUE"), "{e}");
    }

    #[test]
    fn on_a_terminal_empty_means_default_and_confirm_asks_until_both_match() {
        let mut asked = Vec::new();
        let mut answers = vec!["", "2.0", "2.1", "2.0", "2.0"].into_iter();
        let mut read = |q: &str, _private: bool| {
            asked.push(q.to_string());
            Ok(answers.next().unwrap_or_default().to_string())
        };
        let v = answer(&prompt(Some("1.2"), false), Some(&mut read)).unwrap();
        assert_eq!(v, Value::from("1.2"));
        let v = answer(&prompt(None, true), Some(&mut read)).unwrap();
        assert_eq!(v, Value::from("2.0"));
        assert_eq!(
            asked,
            [
                "Which version? [1.2]: ",
                "Which version?: ",
                "confirm Which version?: ",
                "Which version?: ",
                "confirm Which version?: "
            ]
        );
    }
}
