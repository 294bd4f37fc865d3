//! The vault passwords of a run, where they come from, and the one keyring of the process.

use super::VaultError;
use super::cipher::{decrypt_with, parse_envelope};
use std::path::Path;
use std::sync::{Arc, RwLock};

/// The vault id of a password given without a label.
pub const DEFAULT_ID: &str = "default";

/// One password and the vault id it was given for.
#[derive(Clone)]
pub struct Secret {
    pub id: String,
    pub password: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}, ********)", self.id)
    }
}

impl Secret {
    /// A password read from `path`: an executable's standard output (a `NAME-client` script is
    /// asked for `--vault-id ID`, as Ansible does), else the file's content; surrounding
    /// whitespace and line ends are not part of it.
    pub fn from_source(id: &str, path: &Path) -> Result<Secret, VaultError> {
        let shown = path.display();
        let meta =
            std::fs::metadata(path).map_err(|e| VaultError::Source(format!("{shown}: {e}")))?;
        if meta.is_dir() {
            return Err(VaultError::Source(format!("{shown} is a directory")));
        }
        let raw = if is_executable(&meta) {
            run_script(id, path)?
        } else {
            let b = std::fs::read(path).map_err(|e| VaultError::Source(format!("{shown}: {e}")))?;
            b.trim_ascii().to_vec()
        };
        let password = trim_line_ends(&raw).to_vec();
        if password.is_empty() {
            return Err(VaultError::Source(format!(
                "{shown} gave an empty password"
            )));
        }
        Ok(Secret {
            id: id.to_string(),
            password,
        })
    }
}

fn trim_line_ends(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !matches!(c, b'\r' | b'\n'))
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !matches!(c, b'\r' | b'\n'))
        .map_or(start, |e| e + 1);
    &b[start..end]
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

fn run_script(id: &str, path: &Path) -> Result<Vec<u8>, VaultError> {
    let shown = path.display();
    let mut cmd = std::process::Command::new(path);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem.ends_with("-client") {
        cmd.args(["--vault-id", id]);
    }
    // stderr stays the terminal's: a script may prompt there.
    let out = cmd
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| VaultError::Source(format!("{shown}: cannot run: {e}")))?;
    if !out.status.success() {
        return Err(VaultError::Source(format!(
            "{shown} exited with {}",
            out.status
        )));
    }
    Ok(out.stdout)
}

/// The passwords of a run, in the order given.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    secrets: Vec<Secret>,
}

impl Keyring {
    pub fn new(secrets: Vec<Secret>) -> Self {
        Keyring { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Decrypts vault text: passwords whose id matches the envelope's first, then the others
    /// (Ansible tries every password).
    pub fn decrypt(&self, text: &str) -> Result<Vec<u8>, VaultError> {
        let env = parse_envelope(text)?;
        if self.secrets.is_empty() {
            return Err(VaultError::NoPassword);
        }
        let wanted = env.vault_id.as_deref();
        let (first, rest): (Vec<&Secret>, Vec<&Secret>) = self
            .secrets
            .iter()
            .partition(|s| Some(s.id.as_str()) == wanted);
        for s in first.into_iter().chain(rest) {
            if let Ok(plain) = decrypt_with(&env, &s.password) {
                return Ok(plain);
            }
        }
        let ids: Vec<&str> = self.secrets.iter().map(|s| s.id.as_str()).collect();
        Err(VaultError::WrongPassword(ids.join(", ")))
    }

    /// The password to encrypt with: the one of vault id `id`, else the first.
    pub fn for_encrypt(&self, id: Option<&str>) -> Option<&Secret> {
        match id {
            Some(id) => self.secrets.iter().find(|s| s.id == id),
            None => self.secrets.first(),
        }
    }
}

/// The process's keyring: `app` installs it once, before loading anything; loaders read it.
/// Global because files are decrypted from a dozen loading places whose signatures carry no
/// passwords (the same reason as the YAML warnings queue).
static KEYRING: RwLock<Option<Arc<Keyring>>> = RwLock::new(None);

pub fn install(k: Keyring) {
    if let Ok(mut g) = KEYRING.write() {
        *g = Some(Arc::new(k));
    }
}

/// The installed keyring (an empty one when none was installed).
pub fn installed() -> Arc<Keyring> {
    KEYRING
        .read()
        .ok()
        .and_then(|g| g.clone())
        .unwrap_or_default()
}
