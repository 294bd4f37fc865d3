//! The OpenPGP that apt_key needs to manage APT keyrings without gpg on the host: ASCII armor
//! in and out, packet framing, and key fingerprints, so the controller can tell which keys a
//! keyring holds and cut one key out of it, its bytes untouched.
//!
//! The format work is rPGP's (`pgp`, MIT/Apache, pure Rust): its armor reader and writer (with
//! the CRC-24 line gpg writes), its packet header parser and its public-key packet parser for
//! fingerprints (v4 and v6). What is left here is the walk over a keyring that keeps each key's
//! byte range. Decision (issue 10): rPGP was preferred over sequoia-openpgp, which is LGPL and
//! needs nettle (a C library) or a larger pure-Rust crypto stack. rPGP has no way to leave its
//! cryptography out, so it adds 102 crates to Cargo.lock (RSA, elliptic curves, ciphers) that
//! apt_key never calls: measured on this 2-core machine, the whole `pgp` tree built cold in
//! 1 min 45 s (141 s of compile units for the crates rmesos did not already have), under the
//! issue's 2-minute bound. Keys are only read, never verified: apt checks signatures itself.

use pgp::armor::{BlockType, Dearmor};
use pgp::packet::{PacketHeader, PublicKey, PublicSubkey};
use pgp::types::{KeyDetails, PacketLength, Tag};
use std::io::{Cursor, Read};

const ARMOR_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

/// Key data that is not what apt_key can use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeyDataError {
    #[error("bad ASCII armor: {0}")]
    Armor(String),
    #[error("not an OpenPGP key (bad packet framing)")]
    Framing,
    #[error("partial-length packets do not occur in keys")]
    PartialLength,
}

impl From<KeyDataError> for crate::modules::ModuleError {
    fn from(e: KeyDataError) -> Self {
        crate::modules::ModuleError::Failed(e.to_string())
    }
}

pub fn is_armored(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_ok_and(|s| s.contains(ARMOR_BEGIN))
}

/// Binary packets from armored or binary key data. Several armored blocks may follow each
/// other (apt accepts that in .asc files); their packets are concatenated.
pub fn dearmor(data: &[u8]) -> Result<Vec<u8>, KeyDataError> {
    if !is_armored(data) {
        return Ok(data.to_vec());
    }
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    for block in text.split(ARMOR_BEGIN).skip(1) {
        let block = format!("{ARMOR_BEGIN}{block}");
        Dearmor::new(block.as_bytes())
            .read_to_end(&mut out)
            .map_err(|e| KeyDataError::Armor(e.to_string()))?;
    }
    Ok(out)
}

/// Raw packet bytes, for rPGP's armor writer.
struct Packets<'a>(&'a [u8]);

impl pgp::ser::Serialize for Packets<'_> {
    fn to_writer<W: std::io::Write>(&self, w: &mut W) -> pgp::errors::Result<()> {
        w.write_all(self.0)?;
        Ok(())
    }
    fn write_len(&self) -> usize {
        self.0.len()
    }
}

