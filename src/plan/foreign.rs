//! Modules that cannot run here but that content written for many platforms uses: another
//! platform's package managers and services, Windows, clouds' object stores. Ansible resolves
//! them and a role guards them with `when:` (or includes their file only on that platform), so
//! refusing them at load time would refuse the whole role on every host. A task using one loads
//! as [`Action::Unavailable`](super::model::Action::Unavailable): it fails the host that
//! reaches it, with the task's file:line:col and what to write instead.
//!
//! In a dynamically included file (which Ansible reads only when a host reaches it) an unknown
//! module is treated the same way; in content loaded statically it stays a load-time error.

use crate::error::{LoadError, Span};

/// Families of foreign modules: the names, what they manage, and what to write on the
/// Debian/Ubuntu hosts rmesos targets.
const FAMILIES: &[(&[&str], &str, &str)] = &[
    (
        &[
            "pkgng",
            "pkgin",
            "portinstall",
            "openbsd_pkg",
            "pacman",
            "pacman_key",
            "zypper",
            "zypper_repository",
            "portage",
            "homebrew",
            "homebrew_cask",
            "homebrew_tap",
            "macports",
            "pkg5",
            "pkg5_publisher",
            "pkgutil",
            "slackpkg",
            "apk",
            "swdepot",
            "svr4pkg",
            "sorcery",
            "xbps",
            "urpmi",
            "opkg",
            "swupd",
            "installp",
            "layman",
            "yum",
            "dnf",
            "dnf5",
            "yum_repository",
            "rpm_key",
            "rhsm_repository",
            "redhat_subscription",
            "rhn_channel",
            "rhn_register",
        ],
        "packages of another platform (BSD, Arch, SUSE, Gentoo, macOS, Solaris, Alpine, Red Hat...)",
        "on Debian/Ubuntu hosts use `apt`/`apt_repository` or `package`; keep this task behind a `when:` on `ansible_os_family`",
    ),
    (
        &[
            "s3",
            "aws_s3",
            "s3_object",
            "s3_bucket",
            "aws_s3_bucket_info",
            "gc_storage",
            "azure_rm_storageblob",
        ],
        "a cloud object store",
        "download with `get_url` (an https URL), or run the provider's CLI with `command`",
    ),
    (
        &[
            "launchd",
            "osx_defaults",
            "svc",
            "solaris_zone",
            "sysrc",
            "openbsd_service",
            "runit",
            "mas",
        ],
        "services or settings of another platform",
        "on Debian/Ubuntu hosts use `service`/`systemd`; keep this task behind a `when:` on `ansible_os_family`",
    ),
];

/// Windows modules, by prefix.
const WINDOWS_PREFIX: &str = "win_";

/// The short name of a module (`community.general.pkgng` -> `pkgng`).
fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// What a foreign module manages and what to write instead; None when `name` is not one.
fn family(name: &str) -> Option<(&'static str, &'static str)> {
    let s = short(name);
    if s.starts_with(WINDOWS_PREFIX) {
        return Some((
            "Windows hosts",
            "rmesos manages POSIX hosts over SSH; keep this task behind a `when:` on `ansible_os_family`",
        ));
    }
    FAMILIES
        .iter()
        .find(|(names, _, _)| names.contains(&s))
        .map(|(_, what, instead)| (*what, *instead))
}

/// Whether `name` is another platform's module (not merely unknown).
pub fn is_foreign(name: &str) -> bool {
    family(name).is_some()
}

/// The error a host reaching a task with module `name` fails with, when the module is foreign,
/// or unknown and `lazy` (the task is in a dynamically included file). None: refuse as usual.
pub fn unavailable(name: &str, span: &Span, lazy: bool) -> Option<LoadError> {
    if let Some((what, instead)) = family(name) {
        return Some(
            LoadError::new(
                span,
                format!(
                    "module `{}` is not available in rmesos: it manages {}",
                    name, what
                ),
            )
            .hint(instead),
        );
    }
    lazy.then(|| {
        LoadError::new(
            span,
            format!(
                "`{}` is neither a task keyword nor a known module (in a dynamically included file, so only hosts reaching it fail)",
                name
            ),
        )
        .hint("`rmesos doc` lists the supported modules; guard the task or its include with `when:`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_modules_by_name_and_fqcn() {
        let span = Span::none("t.yml");
        for name in [
            "pkgng",
            "community.general.pacman",
            "amazon.aws.s3_object",
            "ansible.windows.win_copy",
            "yum",
        ] {
            assert!(unavailable(name, &span, false).is_some(), "{name}");
        }
        assert!(unavailable("no_such_module", &span, false).is_none());
        let lazy = unavailable("no_such_module", &span, true).expect("lazy");
        assert!(lazy.msg.contains("dynamically included"), "{}", lazy.msg);
    }
}
