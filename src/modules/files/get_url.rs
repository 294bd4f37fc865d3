//! `get_url`: downloads a URL to a file on the host. The download runs ON THE HOST with curl
//! (or wget) into a temp file beside dest; the checksum is verified before the rename, so a
//! wrong checksum never leaves a file behind, and an identical download leaves dest alone.
//! Credentials and headers reach curl/wget through a 0600 config file fed on stdin, never on a
//! command line. A host with neither tool gets the file from the controller: the controller
//! downloads it and the same script takes it from stdin.
//!
//! One script does the whole task (resolve dest, skip when it is already there, download,
//! verify, compare, replace), so an unchanged task costs one round trip.

use super::filekit::{FileState, add_state, parse_stat_line};
use crate::modules::doc::{aka, arg, dflt, req};
use crate::modules::remote::{host_error, parse_kv, q};
use crate::modules::{ArgDoc, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use indexmap::IndexMap;
use minijinja::Value;
use serde::Deserialize;
use std::time::Duration;

pub struct GetUrl;

fn ten() -> u64 {
    10
}

fn yes() -> bool {
    true
}

/// `headers` as a mapping or as Ansible's old `key:value,key:value` string.
#[derive(Debug, Default)]
pub struct Headers(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Map(IndexMap<String, String>),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Map(m) => Ok(Headers(m.into_iter().collect())),
            Raw::Text(t) => t
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|kv| {
                    kv.split_once(':')
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                        .ok_or_else(|| {
                            serde::de::Error::custom(format!(
                                "header {kv:?} is not `key:value`; give headers as a mapping"
                            ))
                        })
                })
                .collect::<Result<_, _>>()
                .map(Headers),
        }
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct GetUrlArgs {
    url: String,
    dest: String,
    #[serde(default)]
    checksum: String,
    mode: Option<FileMode>,
    owner: Option<String>,
    group: Option<String>,
    #[serde(default, alias = "thirsty")]
    force: bool,
    #[serde(default)]
    headers: Headers,
    #[serde(default = "ten")]
    timeout: u64,
    #[serde(alias = "username")]
    url_username: Option<String>,
    #[serde(alias = "password")]
    url_password: Option<String>,
    #[serde(default = "yes")]
    force_basic_auth: bool,
    #[serde(default = "yes")]
    validate_certs: bool,
    #[serde(default)]
    backup: bool,
}

const ARGS: &[ArgDoc] = &[
    req("url", "http, https or ftp URL to download."),
    req(
        "dest",
        "File to write; an existing directory receives the file under the URL's last path segment.",
    ),
    arg(
        "checksum",
        "`ALGO:HEX` (md5, sha1, sha224, sha256, sha384, sha512) or `ALGO:URL` of a checksum file; the download is verified before it replaces dest, and a dest that already matches is not downloaded again.",
    ),
    arg("mode", "Mode of the file (octal or symbolic)."),
    arg("owner", "Owner of the file."),
    arg("group", "Group of the file."),
    aka(
        dflt(
            "force",
            "no",
            "Download even when dest exists (it is replaced only if the content differs); with no, an existing dest is kept unless its checksum mismatches.",
        ),
        &["thirsty"],
    ),
    arg(
        "headers",
        "Request headers: a mapping, or `key:value,key:value`.",
    ),
    dflt("timeout", "10", "Seconds to wait for the server."),
    aka(
        arg("url_username", "User name for HTTP basic authentication."),
        &["username"],
    ),
    aka(
        arg(
            "url_password",
            "Password for HTTP basic authentication (never on a command line).",
        ),
        &["password"],
    ),
    dflt(
        "force_basic_auth",
        "yes",
        "Send the credentials with the first request (curl and wget always do).",
    ),
    dflt(
        "validate_certs",
        "yes",
        "Verify the server's TLS certificate.",
    ),
    dflt(
        "backup",
        "no",
        "Keep the replaced file as DEST.PID.DATE~ and return it as backup_file.",
    ),
];

