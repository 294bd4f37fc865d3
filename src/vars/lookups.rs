//! `lookup()`, `query()`/`q()` and Ansible's lookup plugins that run on the controller: env,
//! file, template, first_found, pipe, lines, fileglob, vars, password.
//!
//! Relative paths resolve like Ansible's search path: `role_path/<sub>`, `role_path`,
//! `playbook_dir/<sub>`, `playbook_dir` (the executor puts both in the scope), then the
//! current directory.

use super::filters::{Rng, defined, expand_user, glob_files};
use super::templar::DISK;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};
use std::path::{Path, PathBuf};

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", lookup);
    env.add_function("query", query);
    env.add_function("q", query);
}

fn fail(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn lookup(state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let wantlist = kwargs.get::<Option<bool>>("wantlist")?.unwrap_or(false);
    let results = run(state, &name, &terms, &kwargs)?;
    kwargs.assert_all_used()?;
    if wantlist {
        return Ok(Value::from(results));
    }
    // Ansible joins string results with commas; a single other value comes back as itself.
    if results.iter().all(|r| r.kind() == ValueKind::String) {
        let parts: Vec<&str> = results.iter().filter_map(|r| r.as_str()).collect();
        return Ok(Value::from(parts.join(",")));
    }
    Ok(match <[Value; 1]>::try_from(results) {
        Ok([one]) => one,
        Err(many) => Value::from(many),
    })
}

fn query(state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let results = run(state, &name, &terms, &kwargs)?;
    kwargs.assert_all_used()?;
    Ok(Value::from(results))
}

fn term_strings(state: &State, terms: &[Value]) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for t in terms {
        defined(state, t)?;
        match t.kind() {
            ValueKind::Seq | ValueKind::Iterable => {
                out.extend(term_strings(state, &t.try_iter()?.collect::<Vec<_>>())?)
            }
            _ => out.push(crate::vocab::python_str(t)),
        }
    }
    Ok(out)
}

fn run(state: &State, name: &str, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let name = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("community.general."))
        .unwrap_or(name);
    match name {
        "env" => {
            let default: Option<Value> = kwargs.get("default")?;
            Ok(term_strings(state, terms)?
                .iter()
                .map(|t| match (std::env::var(t), &default) {
                    (Ok(v), _) => Value::from(v),
                    (Err(_), Some(d)) => d.clone(),
                    (Err(_), None) => Value::from(""),
                })
                .collect())
        }
        "file" => {
            let rstrip = kwargs.get::<Option<bool>>("rstrip")?.unwrap_or(true);
            let lstrip = kwargs.get::<Option<bool>>("lstrip")?.unwrap_or(false);
            term_strings(state, terms)?
                .iter()
                .map(|t| {
                    let path = find(state, t, "files")
                        .ok_or_else(|| fail(format!("could not locate file in lookup: {t}")))?;
                    let mut text = std::fs::read_to_string(&path)
                        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
                    if rstrip {
                        text.truncate(text.trim_end().len());
                    }
                    if lstrip {
                        text = text.trim_start().to_string();
                    }
                    Ok(Value::from(text))
                })
                .collect()
        }
        "template" => term_strings(state, terms)?
            .iter()
            .map(|t| {
                let path = find(state, t, "templates")
                    .ok_or_else(|| fail(format!("could not locate template in lookup: {t}")))?;
                let tmpl = state
                    .env()
                    .get_template(&format!("{DISK}{}", path.display()))?;
                // As Ansible's lookup: the template's own variables under the caller's.
                let own = Value::from_pairs([
                    (
                        "ansible_managed",
                        Value::from(crate::vocab::ANSIBLE_MANAGED),
                    ),
                    ("template_path", Value::from(t.as_str())),
                    ("template_fullpath", Value::from(path.display().to_string())),
                ]);
                let vars = minijinja::value::merge_maps([own, context(state)]);
                Ok(Value::from(tmpl.render(vars)?))
            })
            .collect(),
        "first_found" => first_found(state, terms, kwargs),
        "pipe" => term_strings(state, terms)?
            .iter()
            .map(|cmd| Ok(Value::from(shell(cmd)?.trim_end().to_string())))
            .collect(),
        "lines" => {
            let mut out = Vec::new();
            for cmd in term_strings(state, terms)? {
                out.extend(shell(&cmd)?.lines().map(Value::from));
            }
            Ok(out)
        }
        "fileglob" => {
            let mut out = Vec::new();
            for pattern in term_strings(state, terms)? {
                out.extend(fileglob(state, &pattern)?.into_iter().map(Value::from));
            }
            Ok(out)
        }
        "vars" => {
            let default: Option<Value> = kwargs.get("default")?;
            term_strings(state, terms)?
                .iter()
                .map(|t| match (state.lookup(t), &default) {
                    (Some(v), _) if !v.is_undefined() => Ok(v),
                    (_, Some(d)) => Ok(d.clone()),
                    _ => Err(Error::new(
                        ErrorKind::UndefinedError,
                        format!("`{t}` is undefined (no variable found with this name)"),
                    )),
                })
                .collect()
        }
        "password" => term_strings(state, terms)?
            .iter()
            .map(|t| password(state, t, kwargs).map(Value::from))
            .collect(),
        "items" | "list" => Ok(terms
            .iter()
            .flat_map(|t| match t.kind() {
                ValueKind::Seq | ValueKind::Iterable => {
                    t.try_iter().map(|i| i.collect()).unwrap_or_default()
                }
                _ => vec![t.clone()],
            })
            .collect()),
        other => Err(fail(format!(
            "lookup plugin '{other}' is not supported (supported: env, file, template, \
             first_found, pipe, lines, fileglob, vars, password, items)"
        ))),
    }
}