/// ASCII-armors binary key packets as gpg does: no headers, 64 columns, the CRC-24 line.
pub fn armor(packets: &[u8]) -> String {
    let mut out = Vec::new();
    // Writing to a Vec fails only on an allocation failure.
    if pgp::armor::write(
        &Packets(packets),
        BlockType::PublicKey,
        &mut out,
        None,
        true,
    )
    .is_err()
    {
        out.clear();
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A key in a keyring: its primary and subkey fingerprints and its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub fingerprint: String,
    pub subkeys: Vec<String>,
    pub range: (usize, usize),
}

impl Key {
    /// Whether `id` (short, long or full, with or without 0x) names this key or a subkey.
    pub fn matches(&self, id: &str) -> bool {
        let id = normalize_id(id);
        !id.is_empty()
            && std::iter::once(&self.fingerprint)
                .chain(&self.subkeys)
                .any(|f| f.ends_with(&id))
    }
}

pub fn normalize_id(id: &str) -> String {
    let id = id.trim().replace(' ', "").to_uppercase();
    id.strip_prefix("0X").map(str::to_string).unwrap_or(id)
}

/// One packet: its header and where its body and the whole packet lie in the stream.
struct Packet {
    header: PacketHeader,
    body: (usize, usize),
    start: usize,
}

/// The packets of binary key data, in order.
fn packets(data: &[u8]) -> Result<Vec<Packet>, KeyDataError> {
    let mut out = Vec::new();
    let mut cur = Cursor::new(data);
    while (cur.position() as usize) < data.len() {
        let start = cur.position() as usize;
        let header = PacketHeader::try_from_reader(&mut cur).map_err(|_| KeyDataError::Framing)?;
        let body_start = cur.position() as usize;
        let len = match header.packet_length() {
            PacketLength::Fixed(n) => n as usize,
            PacketLength::Indeterminate => data.len() - body_start,
            PacketLength::Partial(_) => return Err(KeyDataError::PartialLength),
        };
        let end = body_start
            .checked_add(len)
            .filter(|e| *e <= data.len())
            .ok_or(KeyDataError::Framing)?;
        out.push(Packet {
            header,
            body: (body_start, end),
            start,
        });
        cur.set_position(end as u64);
    }
    Ok(out)
}

/// The upper-case hex fingerprint of a primary key or subkey packet; None when rPGP cannot
/// read the key (a version or algorithm it does not know).
fn fingerprint(header: PacketHeader, body: &[u8]) -> Option<String> {
    let fp = match header.tag() {
        Tag::PublicKey => PublicKey::try_from_reader(header, body).ok()?.fingerprint(),
        Tag::PublicSubkey => PublicSubkey::try_from_reader(header, body)
            .ok()?
            .fingerprint(),
        _ => return None,
    };
    Some(format!("{fp:X}"))
}

/// The keys in binary keyring data.
pub fn keys(binary: &[u8]) -> Result<Vec<Key>, KeyDataError> {
    let mut out: Vec<Key> = Vec::new();
    for p in packets(binary)? {
        let body = &binary[p.body.0..p.body.1];
        match p.header.tag() {
            Tag::PublicKey => out.push(Key {
                fingerprint: fingerprint(p.header, body).unwrap_or_default(),
                subkeys: Vec::new(),
                range: (p.start, p.body.1),
            }),
            Tag::PublicSubkey => {
                if let Some(k) = out.last_mut() {
                    k.subkeys.extend(fingerprint(p.header, body));
                }
            }
            _ => {}
        }
        if let Some(k) = out.last_mut() {
            k.range.1 = p.body.1;
        }
    }
    Ok(out)
}

/// The binary keyring without the keys `id` names.
pub fn without(binary: &[u8], id: &str) -> Result<Vec<u8>, KeyDataError> {
    let mut out = Vec::new();
    for k in keys(binary)? {
        if !k.matches(id) {
            out.extend_from_slice(&binary[k.range.0..k.range.1]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOKWORM: &[u8] = include_bytes!("debian-bookworm-stable.asc");

    #[test]
    fn fingerprint_of_debians_bookworm_key() {
        let bin = dearmor(BOOKWORM).unwrap();
        let k = keys(&bin).unwrap();
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].fingerprint, "4D64FEC119C2029067D6E791F8D2585B8783D481");
        assert!(k[0].matches("0xF8D2585B8783D481"));
        assert!(k[0].matches("8783d481"));
        assert!(!k[0].matches("DEADBEEF"));
    }

    #[test]
    fn armor_round_trips_and_checksums_like_gpg() {
        let bin = dearmor(BOOKWORM).unwrap();
        let again = armor(&bin);
        assert_eq!(dearmor(again.as_bytes()).unwrap(), bin);
        // gpg's own checksum line for this key is in the file.
        let crc_line = String::from_utf8_lossy(BOOKWORM)
            .lines()
            .find(|l| l.starts_with('='))
            .unwrap()
            .to_string();
        assert!(again.contains(&format!("\n{crc_line}\n")), "{again}");
    }

    #[test]
    fn removing_a_key_keeps_the_others() {
        let bin = dearmor(BOOKWORM).unwrap();
        let mut two = bin.clone();
        two.extend_from_slice(&bin);
        assert_eq!(keys(&two).unwrap().len(), 2);
        assert!(without(&two, "F8D2585B8783D481").unwrap().is_empty());
        assert_eq!(without(&two, "0123456789ABCDEF").unwrap(), two);
        assert!(keys(b"not a key").is_err());
    }

    /// The armor text is byte for byte what the hand-written writer (and gpg) produced.
    #[test]
    fn armor_layout_is_gpgs() {
        let cases: [(usize, &str); 4] = [
            (
                0,
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n=twTO\n-----END PGP PUBLIC KEY BLOCK-----\n",
            ),
            (
                3,
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAEC\n=ybVn\n-----END PGP PUBLIC KEY BLOCK-----\n",
            ),
            (
                48,
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\n=+PDL\n-----END PGP PUBLIC KEY BLOCK-----\n",
            ),
            (
                100,
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\nMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f\nYGFiYw==\n=ojIo\n-----END PGP PUBLIC KEY BLOCK-----\n",
            ),
        ];
        for (n, want) in cases {
            let data: Vec<u8> = (0..n as u8).collect();
            assert_eq!(armor(&data), want, "{n} bytes");
        }
    }

    #[test]
    fn several_armored_blocks_and_binary_pass_through() {
        let bin = dearmor(BOOKWORM).unwrap();
        let mut two = BOOKWORM.to_vec();
        two.extend_from_slice(b"\n");
        two.extend_from_slice(BOOKWORM);
        let both = dearmor(&two).unwrap();
        assert_eq!(both.len(), 2 * bin.len());
        assert_eq!(keys(&both).unwrap().len(), 2);
        assert_eq!(dearmor(&bin).unwrap(), bin);
        assert_eq!(keys(&bin[..bin.len() - 1]), Err(KeyDataError::Framing));
    }

    #[test]
    fn armor_headers_and_crlf_are_read() {
        let bin = dearmor(BOOKWORM).unwrap();
        let text = String::from_utf8_lossy(BOOKWORM)
            .replace(
                ARMOR_BEGIN,
                &format!("{ARMOR_BEGIN}\nComment: from a vendor"),
            )
            .replace('\n', "\r\n");
        assert_eq!(dearmor(text.as_bytes()).unwrap(), bin);
    }
}
