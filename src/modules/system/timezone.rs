//! `timezone` (community.general): sets the system time zone and, optionally, whether the
//! hardware clock keeps UTC or local time. One script reads the current settings, decides and
//! (unless in check mode) changes what differs: through `timedatectl` when systemd runs, else by
//! pointing /etc/localtime at the zoneinfo file and rewriting /etc/timezone (Debian) and the
//! third line of /etc/adjtime, each replaced atomically (temp file or link, then `mv`).

use crate::modules::doc::{arg, one_of};
use crate::modules::remote::{host_error, parse_kv, q};
use crate::modules::{ArgDoc, FileDiff, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

pub struct Timezone;

#[derive(Deserialize, Debug, Clone, Copy, PartialEq)]
pub enum Hwclock {
    #[serde(alias = "utc", alias = "UTC")]
    Utc,
    #[serde(alias = "local", alias = "LOCAL")]
    Local,
}

impl Hwclock {
    fn word(self) -> &'static str {
        match self {
            Hwclock::Utc => "UTC",
            Hwclock::Local => "local",
        }
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct TimezoneArgs {
    name: Option<String>,
    hwclock: Option<Hwclock>,
}

const ARGS: &[ArgDoc] = &[
    arg(
        "name",
        "The time zone (`Europe/Paris`, `UTC`); it must exist under /usr/share/zoneinfo.",
    ),
    one_of(
        arg(
            "hwclock",
            "Whether the hardware clock is in UTC or local time (timedatectl set-local-rtc, else /etc/adjtime).",
        ),
        &["UTC", "local"],
    ),
];

/// The script, with every path under `root` (empty on a real host; a directory in tests).
fn script(root: &str, name: Option<&str>, hw: Option<Hwclock>, check: bool) -> String {
    let mut s = format!(
        "R={}\nn={}\nhw={}\ncm={}\n",
        q(root),
        q(name.unwrap_or("")),
        q(hw.map(Hwclock::word).unwrap_or("")),
        u8::from(check)
    );
    s.push_str(SCRIPT);
    s
}

const SCRIPT: &str = r#"z="/usr/share/zoneinfo/$n"
if [ -n "$n" ] && [ ! -f "$R$z" ]; then printf 'given timezone "%s" is not available\n' "$n" >&2; exit 80; fi
if [ -z "$R" ] && [ -d /run/systemd/system ] && command -v timedatectl >/dev/null 2>&1; then
  cur=$(timedatectl show -p Timezone --value) || exit 81
  case $(timedatectl show -p LocalRTC --value) in yes) hwc=local ;; *) hwc=UTC ;; esac
  printf 'before=%s\nhw_before=%s\n' "$cur" "$hwc"
  c=0
  if [ -n "$n" ] && [ "$cur" != "$n" ]; then c=1; [ "$cm" = 1 ] || timedatectl set-timezone "$n" || exit 82; fi
  if [ -n "$hw" ] && [ "$hwc" != "$hw" ]; then c=1
    if [ "$cm" != 1 ]; then if [ "$hw" = local ]; then timedatectl set-local-rtc yes; else timedatectl set-local-rtc no; fi || exit 83; fi
  fi
  echo changed=$c; exit 0
fi
cur=
[ -f "$R/etc/timezone" ] && IFS= read -r cur < "$R/etc/timezone"
l=$(readlink "$R/etc/localtime" 2>/dev/null)
lz=${l#*zoneinfo/}
[ -n "$cur" ] || cur=$lz
hwc=UTC
if [ -f "$R/etc/adjtime" ] && [ "$(sed -n 3p "$R/etc/adjtime")" = LOCAL ]; then hwc=local; fi
printf 'before=%s\nhw_before=%s\n' "$cur" "$hwc"
c=0
if [ -n "$n" ]; then
  if [ "$lz" != "$n" ] && ! { [ -z "$l" ] && cmp -s "$R$z" "$R/etc/localtime"; }; then c=1
    if [ "$cm" != 1 ]; then
      ln -sfn "$z" "$R/etc/.localtime.rmesos" && mv -f "$R/etc/.localtime.rmesos" "$R/etc/localtime" || exit 84
    fi
  fi
  if [ -f "$R/etc/timezone" ] || [ -f "$R/etc/debian_version" ]; then
    if [ "$cur" != "$n" ] || [ ! -f "$R/etc/timezone" ]; then c=1
      if [ "$cm" != 1 ]; then
        printf '%s\n' "$n" > "$R/etc/.timezone.rmesos" && mv -f "$R/etc/.timezone.rmesos" "$R/etc/timezone" || exit 85
      fi
    fi
  fi
fi
if [ -n "$hw" ] && [ "$hwc" != "$hw" ]; then c=1
  if [ "$cm" != 1 ]; then
    w=UTC; [ "$hw" = local ] && w=LOCAL
    if [ -f "$R/etc/adjtime" ]; then sed "3c\\
$w" "$R/etc/adjtime" > "$R/etc/.adjtime.rmesos"
    else printf '0.0 0 0.0\n0\n%s\n' "$w" > "$R/etc/.adjtime.rmesos"; fi && mv -f "$R/etc/.adjtime.rmesos" "$R/etc/adjtime" || exit 86
  fi
fi
echo changed=$c
"#;

fn settings(name: &str, hw: &str) -> String {
    format!("name = {name}\nhwclock = {hw}\n")
}

impl Module for Timezone {
    const NAME: &'static str = "timezone";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[("diff", "before and after: {name, hwclock}")],
        summary: "Set the system time zone and the hardware clock's (UTC or local time).",
        args: ARGS,
        example: "- community.general.timezone:\n    name: Europe/Paris\n",
    };
    type Args = TimezoneArgs;

    async fn run(&self, a: TimezoneArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        run_at("", a, cx).await
    }
}

