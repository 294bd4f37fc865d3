//! Does a private key file belong to an EC2 key pair? Checked before a launch pays for
//! instances nobody could log in to.
//!
//! EC2 reports a key pair's fingerprint in one of these forms, all of which we compute from
//! the private key file:
//! - an RSA key **imported** into EC2: the MD5 of the public key's DER (SubjectPublicKeyInfo),
//!   colon-separated hex;
//! - an RSA key **created** by EC2: the SHA-1 of the private key's PKCS#8 DER (computed from
//!   the PEM file EC2 handed out, PKCS#1 or PKCS#8); moto gives the SHA-1 of the public key's
//!   DER instead, which is accepted too (it names the same key just as surely);
//! - an ED25519 key: the SHA-256 of the public key blob, base64 (as `ssh-keygen -l` shows
//!   it, with or without padding); moto gives the SHA-256 of the SubjectPublicKeyInfo in
//!   colon-separated hex, accepted too.
//!
//! A key this cannot read (encrypted, ECDSA, a format russh does not know) is reported as
//! unverifiable, not as a mismatch.

use super::client::{Ec2, Ec2Error, Ec2Result, sdk_error};
use base64::Engine;
use md5::Md5;
use sha1::{Digest, Sha1};
use std::path::Path;

/// What the file says about a key pair's fingerprint.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyCheck {
    Matches,
    /// The file's key is another key: the fingerprints it could have, and EC2's.
    Differs {
        ours: Vec<String>,
        theirs: String,
    },
    /// We could not compute a fingerprint (why).
    Unverifiable(String),
}

const RSA_OID: [u8; 11] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let bytes: Vec<u8> = n
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(body.len()));
    out.extend_from_slice(body);
    out
}

/// A DER INTEGER of a positive big-endian number.
fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut body = Vec::new();
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        body.push(0);
    }
    body.extend(trimmed);
    der(0x02, &body)
}

fn rsa_algorithm() -> Vec<u8> {
    let mut body = RSA_OID.to_vec();
    body.extend([0x05, 0x00]);
    der(0x30, &body)
}

/// SubjectPublicKeyInfo of an RSA public key.
fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut key = der_uint(n);
    key.extend(der_uint(e));
    let key = der(0x30, &key);
    let mut bits = vec![0u8];
    bits.extend(key);
    let mut body = rsa_algorithm();
    body.extend(der(0x03, &bits));
    der(0x30, &body)
}

/// PKCS#8 wrapping of a PKCS#1 RSAPrivateKey.
fn pkcs8_of_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let mut body = der_uint(&[0]);
    body.extend(rsa_algorithm());
    body.extend(der(0x04, pkcs1));
    der(0x30, &body)
}