/// The variables of the calling template, to render a looked-up template with.
fn context(state: &State) -> Value {
    match state.lookup("vars") {
        Some(v) if v.kind() == ValueKind::Map => v,
        _ => Value::from_pairs(
            state
                .known_variables()
                .iter()
                .filter_map(|n| state.lookup(n).map(|v| (Value::from(n.as_ref()), v))),
        ),
    }
}

fn var_path(state: &State, name: &str) -> Option<PathBuf> {
    state
        .lookup(name)
        .and_then(|v| v.as_str().map(PathBuf::from))
        .filter(|p| !p.as_os_str().is_empty())
}

/// Directories searched for a relative path, most specific first.
fn search_dirs(state: &State, sub: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["role_path", "playbook_dir"] {
        if let Some(base) = var_path(state, var) {
            dirs.push(base.join(sub));
            dirs.push(base);
        }
    }
    dirs.push(PathBuf::from("."));
    dirs
}

fn find(state: &State, term: &str, sub: &str) -> Option<PathBuf> {
    let term = expand_user(term);
    let p = Path::new(&term);
    if p.is_absolute() {
        return p.exists().then(|| p.to_path_buf());
    }
    search_dirs(state, sub)
        .into_iter()
        .map(|d| d.join(p))
        .find(|c| c.exists())
}