async fn run_at(root: &str, a: TimezoneArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
    if a.name.is_none() && a.hwclock.is_none() {
        return Err(ModuleError::failed(
            "one of the following is required: name, hwclock",
        ));
    }
    if let Some(n) = &a.name
        && (n.is_empty() || n.contains("..") || n.starts_with('/'))
    {
        return Err(ModuleError::failed(format!(
            "given timezone \"{n}\" is not available"
        )));
    }
    let out = cx
        .run(
            &script(root, a.name.as_deref(), a.hwclock, cx.check_mode),
            &[],
        )
        .await?;
    if out.rc != 0 {
        let what = match out.rc {
            80 => "cannot set the time zone",
            _ => "cannot change the time zone settings",
        };
        return Ok(Outcome::fail(host_error(what, &out)));
    }
    let kv = parse_kv(&out.stdout_str());
    let before = kv.get("before").cloned().unwrap_or_default();
    let hw_before = kv.get("hw_before").cloned().unwrap_or_default();
    let after = a.name.clone().unwrap_or_else(|| before.clone());
    let hw_after = a
        .hwclock
        .map(|h| h.word().to_string())
        .unwrap_or_else(|| hw_before.clone());
    let changed = kv.get("changed").is_some_and(|c| c == "1");
    let mut o = Outcome::changed(changed);
    if changed && cx.diff {
        o.diff.push(FileDiff {
            path: "timezone".into(),
            before: settings(&before, &hw_before),
            after: settings(&after, &hw_after),
        });
    }
    let pair = |n: &str, h: &str| Value::from_pairs([("name", n), ("hwclock", h)]);
    o.result.insert(
        "diff".into(),
        Value::from_pairs([
            ("before", pair(&before, &hw_before)),
            ("after", pair(&after, &hw_after)),
        ]),
    );
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;

    async fn go(h: &Harness, name: &str, check: bool) -> Outcome {
        let root = h.path("root");
        let a = TimezoneArgs {
            name: Some(name.into()),
            hwclock: None,
        };
        let cx = h.cx(check);
        match run_at(&root, a, &cx).await {
            Ok(o) => o,
            Err(e) => Outcome::fail(e.to_string()),
        }
    }

    #[tokio::test]
    async fn links_localtime_writes_etc_timezone_and_is_idempotent() {
        let h = Harness::new();
        h.write("root/usr/share/zoneinfo/Europe/Paris", "TZif-paris");
        h.write("root/usr/share/zoneinfo/Etc/UTC", "TZif-utc");
        h.write("root/etc/timezone", "Etc/UTC\n");
        h.write("root/etc/debian_version", "12\n");
        std::os::unix::fs::symlink("/usr/share/zoneinfo/Etc/UTC", h.path("root/etc/localtime"))
            .unwrap();
        let o = go(&h, "Europe/Paris", true).await;
        assert!(o.changed && !o.failed, "{:?}", o.msg);
        assert_eq!(
            h.read("root/etc/timezone"),
            "Etc/UTC\n",
            "check mode changes nothing"
        );
        let o = go(&h, "Europe/Paris", false).await;
        assert!(o.changed && !o.failed, "{:?}", o.msg);
        assert_eq!(h.read("root/etc/timezone"), "Europe/Paris\n");
        let link = std::fs::read_link(h.path("root/etc/localtime")).unwrap();
        assert_eq!(link.to_str(), Some("/usr/share/zoneinfo/Europe/Paris"));
        let before = o.result["diff"].get_attr("before").unwrap();
        assert_eq!(before.get_attr("name").unwrap().to_string(), "Etc/UTC");
        let o = go(&h, "Europe/Paris", false).await;
        assert!(!o.changed && !o.failed, "{:?}", o.msg);
        let o = go(&h, "Mars/Olympus", false).await;
        assert!(o.failed);
        assert!(o.msg.unwrap().contains("\"Mars/Olympus\" is not available"));
    }
}
