//! `rmesos vault encrypt|decrypt|view|edit|encrypt_string|rekey`, as ansible-vault, and the
//! vault password flags every command shares (`--vault-id`, `--vault-password-file`,
//! `--ask-vault-pass`; `ANSIBLE_VAULT_PASSWORD_FILE` and ansible.cfg's `vault_password_file`
//! when no flag names a file), turned into the process's keyring before anything is loaded.

use super::config::AnsibleCfg;
use super::{AppError, Exit};
use crate::vault::{self, DEFAULT_ID, Keyring, Secret, VaultError};
use clap::{Args, Subcommand};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The vault password flags (shared by `play`, `run`, `inventory` and `vault`).
#[derive(Args, Clone, Debug, Default)]
pub struct VaultArgs {
    /// A vault password as `LABEL@SOURCE` or `SOURCE` (a file, an executable, or `prompt`).
    #[arg(long = "vault-id", global = true)]
    pub vault_id: Vec<String>,
    /// A file holding the vault password, or an executable printing it.
    #[arg(long = "vault-password-file", alias = "vault-pass-file", global = true)]
    pub vault_password_file: Vec<PathBuf>,
    /// Ask for the vault password (on the terminal, not echoed).
    #[arg(
        short = 'J',
        long = "ask-vault-pass",
        alias = "ask-vault-password",
        global = true
    )]
    pub ask_vault_pass: bool,
}

/// Reads every password the flags, the environment and ansible.cfg name, and installs the
/// keyring for the loaders. An unreadable source stops here, naming it.
pub fn install_keyring(v: &VaultArgs, cfg: &AnsibleCfg) -> Result<Keyring, AppError> {
    let keyring = keyring(v, cfg)?;
    vault::install(keyring.clone());
    Ok(keyring)
}

fn keyring(v: &VaultArgs, cfg: &AnsibleCfg) -> Result<Keyring, AppError> {
    let mut secrets = Vec::new();
    // `--vault-id`s, then ANSIBLE_VAULT_IDENTITY_LIST or ansible.cfg's `vault_identity_list`.
    let listed = std::env::var("ANSIBLE_VAULT_IDENTITY_LIST")
        .ok()
        .or_else(|| cfg.vault_identity_list.clone())
        .unwrap_or_default();
    let listed = listed
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    for spec in v.vault_id.iter().cloned().chain(listed) {
        let (id, source) = spec.split_once('@').unwrap_or((DEFAULT_ID, spec.as_str()));
        secrets.push(secret_from(id, source)?);
    }
    let mut files = v.vault_password_file.clone();
    if files.is_empty() {
        let default = std::env::var("ANSIBLE_VAULT_PASSWORD_FILE")
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| cfg.vault_password_file.clone());
        files.extend(default.map(|f| PathBuf::from(expand_home(&f))));
    }
    for f in files {
        secrets.push(Secret::from_source(DEFAULT_ID, &f).map_err(AppError::Vault)?);
    }
    if v.ask_vault_pass {
        secrets.push(prompt(DEFAULT_ID, "Vault password: ")?);
    }
    Ok(Keyring::new(secrets))
}

fn secret_from(id: &str, source: &str) -> Result<Secret, AppError> {
    if source == "prompt" {
        return prompt(id, &format!("Vault password ({id}): "));
    }
    Secret::from_source(id, Path::new(&expand_home(source))).map_err(AppError::Vault)
}

fn expand_home(p: &str) -> String {
    match (p.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => p.to_string(),
    }
}

fn prompt(id: &str, text: &str) -> Result<Secret, AppError> {
    let pw = rpassword::prompt_password(text).map_err(AppError::Password)?;
    Ok(Secret {
        id: id.to_string(),
        password: pw.into_bytes(),
    })
}

