//! User authentication, in OpenSSH's order: the target's key files, the ssh-agent, the default
//! keys in ~/.ssh, then the password. Failure is one line saying what was tried.

use super::{HostKeyCheck, SshTarget};
use crate::connection::ConnError;
use russh::MethodKind;
use russh::client::{AuthResult, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{Algorithm, PrivateKey, PrivateKeyWithHashAlg};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable holding the passphrase of encrypted key files.
pub const PASSPHRASE_ENV: &str = "RMESOS_KEY_PASSPHRASE";

const DEFAULT_KEYS: &[&str] = &[".ssh/id_ed25519", ".ssh/id_ecdsa", ".ssh/id_rsa"];

/// What was tried, for the failure message.
#[derive(Default)]
struct Attempts {
    methods: Vec<String>,
    notes: Vec<String>,
    /// The server's list of methods that can continue, from its last refusal.
    server_methods: Option<Vec<String>>,
}

impl Attempts {
    fn record(&mut self, res: &AuthResult) {
        if let AuthResult::Failure {
            remaining_methods, ..
        } = res
        {
            self.server_methods = Some(remaining_methods.iter().map(String::from).collect());
        }
    }
    fn server_allows(&self, kind: MethodKind) -> bool {
        let name: &str = (&kind).into();
        self.server_methods
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == name))
    }
}

pub(super) async fn authenticate(
    handle: &mut Handle<HostKeyCheck>,
    t: &SshTarget,
) -> Result<(), ConnError> {
    let mut tried = Attempts::default();
    let failed = |e: russh::Error| {
        ConnError::Unreachable(format!("authentication with {} failed: {}", t.label(), e))
    };
    let mut tried_files: Vec<PathBuf> = Vec::new();

    for file in &t.identity_files {
        tried_files.push(file.clone());
        if try_key_file(handle, t, file, &mut tried, true)
            .await
            .map_err(failed)?
        {
            return Ok(());
        }
    }
    if !t.identities_only
        && tried.server_allows(MethodKind::PublicKey)
        && try_agent(handle, t, &mut tried).await
    {
        return Ok(());
    }
    if !t.identities_only {
        let home = super::config::home_dir();
        for rel in DEFAULT_KEYS {
            let file = home.join(rel);
            if tried_files.contains(&file) || !file.exists() {
                continue;
            }
            if try_key_file(handle, t, &file, &mut tried, false)
                .await
                .map_err(failed)?
            {
                return Ok(());
            }
        }
    }
    if let Some(password) = &t.password
        && t.password_auth
    {
        tried.methods.push("password".into());
        let res = handle
            .authenticate_password(t.user.clone(), password.clone())
            .await
            .map_err(failed)?;
        if res.success() {
            return Ok(());
        }
        tried.record(&res);
    }
    let offered = match &tried.server_methods {
        Some(m) => m.join(","),
        None => "no method tried".into(),
    };
    let mut msg = format!("Permission denied ({}) for {}", offered, t.label());
    if !tried.methods.is_empty() {
        msg.push_str(&format!("; tried {}", tried.methods.join(", ")));
    }
    if !tried.notes.is_empty() {
        msg.push_str(&format!("; {}", tried.notes.join("; ")));
    }
    Err(ConnError::Unreachable(msg))
}

/// Offers one key file; `Ok(true)` when the server accepted it.
async fn try_key_file(
    handle: &mut Handle<HostKeyCheck>,
    t: &SshTarget,
    file: &Path,
    tried: &mut Attempts,
    explicit: bool,
) -> Result<bool, russh::Error> {
    if !tried.server_allows(MethodKind::PublicKey) {
        return Ok(false);
    }
    let key = match load_key(file, t.key_passphrase.as_deref()) {
        Ok(k) => k,
        Err(note) => {
            // A missing default key is normal; a missing or unreadable explicit one is news.
            if explicit {
                tried.notes.push(note.to_string());
            }
            return Ok(false);
        }
    };
    let hash = match key.algorithm() {
        Algorithm::Rsa { .. } => handle.best_supported_rsa_hash().await?.flatten(),
        _ => None,
    };
    tried.methods.push(format!("key {}", file.display()));
    let res = handle
        .authenticate_publickey(
            t.user.clone(),
            PrivateKeyWithHashAlg::new(Arc::new(key), hash),
        )
        .await?;
    tried.record(&res);
    Ok(res.success())
}

/// Why an identity file could not be used (a note in the authentication failure's message).
#[derive(Debug, thiserror::Error)]
enum KeyFileError {
    #[error("identity file {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("identity file {file} is encrypted: set {env} to its passphrase", env = PASSPHRASE_ENV)]
    Encrypted { file: String },
    #[error("identity file {file} could not be decrypted (wrong passphrase?): {source}")]
    WrongPassphrase {
        file: String,
        source: russh::keys::Error,
    },
    #[error("identity file {file}: {source}")]
    Decode {
        file: String,
        source: russh::keys::Error,
    },
}

fn load_key(file: &Path, passphrase: Option<&str>) -> Result<PrivateKey, KeyFileError> {
    let name = || file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|source| KeyFileError::Read {
        file: name(),
        source,
    })?;
    let env_pass = std::env::var(PASSPHRASE_ENV).ok();
    let pass = passphrase.or(env_pass.as_deref());
    match russh::keys::decode_secret_key(&text, pass) {
        Ok(k) => Ok(k),
        Err(russh::keys::Error::KeyIsEncrypted) => Err(KeyFileError::Encrypted { file: name() }),
        Err(source) if pass.is_some() => Err(KeyFileError::WrongPassphrase {
            file: name(),
            source,
        }),
        Err(source) => Err(KeyFileError::Decode {
            file: name(),
            source,
        }),
    }
}

/// Offers every key the agent holds; `true` when one was accepted. An absent or broken agent
/// is not an error: other methods follow.
async fn try_agent(handle: &mut Handle<HostKeyCheck>, t: &SshTarget, tried: &mut Attempts) -> bool {
    let Some(socket) = &t.identity_agent else {
        return false;
    };
    let Ok(mut agent) = AgentClient::connect_uds(socket).await else {
        tried
            .notes
            .push(format!("ssh-agent at {} not reachable", socket.display()));
        return false;
    };
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => {
            tried
                .notes
                .push(format!("ssh-agent refused to list keys: {}", e));
            return false;
        }
    };
    for identity in identities {
        let AgentIdentity::PublicKey { key, .. } = identity else {
            continue;
        };
        let hash = match key.algorithm() {
            Algorithm::Rsa { .. } => match handle.best_supported_rsa_hash().await {
                Ok(h) => h.flatten(),
                Err(e) => {
                    tried.notes.push(format!("ssh-agent RSA key: {}", e));
                    return false;
                }
            },
            _ => None,
        };
        tried.methods.push("agent key".into());
        match handle
            .authenticate_publickey_with(t.user.clone(), key, hash, &mut agent)
            .await
        {
            Ok(res) if res.success() => return true,
            Ok(res) => tried.record(&res),
            Err(e) => {
                tried.notes.push(format!("ssh-agent could not sign: {}", e));
                return false;
            }
        }
    }
    false
}