impl Module for GetUrl {
    const NAME: &'static str = "get_url";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("dest", "the file written"),
            ("url", "the URL"),
            ("checksum_dest", "SHA-1 of the file before"),
            crate::modules::doc::FILE_ATTRS,
        ],
        summary: "Download a file from HTTP, HTTPS or FTP to the host (with curl or wget on the host, or through the controller when it has neither).",
        args: ARGS,
        example: "- get_url:\n    url: https://archive.apache.org/dist/zookeeper/zookeeper-3.8.4/apache-zookeeper-3.8.4-bin.tar.gz\n    dest: /opt/\n    checksum: sha512:https://archive.apache.org/dist/zookeeper/zookeeper-3.8.4/apache-zookeeper-3.8.4-bin.tar.gz.sha512\n    mode: '0644'\n",
    };
    type Args = GetUrlArgs;

    async fn run(&self, a: GetUrlArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let mut ck = parse_checksum(&a.checksum)?;
        let (curl, wget) = tool_configs(&a);
        let stdin = format!("{curl}#rmesos-wgetrc\n{wget}");
        let mut out = cx
            .run(
                &full_script(&a, &ck, Source::Host, cx.check_mode),
                stdin.as_bytes(),
            )
            .await?;
        let mut via_controller = false;
        if out.rc == RC_NEED_UPLOAD {
            via_controller = true;
            if let Checksum::Url { algo, url } = &ck {
                let sums = controller_get(&a, url).await.map_err(|e| {
                    ModuleError::Failed(format!("cannot download the checksum file: {e}"))
                })?;
                let name = url_basename(&a.url);
                let hex = checksum_from_file(&String::from_utf8_lossy(&sums), &name).ok_or_else(
                    || ModuleError::Failed(format!("no checksum for {name} in {url}")),
                )?;
                ck = Checksum::Hex {
                    algo: algo.clone(),
                    hex,
                };
            }
            let data = controller_get(&a, &a.url)
                .await
                .map_err(|e| ModuleError::Failed(format!("Request failed: {e}")))?;
            out = cx
                .run(&full_script(&a, &ck, Source::Stdin, cx.check_mode), &data)
                .await?;
        }
        let kv = parse_kv(&out.stdout_str());
        if out.rc != 0 {
            let what = match out.rc {
                RC_DOWNLOAD => format!("Request failed: {}", a.url),
                RC_CHECKSUM => "checksum mismatch (nothing was written)".to_string(),
                RC_CHECKSUM_FILE => "cannot get the checksum file".to_string(),
                RC_TMP => "cannot create a temporary file beside dest (does its directory exist?)"
                    .to_string(),
                RC_ATTRS => "cannot set owner, group or mode".to_string(),
                RC_MOVE => "cannot move the download into place".to_string(),
                _ => "download failed".to_string(),
            };
            return Ok(Outcome::fail(host_error(&what, &out)));
        }
        let state = kv.get("state").map(String::as_str).unwrap_or_default();
        let attrs_changed = kv.contains_key("attrs_changed");
        let changed = matches!(state, "downloaded" | "would_download") || attrs_changed;
        let mut res = Outcome::changed(changed).msg(match state {
            "present" => "file already exists".to_string(),
            _ => format!("OK ({} bytes)", kv.get("size").map_or("0", String::as_str)),
        });
        let dest = kv.get("dest").cloned().unwrap_or_else(|| a.dest.clone());
        let mut st = FileState {
            path: dest.clone(),
            ..Default::default()
        };
        if let Some(line) = kv.get("st") {
            parse_stat_line(line, &mut st);
        }
        add_state(&mut res, &st);
        res.result.insert("dest".into(), Value::from(dest));
        res.result.insert("url".into(), Value::from(a.url.as_str()));
        for key in ["checksum_src", "backup_file"] {
            if let Some(v) = kv.get(key) {
                res.result.insert(key.into(), Value::from(v.as_str()));
            }
        }
        if let Some(v) = kv.get("checksum_src") {
            res.result
                .insert("checksum_dest".into(), Value::from(v.as_str()));
        }
        res.result
            .insert("via_controller".into(), Value::from(via_controller));
        Ok(res)
    }
}

const ALGOS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// What `checksum` asks for.
#[derive(Debug, PartialEq)]
enum Checksum {
    None,
    Hex { algo: String, hex: String },
    Url { algo: String, url: String },
}

fn parse_checksum(s: &str) -> Result<Checksum, ModuleError> {
    if s.is_empty() {
        return Ok(Checksum::None);
    }
    let (algo, rest) = s.split_once(':').ok_or_else(|| {
        ModuleError::Failed(format!("checksum {s:?} must be ALGO:HEX or ALGO:URL"))
    })?;
    let algo = algo.trim().to_ascii_lowercase();
    if !ALGOS.contains(&algo.as_str()) {
        return Err(ModuleError::Failed(format!(
            "unsupported checksum algorithm {algo:?}: use one of {}",
            ALGOS.join(", ")
        )));
    }
    let rest = rest.trim();
    if rest.contains("://") {
        return Ok(Checksum::Url {
            algo,
            url: rest.to_string(),
        });
    }
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ModuleError::Failed(format!(
            "checksum {rest:?} is not hexadecimal"
        )));
    }
    Ok(Checksum::Hex {
        algo,
        hex: rest.to_ascii_lowercase(),
    })
}