/// Vault-encrypted `vars_files` (static names) must open with the run's passwords: they are
/// read per host at run time, and a wrong password must stop the run before any host is
/// touched, as the loader's own files do.
pub fn check_vars_files(pb: &crate::plan::Playbook) -> crate::error::LoadResult<()> {
    for play in &pb.plays {
        for (alternatives, span) in &play.vars_files {
            let found = alternatives
                .iter()
                .take_while(|a| !crate::vocab::is_template(a))
                .map(|a| pb.dir.join(a))
                .find(|p| p.exists());
            let Some(path) = found else { continue };
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if !vault::is_vault(&bytes) {
                continue;
            }
            if let Err(e) = vault::installed().decrypt(&String::from_utf8_lossy(&bytes)) {
                let msg = format!("vars_files: cannot decrypt {}: {e}", path.display());
                return Err(crate::error::LoadError::new(span, msg).hint(
                    "give the vault password: --vault-password-file FILE, --ask-vault-pass or --vault-id LABEL@SOURCE",
                ));
            }
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct VaultCommand {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    pass: VaultArgs,
    /// The vault id to encrypt with (a label given with --vault-id).
    #[arg(long = "encrypt-vault-id", global = true)]
    encrypt_vault_id: Option<String>,
}

#[derive(Subcommand)]
enum Action {
    /// Encrypt files in place (or to --output).
    Encrypt(Files),
    /// Decrypt files in place (or to --output).
    Decrypt(Files),
    /// Show decrypted files.
    View { files: Vec<PathBuf> },
    /// Decrypt a file into $EDITOR, then encrypt it again.
    Edit { file: PathBuf },
    /// Encrypt a string for a `!vault |` value in YAML.
    #[command(name = "encrypt_string", alias = "encrypt-string")]
    EncryptString {
        /// The string (read from stdin when absent).
        string: Option<String>,
        /// Print it as `NAME: !vault |`.
        #[arg(short = 'n', long = "name")]
        name: Option<String>,
    },
    /// Encrypt files again with a new password.
    Rekey {
        files: Vec<PathBuf>,
        #[arg(long = "new-vault-password-file")]
        new_vault_password_file: Option<PathBuf>,
        #[arg(long = "new-vault-id")]
        new_vault_id: Option<String>,
    },
}

#[derive(Args)]
struct Files {
    files: Vec<PathBuf>,
    /// Write here instead of in place (`-` for stdout).
    #[arg(long = "output")]
    output: Option<PathBuf>,
}

pub fn main(a: VaultCommand) -> Result<Exit, AppError> {
    let cfg = AnsibleCfg::load(0)?;
    let mut keys = keyring(&a.pass, &cfg)?;
    if keys.is_empty() {
        keys = Keyring::new(vec![prompt(DEFAULT_ID, "Vault password: ")?]);
    }
    let enc = keys
        .for_encrypt(a.encrypt_vault_id.as_deref())
        .cloned()
        .ok_or(AppError::Vault(VaultError::NoPassword))?;
    match a.action {
        Action::Encrypt(f) => each(&f, |text| encrypt(text, &enc)),
        Action::Decrypt(f) => each(&f, |text| {
            keys.decrypt(&as_text(text)?).map_err(AppError::Vault)
        }),
        Action::View { files } => {
            for f in files {
                let plain = keys
                    .decrypt(&as_text(&read(&f)?)?)
                    .map_err(|e| named(&f, e))?;
                let _ = std::io::stdout().write_all(&plain);
            }
            Ok(Exit::Ok)
        }
        Action::Edit { file } => edit(&file, &keys, &enc),
        Action::EncryptString { string, name } => encrypt_string(string, name.as_deref(), &enc),
        Action::Rekey {
            files,
            new_vault_password_file,
            new_vault_id,
        } => {
            let new = new_secret(new_vault_password_file, new_vault_id, &enc)?;
            let f = Files {
                files,
                output: None,
            };
            each(&f, |text| {
                let plain = keys.decrypt(&as_text(text)?).map_err(AppError::Vault)?;
                encrypt(&plain, &new)
            })
        }
    }
}

fn new_secret(file: Option<PathBuf>, id: Option<String>, old: &Secret) -> Result<Secret, AppError> {
    match (file, id) {
        (Some(f), _) => Secret::from_source(&old.id, &f).map_err(AppError::Vault),
        (None, Some(spec)) => {
            let (id, source) = spec.split_once('@').unwrap_or((DEFAULT_ID, spec.as_str()));
            secret_from(id, source)
        }
        (None, None) => prompt(&old.id, "New vault password: "),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, AppError> {
    std::fs::read(path).map_err(|e| AppError::VaultFile(path.to_path_buf(), e.to_string()))
}

fn as_text(b: &[u8]) -> Result<String, AppError> {
    String::from_utf8(b.to_vec()).map_err(|_| AppError::Vault(VaultError::NotVault))
}

fn named(path: &Path, e: VaultError) -> AppError {
    AppError::VaultFile(path.to_path_buf(), e.to_string())
}

fn encrypt(plain: &[u8], s: &Secret) -> Result<Vec<u8>, AppError> {
    if vault::is_vault(plain) {
        return Err(AppError::Vault(VaultError::Format(
            "input is already encrypted".into(),
        )));
    }
    let id = (s.id != DEFAULT_ID).then_some(s.id.as_str());
    Ok(vault::encrypt(plain, &s.password, id)
        .map_err(AppError::Vault)?
        .into_bytes())
}

/// Applies `f` to each file (in place, or to `--output`).
fn each(f: &Files, op: impl Fn(&[u8]) -> Result<Vec<u8>, AppError>) -> Result<Exit, AppError> {
    if f.files.is_empty() || f.files == [PathBuf::from("-")] {
        // No file: stdin to stdout (or --output), as ansible-vault does.
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .map_err(AppError::Password)?;
        let out = op(&input)?;
        return match f.output.as_deref() {
            Some(p) if p != Path::new("-") => write(p, &out).map(|_| Exit::Ok),
            _ => {
                let _ = std::io::stdout().write_all(&out);
                Ok(Exit::Ok)
            }
        };
    }
    for file in &f.files {
        let out = op(&read(file)?).map_err(|e| match e {
            AppError::Vault(v) => named(file, v),
            other => other,
        })?;
        match f.output.as_deref() {
            Some(p) if p == Path::new("-") => {
                let _ = std::io::stdout().write_all(&out);
            }
            Some(p) => write(p, &out)?,
            None => write(file, &out)?,
        }
    }
    eprintln!(
        "{} successful",
        if f.files.len() == 1 {
            "Operation"
        } else {
            "Operations"
        }
    );
    Ok(Exit::Ok)
}

fn write(path: &Path, data: &[u8]) -> Result<(), AppError> {
    std::fs::write(path, data).map_err(|e| AppError::VaultFile(path.to_path_buf(), e.to_string()))
}

fn edit(file: &Path, keys: &Keyring, enc: &Secret) -> Result<Exit, AppError> {
    let text = read(file)?;
    let (plain, secret) = if vault::is_vault(&text) {
        let t = as_text(&text)?;
        let plain = keys.decrypt(&t).map_err(|e| named(file, e))?;
        // Keep the file's vault id when a password of that id is at hand.
        let id = vault::parse_envelope(&t).ok().and_then(|e| e.vault_id);
        let s = id
            .and_then(|id| keys.for_encrypt(Some(&id)).cloned())
            .unwrap_or(enc.clone());
        (plain, s)
    } else {
        (text, enc.clone())
    };
    let tmp = tempfile::Builder::new()
        .prefix("rmesos-vault-")
        .suffix(
            &file
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default(),
        )
        .tempfile()
        .map_err(|e| AppError::VaultFile(file.to_path_buf(), e.to_string()))?;
    write(tmp.path(), &plain)?;
    let editor = std::env::var("EDITOR").unwrap_or_else(|_| "vi".into());
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("{editor} \"$1\""), "editor"])
        .arg(tmp.path())
        .status()
        .map_err(|e| AppError::VaultFile(file.to_path_buf(), format!("{editor}: {e}")))?;
    if !status.success() {
        return Err(AppError::VaultFile(
            file.to_path_buf(),
            format!("{editor} exited with {status}"),
        ));
    }
    let edited = read(tmp.path())?;
    if edited != plain {
        write(file, &encrypt(&edited, &secret)?)?;
    }
    Ok(Exit::Ok)
}

fn encrypt_string(
    string: Option<String>,
    name: Option<&str>,
    s: &Secret,
) -> Result<Exit, AppError> {
    let plain = match string {
        Some(s) => s,
        None => {
            let mut buf = String::new();
            std::io::stdin()
                .read_to_string(&mut buf)
                .map_err(AppError::Password)?;
            buf
        }
    };
    let text = String::from_utf8(encrypt(plain.as_bytes(), s)?).unwrap_or_default();
    let body: String = text.lines().map(|l| format!("          {l}\n")).collect();
    match name {
        Some(n) => print!("{n}: !vault |\n{body}"),
        None => print!("!vault |\n{body}"),
    }
    eprintln!("Encryption successful");
    Ok(Exit::Ok)
}
