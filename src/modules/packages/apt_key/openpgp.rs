//! Just enough OpenPGP to manage APT keyrings without gpg on the host: ASCII armor in and out,
//! packet framing, and v4 fingerprints, so the controller can tell which keys a keyring holds
//! and cut one key out of it.

use base64::Engine;
use sha1::{Digest, Sha1};

const ARMOR_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const ARMOR_END: &str = "-----END PGP PUBLIC KEY BLOCK-----";

pub fn is_armored(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_ok_and(|s| s.contains(ARMOR_BEGIN))
}

/// Binary packets from armored or binary key data.
pub fn dearmor(data: &[u8]) -> Result<Vec<u8>, String> {
    if !is_armored(data) {
        return Ok(data.to_vec());
    }
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    // Several armored blocks may follow each other (apt accepts that in .asc files).
    for block in text.split(ARMOR_BEGIN).skip(1) {
        let body = block.split(ARMOR_END).next().unwrap_or("");
        // Header lines end at the first empty line; the checksum line starts with '='.
        let mut lines = body.lines().skip(1);
        let mut b64 = String::new();
        let mut in_headers = true;
        for l in lines.by_ref() {
            let l = l.trim();
            if in_headers {
                if l.is_empty() {
                    in_headers = false;
                } else if !l.contains(':') {
                    in_headers = false;
                    b64.push_str(l);
                }
                continue;
            }
            if l.starts_with('=') {
                break;
            }
            b64.push_str(l);
        }
        out.extend(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("bad ASCII armor: {e}"))?,
        );
    }
    Ok(out)
}

fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xB704CE;
    for b in data {
        crc ^= (*b as u32) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x1000000 != 0 {
                crc ^= 0x1864CFB;
            }
        }
    }
    crc & 0xFFFFFF
}

/// ASCII-armors binary key packets.
pub fn armor(packets: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut s = format!("{ARMOR_BEGIN}\n\n");
    let body = b64.encode(packets);
    for chunk in body.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    let c = crc24(packets);
    s.push('=');
    s.push_str(&b64.encode([(c >> 16) as u8, (c >> 8) as u8, c as u8]));
    s.push_str(&format!("\n{ARMOR_END}\n"));
    s
}

/// One packet: its tag, its body and where it lies in the stream.
struct Packet<'a> {
    tag: u8,
    body: &'a [u8],
    start: usize,
    end: usize,
}

fn packets(data: &[u8]) -> Result<Vec<Packet<'_>>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    let bad = || "not an OpenPGP key (bad packet framing)".to_string();
    while i < data.len() {
        let start = i;
        let h = data[i];
        if h & 0x80 == 0 {
            return Err(bad());
        }
        i += 1;
        let byte = |k: usize| data.get(k).copied().map(usize::from).ok_or_else(bad);
        let (tag, len) = if h & 0x40 != 0 {
            let o1 = byte(i)?;
            let len = match o1 {
                0..=191 => {
                    i += 1;
                    o1
                }
                192..=223 => {
                    let l = ((o1 - 192) << 8) + byte(i + 1)? + 192;
                    i += 2;
                    l
                }
                255 => {
                    let l = (byte(i + 1)? << 24)
                        | (byte(i + 2)? << 16)
                        | (byte(i + 3)? << 8)
                        | byte(i + 4)?;
                    i += 5;
                    l
                }
                _ => return Err("partial-length packets do not occur in keys".into()),
            };
            (h & 0x3f, len)
        } else {
            let len = match h & 3 {
                0 => {
                    i += 1;
                    byte(i - 1)?
                }
                1 => {
                    i += 2;
                    (byte(i - 2)? << 8) | byte(i - 1)?
                }
                2 => {
                    i += 4;
                    (byte(i - 4)? << 24) | (byte(i - 3)? << 16) | (byte(i - 2)? << 8) | byte(i - 1)?
                }
                _ => data.len() - i,
            };
            ((h >> 2) & 0x0f, len)
        };
        let end = i
            .checked_add(len)
            .filter(|e| *e <= data.len())
            .ok_or_else(bad)?;
        out.push(Packet {
            tag,
            body: &data[i..end],
            start,
            end,
        });
        i = end;
    }
    Ok(out)
}

fn fingerprint(body: &[u8]) -> Option<String> {
    if body.first() != Some(&4) {
        return None;
    }
    let mut h = Sha1::new();
    h.update([0x99, (body.len() >> 8) as u8, body.len() as u8]);
    h.update(body);
    Some(hex::encode_upper(h.finalize()))
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

/// The keys in binary keyring data.
pub fn keys(binary: &[u8]) -> Result<Vec<Key>, String> {
    let mut out: Vec<Key> = Vec::new();
    for p in packets(binary)? {
        match p.tag {
            6 => out.push(Key {
                fingerprint: fingerprint(p.body).unwrap_or_default(),
                subkeys: Vec::new(),
                range: (p.start, p.end),
            }),
            14 => {
                if let Some(k) = out.last_mut() {
                    k.subkeys.extend(fingerprint(p.body));
                }
            }
            _ => {}
        }
        if let Some(k) = out.last_mut() {
            k.range.1 = p.end;
        }
    }
    Ok(out)
}

/// The binary keyring without the keys `id` names.
pub fn without(binary: &[u8], id: &str) -> Result<Vec<u8>, String> {
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
}