/// The file name a URL gives a directory dest: its last path segment.
fn url_basename(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or(url);
    let path = no_query.split_once("://").map_or(no_query, |(_, r)| r);
    let name = path
        .split_once('/')
        .map_or("", |(_, p)| p)
        .rsplit('/')
        .next()
        .unwrap_or_default();
    if name.is_empty() {
        "index.html".into()
    } else {
        name.to_string()
    }
}

/// Finds the checksum for `name` in a checksum file (`HEX  name` lines, or one bare HEX).
fn checksum_from_file(text: &str, name: &str) -> Option<String> {
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| !f.is_empty())
        .collect();
    if let [only] = &lines[..]
        && only.len() == 1
    {
        return Some(only[0].to_ascii_lowercase());
    }
    lines.iter().find_map(|f| {
        let file = f.get(1)?.trim_start_matches('*').trim_start_matches("./");
        (file == name).then(|| f[0].to_ascii_lowercase())
    })
}

/// A value for a curl config file: double-quoted with backslash escapes.
fn curl_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The private config curl (`-K`) and wget (`WGETRC`) read: credentials and headers.
fn tool_configs(a: &GetUrlArgs) -> (String, String) {
    let mut curl = String::new();
    let mut wget = String::new();
    if let Some(u) = &a.url_username {
        let p = a.url_password.as_deref().unwrap_or_default();
        curl.push_str(&format!("user = {}\n", curl_quote(&format!("{u}:{p}"))));
        wget.push_str(&format!("user = {u}\npassword = {p}\n"));
        if a.force_basic_auth {
            wget.push_str("auth_no_challenge = on\n");
        }
    }
    for (k, v) in &a.headers.0 {
        curl.push_str(&format!("header = {}\n", curl_quote(&format!("{k}: {v}"))));
        wget.push_str(&format!("header = {k}: {v}\n"));
    }
    (curl, wget)
}

/// filekit's `st=` line format, so its parser reads it.
const STAT_LINE_FMT: &str = "%F|%a|%u|%g|%U|%G|%s";

const RC_NEED_UPLOAD: i32 = 86;
const RC_DOWNLOAD: i32 = 84;
const RC_CHECKSUM: i32 = 85;
const RC_CHECKSUM_FILE: i32 = 87;
const RC_TMP: i32 = 70;
const RC_ATTRS: i32 = 72;
const RC_MOVE: i32 = 73;

/// How the script gets the bytes.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    /// curl or wget on the host; stdin holds their configs.
    Host,
    /// The bytes are on stdin (the controller downloaded them).
    Stdin,
}

