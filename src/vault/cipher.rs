//! The vault envelope and its AES256 cipher, byte for byte as ansible-vault writes them.
//!
//! Envelope: a header line `$ANSIBLE_VAULT;1.1;AES256` (or `;1.2;AES256;ID` with a vault id),
//! then the body in lines of 80 characters. The body is the hex of
//! `hex(salt) \n hex(hmac) \n hex(ciphertext)` (hexlified twice: an accident of history that
//! the format keeps). Key material: PBKDF2-HMAC-SHA256(password, salt 32 bytes, 10000
//! rounds, 80 bytes) = AES key (32) | HMAC key (32) | counter block (16). The plaintext is
//! PKCS#7-padded to 16 bytes (needless in CTR mode, but part of the format), encrypted with
//! AES-256-CTR, and authenticated by HMAC-SHA256 over the ciphertext.

use super::VaultError;
use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "$ANSIBLE_VAULT";
const ROUNDS: u32 = 10_000;
const LINE: usize = 80;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// A parsed envelope: its header fields and the three binary parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub version: String,
    pub cipher: String,
    /// The vault id of a 1.2 envelope.
    pub vault_id: Option<String>,
    salt: Vec<u8>,
    hmac: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// Does this text start as vault data does (as Ansible tests it: the header, at the start)?
pub fn is_vault(text: &[u8]) -> bool {
    text.starts_with(HEADER.as_bytes())
}

/// Reads an envelope (whole vault file or `!vault` scalar).
pub fn parse_envelope(text: &str) -> Result<Envelope, VaultError> {
    let text = text.trim_start();
    if !is_vault(text.as_bytes()) {
        return Err(VaultError::NotVault);
    }
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").trim().split(';').collect();
    let (version, cipher) = match header.as_slice() {
        [_, v, c, ..] => (v.trim().to_string(), c.trim().to_string()),
        _ => {
            return Err(VaultError::Format(
                "the header has no version and cipher".into(),
            ));
        }
    };
    if cipher != "AES256" {
        return Err(VaultError::Cipher(cipher));
    }
    let vault_id = header.get(3).map(|s| s.trim().to_string());
    let body: String = lines.map(str::trim).collect();
    let inner = unhex(&body, "body")?;
    let inner = String::from_utf8(inner).map_err(|_| VaultError::Format("body".into()))?;
    let mut parts = inner.splitn(3, '\n');
    let mut part = |what: &str| unhex(parts.next().unwrap_or(""), what);
    Ok(Envelope {
        version,
        cipher,
        vault_id,
        salt: part("salt")?,
        hmac: part("hmac")?,
        ciphertext: part("ciphertext")?,
    })
}

fn unhex(s: &str, what: &str) -> Result<Vec<u8>, VaultError> {
    hex::decode(s.trim()).map_err(|_| VaultError::Format(format!("the {what} is not hex")))
}

/// Key material from a password and salt: (AES key, HMAC key, counter block).
fn derive(password: &[u8], salt: &[u8]) -> ([u8; 32], [u8; 32], [u8; 16]) {
    let mut out = [0u8; 80];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, ROUNDS, &mut out);
    let mut key = [0u8; 32];
    let mut mac = [0u8; 32];
    let mut iv = [0u8; 16];
    key.copy_from_slice(&out[..32]);
    mac.copy_from_slice(&out[32..64]);
    iv.copy_from_slice(&out[64..]);
    (key, mac, iv)
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

/// Decrypts with one password: `WrongPassword` when the HMAC does not match.
pub fn decrypt_with(env: &Envelope, password: &[u8]) -> Result<Vec<u8>, VaultError> {
    let (key, mac_key, iv) = derive(password, &env.salt);
    let mut mac = hmac(&mac_key);
    mac.update(&env.ciphertext);
    mac.verify_slice(&env.hmac)
        .map_err(|_| VaultError::WrongPassword(env.vault_id.clone().unwrap_or_default()))?;
    let mut data = env.ciphertext.clone();
    Aes256Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut data);
    let pad = usize::from(
        *data
            .last()
            .ok_or_else(|| VaultError::Format("empty".into()))?,
    );
    if pad == 0
        || pad > 16
        || pad > data.len()
        || !data[data.len() - pad..]
            .iter()
            .all(|&b| usize::from(b) == pad)
    {
        return Err(VaultError::Format("bad padding".into()));
    }
    data.truncate(data.len() - pad);
    Ok(data)
}

/// Encrypts with a fresh random salt; `vault_id` other than `default` makes a 1.2 envelope.
pub fn encrypt(
    plain: &[u8],
    password: &[u8],
    vault_id: Option<&str>,
) -> Result<String, VaultError> {
    let mut salt = [0u8; 32];
    getrandom::getrandom(&mut salt).map_err(|e| VaultError::Source(format!("random: {e}")))?;
    Ok(encrypt_with_salt(plain, password, &salt, vault_id))
}

/// Encrypts with a given salt (tests compare with ansible-vault's output).
pub fn encrypt_with_salt(
    plain: &[u8],
    password: &[u8],
    salt: &[u8],
    vault_id: Option<&str>,
) -> String {
    let (key, mac_key, iv) = derive(password, salt);
    let pad = 16 - plain.len() % 16;
    let mut data = plain.to_vec();
    data.extend(std::iter::repeat_n(pad as u8, pad));
    Aes256Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut data);
    let mut mac = hmac(&mac_key);
    mac.update(&data);
    let tag = mac.finalize().into_bytes();
    let inner = format!(
        "{}\n{}\n{}",
        hex::encode(salt),
        hex::encode(tag),
        hex::encode(&data)
    );
    let body = hex::encode(inner.as_bytes());
    let mut out = match vault_id.filter(|id| !id.is_empty() && *id != super::DEFAULT_ID) {
        Some(id) => format!("{HEADER};1.2;AES256;{id}"),
        None => format!("{HEADER};1.1;AES256"),
    };
    for chunk in body.as_bytes().chunks(LINE) {
        out.push('\n');
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let v = encrypt_with_salt(b"s3cret\n", b"pw", &[7u8; 32], None);
        assert!(v.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
        assert!(v.lines().skip(1).all(|l| l.len() <= 80));
        let env = parse_envelope(&v).unwrap();
        assert_eq!(decrypt_with(&env, b"pw").unwrap(), b"s3cret\n");
        assert!(matches!(
            decrypt_with(&env, b"nope"),
            Err(VaultError::WrongPassword(_))
        ));
    }

    #[test]
    fn vault_id_makes_a_1_2_header() {
        let v = encrypt_with_salt(b"x", b"pw", &[1u8; 32], Some("prod"));
        assert!(v.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
        assert_eq!(
            parse_envelope(&v).unwrap().vault_id.as_deref(),
            Some("prod")
        );
    }
}
