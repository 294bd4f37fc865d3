//! Ansible Vault: the `$ANSIBLE_VAULT;1.1;AES256` / `1.2;AES256;ID` format exactly as
//! ansible-vault writes it ([`cipher`]), the passwords of a run ([`Keyring`]: files, executable
//! scripts, prompts; installed once per process by `app`), and the register of decrypted values
//! that the report sinks censor ([`censor`]).
//!
//! Below `yaml`: the loader decrypts whole vault files and `!vault` scalars as it reads them,
//! so a wrong or missing password stops a run while loading, before any host is touched. Knows
//! nothing of YAML, playbooks or output; never prompts (the prompt is a closure from `app`).

mod cipher;
mod keyring;
mod secrets;

pub use cipher::{Envelope, decrypt_with, encrypt, encrypt_with_salt, is_vault, parse_envelope};
pub use keyring::{DEFAULT_ID, Keyring, Secret, install, installed};
pub use secrets::{censor, register_secret, register_secrets_in};

/// What can go wrong with vault data or passwords.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VaultError {
    #[error("not vault-encrypted data (no $ANSIBLE_VAULT header)")]
    NotVault,
    #[error("malformed vault data: {0}")]
    Format(String),
    #[error("unsupported vault cipher {0} (only AES256)")]
    Cipher(String),
    #[error("no vault password was given")]
    NoPassword,
    #[error("no vault password given decrypts it (tried vault ids: {0})")]
    WrongPassword(String),
    #[error("vault password source {0}")]
    Source(String),
}