fn script(a: &GetUrlArgs, ck: &Checksum, src: Source, check: bool) -> String {
    let (algo, expected, ck_url) = match ck {
        Checksum::None => ("sha1", String::new(), String::new()),
        Checksum::Hex { algo, hex } => (algo.as_str(), hex.clone(), String::new()),
        Checksum::Url { algo, url } => (algo.as_str(), String::new(), url.clone()),
    };
    let tls = if a.validate_certs { "" } else { " -k" };
    let wtls = if a.validate_certs {
        ""
    } else {
        " --no-check-certificate"
    };
    let t = a.timeout;
    let mut s = format!(
        "dest={dest}\nurl={url}\nbase={base}\nexpected={expected}\nck_url={ck_url}\nforce={force}\n\
         d=$(mktemp -d \"${{TMPDIR:-/tmp}}/rmesos-get_url.XXXXXX\") || exit {RC_TMP}\n\
         trap 'rm -rf \"$d\" \"${{t:-}}\"' EXIT\n\
         umask 077\n",
        dest = q(&a.dest),
        url = q(&a.url),
        base = q(&url_basename(&a.url)),
        expected = q(&expected),
        ck_url = q(&ck_url),
        force = if a.force { 1 } else { 0 },
    );
    if src == Source::Host {
        // Both configs arrive on stdin, curl's first, split at a marker line.
        s.push_str(
            "cat > \"$d/in\"\nsed '/^#rmesos-wgetrc$/,$d' \"$d/in\" > \"$d/curlrc\"\nsed '1,/^#rmesos-wgetrc$/d' \"$d/in\" > \"$d/wgetrc\"\n\
             if command -v curl >/dev/null; then tool=curl; elif command -v wget >/dev/null; then tool=wget; else tool=; fi\n",
        );
        s.push_str(&format!(
            "fetch() {{ case $tool in\n\
             curl) curl -K \"$d/curlrc\" -fsSL{tls} --connect-timeout {t} -o \"$2\" -- \"$1\" ;;\n\
             wget) WGETRC=\"$d/wgetrc\" wget -q{wtls} --timeout={t} -O \"$2\" -- \"$1\" ;;\n\
             esac; }}\n"
        ));
    }
    s.push_str(
        "if [ -d \"$dest\" ]; then dest=\"${dest%/}/$base\"; fi\nprintf 'dest=%s\\n' \"$dest\"\n",
    );
    s.push_str(&format!(
        "sum() {{ {algo}sum < \"$1\" | cut -d' ' -f1; }}\n"
    ));
    if src == Source::Host {
        s.push_str(&format!(
            "if [ -n \"$ck_url\" ]; then\n\
             [ -n \"$tool\" ] || exit {RC_NEED_UPLOAD}\n\
             fetch \"$ck_url\" \"$d/sums\" || exit {RC_CHECKSUM_FILE}\n\
             expected=$(awk -v f=\"$base\" 'NF {{ n++; one = $1; c = NF }} NF >= 2 {{ x = $2; sub(/^\\*/, \"\", x); sub(/^\\.\\//, \"\", x); if (x == f) {{ print tolower($1); found = 1; exit }} }} END {{ if (!found && n == 1 && c == 1) print tolower(one) }}' \"$d/sums\")\n\
             [ -n \"$expected\" ] || {{ echo \"no checksum for $base in $ck_url\" >&2; exit {RC_CHECKSUM_FILE}; }}\n\
             printf 'expected=%s\\n' \"$expected\"\n\
             fi\n"
        ));
    }
    s.push_str("attrs() {\n");
    s.push_str(&attrs_fn(a, check));
    s.push_str("}\n");
    s
}

/// Shell function `attrs FILE` that applies owner/group/mode and prints `attrs_changed=1`
/// when one differed (in check mode it only compares what it can: owner, group, octal mode).
fn attrs_fn(a: &GetUrlArgs, check: bool) -> String {
    let mut s = String::from("  ch=\n");
    if let Some(o) = &a.owner {
        s.push_str(&format!(
            "  if [ \"$(stat -c %U \"$1\")\" != {o} ] && [ \"$(stat -c %u \"$1\")\" != {o} ]; then ch=1; {act}fi\n",
            o = q(o),
            act = if check { String::new() } else { format!("chown {} \"$1\" || exit {RC_ATTRS}; ", q(o)) }
        ));
    }
    if let Some(g) = &a.group {
        s.push_str(&format!(
            "  if [ \"$(stat -c %G \"$1\")\" != {g} ] && [ \"$(stat -c %g \"$1\")\" != {g} ]; then ch=1; {act}fi\n",
            g = q(g),
            act = if check { String::new() } else { format!("chgrp {} \"$1\" || exit {RC_ATTRS}; ", q(g)) }
        ));
    }
    match &a.mode {
        Some(FileMode::Octal(m)) => s.push_str(&format!(
            "  if [ \"$(printf %04o 0$(stat -c %a \"$1\"))\" != {m:04o} ]; then ch=1; {act}fi\n",
            act = if check { String::new() } else { format!("chmod {m:04o} \"$1\" || exit {RC_ATTRS}; ") }
        )),
        Some(FileMode::Symbolic(m)) if !check => s.push_str(&format!(
            "  b=$(stat -c %a \"$1\"); chmod {} \"$1\" || exit {RC_ATTRS}; [ \"$b\" = \"$(stat -c %a \"$1\")\" ] || ch=1\n",
            q(m)
        )),
        _ => {}
    }
    s.push_str("  [ -z \"$ch\" ] || echo attrs_changed=1\n");
    s
}

