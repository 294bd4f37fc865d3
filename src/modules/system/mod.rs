//! System: modules for the host's own settings (users, groups, SSH keys, cron, sysctl,
//! pam_limits, mounts, hostname, time zone, locales, alternatives, SELinux, kernel modules) and fact gathering (setup).
//!
//! [`syskit`] is what the config-file editors among them share: line splitting and joining.

pub mod alternatives;
pub mod authorized_key;
pub mod cron;
pub mod group;
pub mod hostname;
pub mod locale_gen;
pub mod modprobe;
pub mod mount;
pub mod pam_limits;
pub mod selinux;
pub mod setup;
pub mod sysctl;
pub mod syskit;
pub mod timezone;
pub mod user;