fn fileglob(state: &State, pattern: &str) -> Result<Vec<String>, Error> {
    if Path::new(pattern).is_absolute() {
        return glob_files(pattern);
    }
    for dir in search_dirs(state, "files") {
        let found = glob_files(&format!("{}/{pattern}", dir.display()))?;
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

fn shell(cmd: &str) -> Result<String, Error> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|e| fail(format!("lookup pipe: cannot run sh: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "lookup pipe: `{cmd}` returned {}: {}",
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn first_found(state: &State, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    for t in terms {
        defined(state, t)?;
    }
    let mut ff = FirstFound::from_terms(terms)?;
    ff.skip |= kwargs.get::<Option<bool>>("skip")?.unwrap_or(false);
    if let Some(f) = kwargs.get::<Option<Value>>("files")? {
        ff.files.extend(term_strings(state, &[f])?);
    }
    if let Some(p) = kwargs.get::<Option<Value>>("paths")? {
        ff.paths.extend(term_strings(state, &[p])?);
    }
    match ff.find(&search_dirs(state, "files"))? {
        Some(path) => Ok(vec![Value::from(path.display().to_string())]),
        None => Ok(Vec::new()),
    }
}

/// A `first_found` lookup's terms (already templated): the candidate files, the directories
/// to try them in, and whether finding none is fine. `with_first_found` uses it too, with the
/// search directories of the task's action (`vars/` for include_vars, `templates/`...).
#[derive(Debug, Default)]
pub struct FirstFound {
    pub files: Vec<String>,
    pub paths: Vec<String>,
    pub skip: bool,
}

impl FirstFound {
    /// Strings, lists of them, or `{files: [...], paths: [...], skip: bool}` mappings, whose
    /// strings may list several names split on `,`, `;` or `:`.
    pub fn from_terms(terms: &[Value]) -> Result<FirstFound, Error> {
        let mut ff = FirstFound::default();
        for t in terms {
            if t.kind() == ValueKind::Seq {
                for item in t.try_iter()? {
                    ff.add_term(&item)?;
                }
            } else {
                ff.add_term(t)?;
            }
        }
        Ok(ff)
    }

    fn add_term(&mut self, v: &Value) -> Result<(), Error> {
        if v.kind() != ValueKind::Map {
            self.files.push(crate::vocab::python_str(v));
            return Ok(());
        }
        for (key, into) in [("files", &mut self.files), ("paths", &mut self.paths)] {
            let given = v.get_attr(key)?;
            if given.is_undefined() {
                continue;
            }
            let strings: Vec<String> = match given.kind() {
                ValueKind::Seq | ValueKind::Iterable => given
                    .try_iter()?
                    .map(|x| crate::vocab::python_str(&x))
                    .collect(),
                _ => vec![crate::vocab::python_str(&given)],
            };
            for s in strings {
                into.extend(
                    s.split([',', ';', ':'])
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty()),
                );
            }
        }
        self.skip |= v.get_attr("skip")?.is_true();
        Ok(())
    }

    /// The first candidate that exists: absolute names as they are, names under `paths`
    /// (relative paths there resolve against `search`), else names against `search`. None
    /// found is an error unless `skip`.
    pub fn find(&self, search: &[PathBuf]) -> Result<Option<PathBuf>, Error> {
        let in_search = |rel: &Path| search.iter().map(|d| d.join(rel)).find(|c| c.exists());
        for f in &self.files {
            let f = PathBuf::from(expand_user(f));
            let found = if f.is_absolute() {
                f.exists().then(|| f.clone())
            } else if self.paths.is_empty() {
                in_search(&f)
            } else {
                self.paths.iter().find_map(|p| {
                    let c = PathBuf::from(expand_user(p)).join(&f);
                    if c.is_absolute() {
                        c.exists().then_some(c)
                    } else {
                        in_search(&c)
                    }
                })
            };
            if found.is_some() {
                return Ok(found);
            }
        }
        if self.skip {
            return Ok(None);
        }
        Err(fail(format!(
            "first_found: no file was found among {}",
            self.files.join(", ")
        )))
    }
}

/// `password`: reads the password stored at the path, or generates one and stores it there
/// (`/dev/null` generates without storing). Term options: `length=`, `chars=`.
fn password(state: &State, term: &str, kwargs: &Kwargs) -> Result<String, Error> {
    let mut words = term.split_whitespace();
    let path = words
        .next()
        .ok_or_else(|| fail("lookup password: no path given"))?;
    let mut length = kwargs.get::<Option<usize>>("length")?.unwrap_or(20);
    let mut chars_spec = kwargs
        .get::<Option<String>>("chars")?
        .unwrap_or_else(|| "ascii_letters,digits,.,:-_".into());
    for opt in words {
        match opt.split_once('=') {
            Some(("length", n)) => {
                length = n
                    .parse()
                    .map_err(|_| fail(format!("lookup password: bad length {n:?}")))?
            }
            Some(("chars", c)) => chars_spec = c.to_string(),
            Some(("encrypt" | "seed" | "ident", _)) => {}
            _ => return Err(fail(format!("lookup password: unknown option {opt:?}"))),
        }
    }
    let path = expand_user(path);
    let path = if Path::new(&path).is_absolute() {
        PathBuf::from(path)
    } else {
        var_path(state, "playbook_dir")
            .unwrap_or_else(|| PathBuf::from("."))
            .join(path)
    };
    if path != Path::new("/dev/null")
        && let Ok(existing) = std::fs::read_to_string(&path)
    {
        return Ok(existing.split_whitespace().next().unwrap_or("").to_string());
    }
    let alphabet = password_chars(&chars_spec);
    if alphabet.is_empty() {
        return Err(fail("lookup password: empty character set"));
    }
    let mut rng = Rng::new(None);
    let pw: String = (0..length)
        .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
        .collect();
    if path != Path::new("/dev/null") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format!("lookup password: {}: {e}", dir.display())))?;
        }
        std::fs::write(&path, format!("{pw}\n"))
            .map_err(|e| fail(format!("lookup password: {}: {e}", path.display())))?;
    }
    Ok(pw)
}

fn password_chars(spec: &str) -> Vec<char> {
    let mut out = Vec::new();
    // Ansible writes a literal comma as ",," in the list.
    for part in spec.replace(",,", ",\u{0}").split(',') {
        match part {
            "ascii_letters" => out.extend(('a'..='z').chain('A'..='Z')),
            "ascii_lowercase" => out.extend('a'..='z'),
            "ascii_uppercase" => out.extend('A'..='Z'),
            "digits" => out.extend('0'..='9'),
            "hexdigits" => out.extend(('0'..='9').chain('a'..='f').chain('A'..='F')),
            "punctuation" => out.extend("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".chars()),
            "\u{0}" => out.push(','),
            literal => out.extend(literal.chars()),
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}