/// The rest of the script after [`script`]: skip, download, verify, compare, replace.
fn script_tail(a: &GetUrlArgs, src: Source, check: bool) -> String {
    // dest already there: kept unless forced or its checksum mismatches.
    let mut s = String::from(
        "if [ -f \"$dest\" ] && { { [ -n \"$expected\" ] && [ \"$(sum \"$dest\")\" = \"$expected\" ]; } || [ -z \"$expected\" ]; } && [ $force = 0 ]; then\n  attrs \"$dest\"\n  printf 'st='; stat -c '",
    );
    s.push_str(STAT_LINE_FMT);
    s.push_str("' \"$dest\"\n  echo state=present\n  exit 0\nfi\n");
    s.push_str(&format!(
        "t=$(mktemp \"$(dirname \"$dest\")/.rmesos-get_url.XXXXXX\") || exit {RC_TMP}\n"
    ));
    match src {
        Source::Host => s.push_str(&format!(
            "[ -n \"$tool\" ] || exit {RC_NEED_UPLOAD}\nfetch \"$url\" \"$t\" || exit {RC_DOWNLOAD}\n"
        )),
        Source::Stdin => s.push_str(&format!("cat > \"$t\" || exit {RC_DOWNLOAD}\n")),
    }
    s.push_str(&format!(
        "got=$(sum \"$t\")\n\
         if [ -n \"$expected\" ] && [ \"$got\" != \"$expected\" ]; then\n\
           echo \"The checksum for $dest did not match $expected; it was $got.\" >&2; exit {RC_CHECKSUM}\n\
         fi\n\
         src_sha1=$(sha1sum < \"$t\" | cut -d' ' -f1)\n\
         printf 'checksum_src=%s\\nsize=%s\\n' \"$src_sha1\" \"$(stat -c %s \"$t\")\"\n\
         if [ -f \"$dest\" ] && [ \"$(sha1sum < \"$dest\" | cut -d' ' -f1)\" = \"$src_sha1\" ]; then\n\
           attrs \"$dest\"\n  printf 'st='; stat -c '{fmt}' \"$dest\"\n  echo state=same\n  exit 0\n\
         fi\n",
        fmt = STAT_LINE_FMT
    ));
    if check {
        s.push_str("echo state=would_download\nexit 0\n");
        return s;
    }
    // Like any atomic replace, the new file takes over the old one's attributes.
    s.push_str(
        "if [ -e \"$dest\" ]; then chmod \"$(stat -c %a \"$dest\")\" \"$t\"; chown \"$(stat -c %u:%g \"$dest\")\" \"$t\" 2>/dev/null; \
         else chmod \"$(printf '%o' $((0666 & ~0022)))\" \"$t\"; fi\n\
         attrs \"$t\" >/dev/null\n",
    );
    if a.backup {
        s.push_str(
            "if [ -e \"$dest\" ]; then b=\"$dest.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p \"$dest\" \"$b\" && printf 'backup_file=%s\\n' \"$b\"; fi\n",
        );
    }
    s.push_str(&format!(
        "mv -f \"$t\" \"$dest\" || exit {RC_MOVE}\nt=\nprintf 'st='; stat -c '{STAT_LINE_FMT}' \"$dest\"\necho state=downloaded\n"
    ));
    s
}

fn full_script(a: &GetUrlArgs, ck: &Checksum, src: Source, check: bool) -> String {
    let mut s = script(a, ck, src, check);
    s.push_str(&script_tail(a, src, check));
    s
}

