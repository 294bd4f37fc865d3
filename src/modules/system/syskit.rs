//! Line handling the system-settings modules (cron, sysctl, mount, pam_limits, selinux) and
//! ini_file share for config files edited on the controller. Knows nothing of any one module.

/// Splits text into lines without their `\n` (a final newline makes no empty last line).
pub fn text_lines(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Joins lines back, each ending in `\n`.
pub fn join_lines(lines: &[String]) -> Vec<u8> {
    let mut out = String::new();
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out.into_bytes()
}
