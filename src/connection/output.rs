//! A command's output kept within bounds: the first and the last bytes of a stream, the middle
//! dropped and counted. A task printing 200 MB then costs the controller a few MiB, and what a
//! `register` sees is the start and the end of the output with a line saying how much was left
//! out (`[… 188.7 MiB of output omitted …]`).
//!
//! Only the output of commands the user runs (command, shell, raw, script) is bounded; a
//! module's own scripts print data the module needs whole (fetch's content, a file for a
//! diff), so an [`ExecRequest`](super::ExecRequest) keeps everything unless it names a limit.

use std::fmt;

/// How much of each stream to keep: `head` bytes from the start and `tail` from the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    pub head: usize,
    pub tail: usize,
}

/// Room kept before the newest bytes so a marker that straddles two reads is still found whole
/// (the long-lived shell's frame markers are under 100 bytes).
const SEARCH_MARGIN: usize = 4096;

/// How far past the cut we look for a line break to cut on instead.
const LINE_SLACK: usize = 4096;

/// `RMESOS_OUTPUT_LIMIT` or ansible.cfg's `[rmesos] output_limit` that is not a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "output limit {0:?}: expected a size of at least 2K (such as 2M, 512K, 1G) or \"unlimited\""
)]
pub struct BadOutputLimit(pub String);

impl OutputLimit {
    /// 1 MiB from the start and 1 MiB from the end of each stream.
    pub const DEFAULT: OutputLimit = OutputLimit {
        head: 1 << 20,
        tail: 1 << 20,
    };

    /// Reads a size kept per stream, half from the start and half from the end: bytes or
    /// a number with K, M or G (powers of 1024, an optional `B` or `iB` after), or
    /// `unlimited` (`None`: keep everything).
    pub fn parse(s: &str) -> Result<Option<OutputLimit>, BadOutputLimit> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        let bad = || BadOutputLimit(s.to_string());
        let lower = t.to_ascii_lowercase();
        let unit = lower.trim_end_matches("ib").trim_end_matches('b');
        let (digits, scale) = match unit.chars().last() {
            Some('k') => (&unit[..unit.len() - 1], 1u64 << 10),
            Some('m') => (&unit[..unit.len() - 1], 1 << 20),
            Some('g') => (&unit[..unit.len() - 1], 1 << 30),
            _ => (unit, 1),
        };
        let n: u64 = digits.trim().parse().map_err(|_| bad())?;
        let total = n.checked_mul(scale).ok_or_else(bad)?;
        let total = usize::try_from(total).map_err(|_| bad())?;
        if total < 2048 {
            return Err(bad());
        }
        Ok(Some(OutputLimit {
            head: total / 2,
            tail: total - total / 2,
        }))
    }
}

impl fmt::Display for OutputLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the first {} and the last {}",
            Size(self.head as u64),
            Size(self.tail as u64)
        )
    }
}

/// A byte count for people, in binary units as the limit is given: `812 bytes`, `64.0 KiB`,
/// `190.7 MiB`.
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0 as f64;
        match self.0 {
            0..1024 => write!(f, "{} bytes", self.0),
            1024..1_048_576 => write!(f, "{:.1} KiB", n / 1024.0),
            1_048_576..1_073_741_824 => write!(f, "{:.1} MiB", n / 1_048_576.0),
            _ => write!(f, "{:.1} GiB", n / 1_073_741_824.0),
        }
    }
}

/// One stream of a command's output as it arrives. Unbounded it is a plain `Vec`; with a
/// limit it holds the first `head` bytes and at least the last `tail` (at most about twice
/// that, so dropping is amortized), contiguously, so a caller can search the newest bytes
/// for a marker and cut it off.
#[derive(Debug, Default)]
pub struct OutputBuffer {
    bytes: Vec<u8>,
    limit: Option<OutputLimit>,
    /// Bytes dropped between the head and what `bytes` holds after it.
    omitted: u64,
}

impl OutputBuffer {
    pub fn new(limit: Option<OutputLimit>) -> Self {
        OutputBuffer {
            bytes: Vec::new(),
            limit,
            omitted: 0,
        }
    }

    /// Appends `data`, dropping older bytes after the head when the tail has grown to twice
    /// its limit. `data` itself and the [`SEARCH_MARGIN`] before it are always kept.
    pub fn push(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        let Some(l) = self.limit else { return };
        let keep_tail = l.tail.max(data.len() + SEARCH_MARGIN);
        if self.bytes.len() > l.head + keep_tail + l.tail.max(SEARCH_MARGIN) {
            let cut = self.bytes.len() - l.head - keep_tail;
            self.bytes.drain(l.head..l.head + cut);
            self.omitted += cut as u64;
        }
    }

    /// What is kept: the head, then (after the gap, if anything was dropped) the newest bytes.
    pub fn kept(&self) -> &[u8] {
        &self.bytes
    }

    /// Drops kept bytes from `len` on (a marker found at `len` and what follows it). `len`
    /// is an index into [`kept`](Self::kept).
    pub fn truncate(&mut self, len: usize) {
        self.bytes.truncate(len);
    }

    /// Bytes dropped so far.
    pub fn omitted(&self) -> u64 {
        self.omitted
    }