/// The controller downloads `url` itself (the host has neither curl nor wget).
async fn controller_get(a: &GetUrlArgs, url: &str) -> Result<Vec<u8>, ModuleError> {
    let url = url.to_string();
    let timeout = Duration::from_secs(a.timeout.max(1));
    let verify = a.validate_certs;
    let mut headers = a.headers.0.clone();
    if let Some(u) = &a.url_username {
        use base64::Engine;
        let cred = format!("{u}:{}", a.url_password.as_deref().unwrap_or_default());
        headers.push((
            "Authorization".into(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(cred)
            ),
        ));
    }
    tokio::task::spawn_blocking(move || {
        let tls = ureq::tls::TlsConfig::builder()
            .disable_verification(!verify)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .tls_config(tls)
            .build()
            .into();
        let mut req = agent.get(&url);
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut resp = req
            .call()
            .map_err(|e| ModuleError::Failed(format!("{url}: {e}")))?;
        resp.body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(|e| ModuleError::Failed(format!("{url}: {e}")))
    })
    .await
    .map_err(|e| ModuleError::Failed(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_parse() {
        assert_eq!(parse_checksum("").unwrap(), Checksum::None);
        assert_eq!(
            parse_checksum("sha256:ABcd").unwrap(),
            Checksum::Hex {
                algo: "sha256".into(),
                hex: "abcd".into()
            }
        );
        assert!(matches!(
            parse_checksum("sha512:https://x/y.sha512").unwrap(),
            Checksum::Url { .. }
        ));
        assert!(parse_checksum("crc32:00").is_err());
        assert!(parse_checksum("sha1:xyz").is_err());
    }

    #[test]
    fn checksum_files_and_url_names() {
        assert_eq!(url_basename("http://h/a/b.tgz?x=1"), "b.tgz");
        assert_eq!(url_basename("http://h/"), "index.html");
        let sums = "aa11  other.tgz\nBB22 *b.tgz\n";
        assert_eq!(checksum_from_file(sums, "b.tgz").as_deref(), Some("bb22"));
        assert_eq!(
            checksum_from_file("cc33\n", "b.tgz").as_deref(),
            Some("cc33")
        );
        assert_eq!(checksum_from_file(sums, "c.tgz"), None);
    }

    #[test]
    fn credentials_stay_in_config_files() {
        let a: GetUrlArgs = crate::modules::decode(
            &Value::from(minijinja::value::Serde(serde_json::json!({
                "url": "http://h/f", "dest": "/tmp/f", "url_username": "u",
                "url_password": "p\"w", "headers": "X-A: 1, X-B:2"
            }))),
            crate::modules::DecodeMode::RunTime,
        )
        .unwrap();
        let (curl, wget) = tool_configs(&a);
        assert!(curl.contains("user = \"u:p\\\"w\""), "{curl}");
        assert!(curl.contains("header = \"X-B: 2\""), "{curl}");
        assert!(wget.contains("password = p\"w"), "{wget}");
        let s = full_script(&a, &Checksum::None, Source::Host, false);
        assert!(!s.contains("p\"w") && !s.contains("p\\\"w"), "{s}");
    }
}

#[cfg(test)]
mod local_tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Serves `body` for every request on a loopback port, until the test process ends.
    fn serve(body: &'static [u8]) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(body);
            }
        });
        format!("http://{addr}")
    }

    fn files_in(dir: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn downloads_into_dir_verifies_and_is_idempotent() {
        let base = serve(b"payload\n");
        let h = Harness::new();
        std::fs::create_dir_all(h.path("d")).unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"payload\n"));
        let a = json!({"url": format!("{base}/pkg.tgz"), "dest": h.path("d"), "checksum": format!("sha256:{sha}"), "mode": "0640"});
        let r = h.run(&GetUrl, a.clone(), true, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert!(files_in(&h.path("d")).is_empty());
        let r = h.run(&GetUrl, a.clone(), false, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(h.read("d/pkg.tgz"), "payload\n");
        assert_eq!(h.mode("d/pkg.tgz"), 0o640);
        let r = h.run(&GetUrl, a, false, false).await;
        assert!(!r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(r.execs, 1);
        assert_eq!(files_in(&h.path("d")), ["pkg.tgz"]);
    }

    #[tokio::test]
    async fn wrong_checksum_leaves_nothing_behind() {
        let base = serve(b"evil\n");
        let h = Harness::new();
        std::fs::create_dir_all(h.path("d")).unwrap();
        let a = json!({"url": format!("{base}/f"), "dest": h.path("d/f"), "checksum": format!("sha1:{}", "0".repeat(40))});
        let r = h.run(&GetUrl, a, false, false).await;
        assert!(r.outcome.failed);
        let msg = r.outcome.msg.unwrap();
        assert!(msg.contains("did not match"), "{msg}");
        assert!(files_in(&h.path("d")).is_empty());
    }

    #[tokio::test]
    async fn force_redownloads_but_identical_content_is_unchanged() {
        let base = serve(b"same\n");
        let h = Harness::new();
        h.write("f", "same\n");
        let a = json!({"url": format!("{base}/f"), "dest": h.path("f"), "force": true});
        let r = h.run(&GetUrl, a, false, false).await;
        assert!(
            !r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        h.write("g", "old\n");
        let a = json!({"url": format!("{base}/g"), "dest": h.path("g")});
        let r = h.run(&GetUrl, a.clone(), false, false).await;
        assert!(!r.outcome.changed, "force=no keeps an existing file");
        let mut a = a;
        a["force"] = json!(true);
        let r = h.run(&GetUrl, a, false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(h.read("g"), "same\n");
    }
}