fn colon_hex(d: &[u8]) -> String {
    d.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The DER inside a PEM block with this label, if the text is one.
fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text[start..].find(&end)? + start;
    let b64: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Every fingerprint EC2 could show for the key in `text` (a private key file).
pub fn fingerprints(text: &str) -> Result<Vec<String>, String> {
    use russh::keys::ssh_key::public::KeyData;
    let key = russh::keys::decode_secret_key(text, None).map_err(|e| e.to_string())?;
    let public = key.public_key();
    match public.key_data() {
        KeyData::Rsa(rsa) => {
            let (Some(n), Some(e)) = (rsa.n().as_positive_bytes(), rsa.e().as_positive_bytes())
            else {
                return Err("an RSA key with a negative modulus".into());
            };
            let spki = rsa_spki(n, e);
            let mut out = vec![
                colon_hex(&Md5::digest(&spki)),
                colon_hex(&Sha1::digest(&spki)),
            ];
            let pkcs8 = pem_body(text, "PRIVATE KEY")
                .or_else(|| pem_body(text, "RSA PRIVATE KEY").map(|d| pkcs8_of_pkcs1(&d)));
            if let Some(p) = pkcs8 {
                out.push(colon_hex(&Sha1::digest(&p)));
            }
            Ok(out)
        }
        KeyData::Ed25519(k) => {
            let fp = public.fingerprint(russh::keys::HashAlg::Sha256).to_string();
            let b64 = fp.trim_start_matches("SHA256:").to_string();
            // moto: the SHA-256 of the SubjectPublicKeyInfo, colon-separated hex.
            let mut spki = vec![
                0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
            ];
            spki.extend_from_slice(&k.0);
            Ok(vec![
                format!("{b64}="),
                b64,
                colon_hex(&sha2::Sha256::digest(&spki)),
            ])
        }
        other => Err(format!("a {} key", other.algorithm())),
    }
}

/// Compares a key file with the fingerprint EC2 gave for its key pair.
pub fn compare(text: &str, ec2_fingerprint: &str) -> KeyCheck {
    match fingerprints(text) {
        Ok(ours) if ours.iter().any(|f| f == ec2_fingerprint.trim()) => KeyCheck::Matches,
        Ok(ours) => KeyCheck::Differs {
            ours,
            theirs: ec2_fingerprint.to_string(),
        },
        Err(why) => KeyCheck::Unverifiable(why),
    }
}

/// The fingerprint of the key pair `name`, or an error saying it does not exist.
pub async fn key_pair_fingerprint(ec2: &Ec2, name: &str) -> Ec2Result<String> {
    let out = ec2
        .client
        .describe_key_pairs()
        .key_names(name)
        .send()
        .await
        .map_err(|e| {
            let err = sdk_error("DescribeKeyPairs", &ec2.region, e);
            if err.0.contains("InvalidKeyPair.NotFound") {
                Ec2Error(format!(
                    "no key pair {name:?} in {}: create or import it first (see docs/ec2.md)",
                    ec2.region
                ))
            } else {
                err
            }
        })?;
    out.key_pairs()
        .first()
        .map(|k| k.key_fingerprint().unwrap_or_default().to_string())
        .ok_or_else(|| Ec2Error(format!("no key pair {name:?} in {}", ec2.region)))
}

/// Reads a key file for [`compare`].
pub fn read_key(path: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_and_integers() {
        assert_eq!(der_len(5), vec![5]);
        assert_eq!(der_len(300), vec![0x82, 0x01, 0x2c]);
        assert_eq!(der_uint(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der_uint(&[0x00, 0x01]), vec![0x02, 0x01, 0x01]);
    }

    /// A throwaway 1024-bit key (PKCS#1 PEM, as EC2 hands out); the expected values come from
    /// `openssl pkcs8 -topk8 -nocrypt -outform DER | sha1sum` (EC2's form for a key it
    /// created) and `openssl rsa -pubout -outform DER | md5sum` (for an imported one).
    const TEST_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIICXgIBAAKBgQDH60GIh75ITxMPSPkh53A73vRQEcjoef3HZeEXbmNrTKXMqi9o\nJNRKUUNUqrz5Fr07tmv4ABmoT9T9WXRvK3XWh2mI2GdwHnQ5fFYHH8Ja0QB209oz\nUQij5vNY2HDjv5Bec6FglYi3wlFgmDfs7rmXkITL21C2srPvZNwy3jxgLQIDAQAB\nAoGBAJfUzv+PAG/QRkxsgnFCYVXHHUuWRjxxMdD3Sf1OpAkAvEb01W5F0kji8Lzj\nswOGRo+MGvHNua6/eqYzAx/PJP1A1CWrXRGl7yKMvLRKR+WPPmjvTn+MQIArcHJK\nTbRASRoueuxdolq/Kdwehl0iZSVxIldS9EAsw9AK47fTqLDtAkEA+HeM0EMC//Bd\nl5JMv3W8GvsYaB7XnAc8oZSWM2Af3ehnJFc7F/rbNeU+gsinEscIqJuG8xFqyZ2E\nfluXc2oSzwJBAM3659i/ZoaBJApAzcwreh7ZBu8TTMw6OujuQY2YrjUa7DUWv+6f\nMqKg1enzRgpZb7XFEWJ/IUb1fFaABF7cTEMCQQDQS4C78wGnyDzd3WMDutK4F7pN\nR1XfUt3MY4FLjpEIelVFTO+YWc+9rfIqt8YAYuTqXH/Uc8x/OtMhDu23brxXAkBQ\nFfLY8ioht8pUdjfN30WfAtDQWZetfCJ1eFVigW+SVEJsrci4NYuRcalaSez8jyOA\n7/s/aaB9n2rVkvagD1VTAkEA7vzNKaHyD8ssPdrxZOqsoL5inCQQgHKbLmDWUyPn\ntu+wpRsLEsKoIDwoyK2MxfGh4/nr2sY+uXa1nmrJqbq4gg==\n-----END RSA PRIVATE KEY-----";

    #[test]
    fn rsa_fingerprints_are_ec2s_for_created_and_imported_keys() {
        assert_eq!(
            compare(
                TEST_KEY,
                "d7:88:c2:38:35:c8:5f:3d:2c:4b:32:a9:9d:b9:34:0c:8f:4c:56:22"
            ),
            KeyCheck::Matches
        );
        assert_eq!(
            compare(TEST_KEY, "e5:f8:4b:88:86:9e:21:49:50:1a:6f:e9:50:b6:2a:92"),
            KeyCheck::Matches
        );
        assert!(matches!(
            compare(TEST_KEY, "00:11:22"),
            KeyCheck::Differs { .. }
        ));
    }

    #[test]
    fn a_key_that_is_not_one_is_unverifiable() {
        assert!(matches!(
            compare("not a key", "aa:bb"),
            KeyCheck::Unverifiable(_)
        ));
    }
}