    /// The kept output, with a line in place of what was dropped (the cut moved to a line
    /// break when there is one near it), and how many bytes that line stands for.
    pub fn finish(self) -> (Vec<u8>, u64) {
        let (Some(l), true) = (self.limit, self.omitted > 0) else {
            return (self.bytes, 0);
        };
        let mut bytes = self.bytes;
        let head = l.head.min(bytes.len());
        // End the head after its last line break, start the tail after its first one,
        // when they are near the cut.
        let head_end = bytes[head.saturating_sub(LINE_SLACK)..head]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(head, |i| head.saturating_sub(LINE_SLACK) + i + 1);
        // The buffer may hold up to twice the tail: keep the last `tail` bytes.
        let tail = bytes.len().saturating_sub(l.tail).max(head);
        let tail_start = bytes[tail..(tail + LINE_SLACK).min(bytes.len())]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(tail, |i| tail + i + 1);
        let omitted = self.omitted + (tail_start - head_end) as u64;
        let mut note = Vec::new();
        if head_end > 0 && bytes[head_end - 1] != b'\n' {
            note.push(b'\n');
        }
        note.extend_from_slice(
            format!(
                "[… {} of output omitted: rmesos keeps {} of a command's output; \
                 RMESOS_OUTPUT_LIMIT sets it …]\n",
                Size(omitted),
                l
            )
            .as_bytes(),
        );
        bytes.splice(head_end..tail_start, note);
        (bytes, omitted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(head: usize, tail: usize) -> Option<OutputLimit> {
        Some(OutputLimit { head, tail })
    }

    #[test]
    fn unbounded_keeps_everything() {
        let mut b = OutputBuffer::new(None);
        for _ in 0..1000 {
            b.push(&[b'x'; 10_000]);
        }
        let (bytes, omitted) = b.finish();
        assert_eq!((bytes.len(), omitted), (10_000_000, 0));
    }

    #[test]
    fn within_the_limit_nothing_changes() {
        let mut b = OutputBuffer::new(small(8192, 8192));
        b.push(b"one\n");
        b.push(b"two\n");
        assert_eq!(b.finish(), (b"one\ntwo\n".to_vec(), 0));
    }

    #[test]
    fn keeps_head_and_tail_and_counts_the_rest() {
        let mut b = OutputBuffer::new(small(10_000, 10_000));
        let mut all = Vec::new();
        for i in 0..100_000u32 {
            let line = format!("line {i}\n");
            all.extend_from_slice(line.as_bytes());
            b.push(line.as_bytes());
            assert!(b.kept().len() <= 10_000 + 30_000, "{}", b.kept().len());
        }
        let (bytes, omitted) = b.finish();
        let text = String::from_utf8(bytes).unwrap();
        let note = text.lines().find(|l| l.starts_with("[… ")).unwrap();
        assert!(note.contains("of output omitted"), "{note}");
        let (head, rest) = text.split_once(note).unwrap();
        // Cut on line breaks: every kept line is whole.
        assert!(head.starts_with("line 0\nline 1\n") && head.ends_with('\n'));
        assert!(head.len() <= 10_000 && head.len() > 10_000 - 20);
        let tail = rest.strip_prefix('\n').unwrap();
        assert!(tail.starts_with("line ") && tail.ends_with("line 99999\n"));
        assert!(tail.len() <= 10_000 && tail.len() >= 10_000 - 20);
        assert_eq!(
            head.len() as u64 + omitted + tail.len() as u64,
            all.len() as u64
        );
        assert!(all.ends_with(tail.as_bytes()) && all.starts_with(head.as_bytes()));
    }

    #[test]
    fn without_line_breaks_the_note_gets_its_own_line() {
        let mut b = OutputBuffer::new(small(5000, 5000));
        for _ in 0..100 {
            b.push(&[b'x'; 1000]);
        }
        let (bytes, omitted) = b.finish();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{}", &text[..100]);
        assert_eq!(lines[0].len(), 5000);
        assert!(
            lines[1].starts_with("[… 87.9 KiB of output omitted"),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2].len() as u64, 100_000 - 5000 - omitted);
        assert_eq!(lines[2].len(), 5000);
    }

    #[test]
    fn a_marker_split_across_reads_survives_dropping() {
        let mut b = OutputBuffer::new(small(2048, 2048));
        for _ in 0..50 {
            b.push(&[b'x'; 3000]);
        }
        b.push(b"xxxxMARK");
        b.push(b"ER:0\n");
        let at = crate::connection::find_from(b.kept(), 0, b"MARKER:0\n").unwrap();
        b.truncate(at);
        let (bytes, _) = b.finish();
        assert!(bytes.ends_with(b"xxxx") && !bytes.ends_with(b"MARK"));
    }

    #[test]
    fn sizes() {
        assert_eq!(
            OutputLimit::parse("2M").unwrap(),
            OutputLimit::DEFAULT.into()
        );
        assert_eq!(
            OutputLimit::parse("2MiB").unwrap(),
            OutputLimit::DEFAULT.into()
        );
        assert_eq!(
            OutputLimit::parse(" 2mb ").unwrap(),
            OutputLimit::DEFAULT.into()
        );
        assert_eq!(
            OutputLimit::parse("4096").unwrap(),
            small(2048, 2048),
            "plain bytes"
        );
        assert_eq!(OutputLimit::parse("unlimited").unwrap(), None);
        for bad in ["", "x", "1K", "-5M", "99999999999G", "2T"] {
            assert!(OutputLimit::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Size(812).to_string(), "812 bytes");
        assert_eq!(Size(200_000_000).to_string(), "190.7 MiB");
        assert_eq!(Size(1 << 20).to_string(), "1.0 MiB");
    }
}
