//! The one shell script that gathers facts. It prints raw sections (file contents, command
//! output) after `\n\x1eNAME\n` headers and leaves all interpretation to the controller: the
//! target needs only `sh`, coreutils and /proc, and the parsing is testable on canned output.

use super::Collector;

/// Header byte of a section (ASCII record separator): never at a line start in the files read.
pub const SECTION_MARK: char = '\x1e';

/// Builds the script for the selected collectors.
pub fn build(selected: &[Collector]) -> String {
    let has = |c: Collector| selected.contains(&c);
    let mut s = String::from(
        "PATH=$PATH:/sbin:/usr/sbin:/usr/local/bin:/usr/local/sbin\n\
         LC_ALL=C; export LC_ALL\n\
         S() { printf '\\n\\036%s\\n' \"$1\"; }\n\
         T=; command -v timeout >/dev/null 2>&1 && T='timeout 5'\n",
    );
    if has(Collector::Platform) {
        s.push_str(
            "S uname; uname -s; uname -r; uname -m; uname -n; uname -v\n\
             S hostname; hostname 2>/dev/null || cat /proc/sys/kernel/hostname\n\
             S fqdn; $T hostname -f 2>/dev/null\n\
             S machine_id; cat /etc/machine-id 2>/dev/null\n",
        );
    }
    if has(Collector::Distribution) || has(Collector::PkgMgr) {
        s.push_str(
            "S os_release; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null\n\
             S debian_version; cat /etc/debian_version 2>/dev/null\n\
             S redhat_release; cat /etc/redhat-release 2>/dev/null || cat /etc/system-release 2>/dev/null\n\
             S alpine_release; cat /etc/alpine-release 2>/dev/null\n",
        );
    }
    if has(Collector::Lsb) {
        s.push_str("S lsb_release; cat /etc/lsb-release 2>/dev/null\n");
    }
    if has(Collector::PkgMgr) {
        s.push_str(
            "S pkg_bins; for b in apt-get dnf5 dnf yum zypper apk pacman emerge xbps-install opkg rpm-ostree; do \
             command -v $b >/dev/null 2>&1 && echo $b; done\n",
        );
    }
    if has(Collector::ServiceMgr) {
        s.push_str(
            "S service_mgr; cat /proc/1/comm 2>/dev/null || echo\n\
             [ -d /run/systemd/system ] && echo has:systemd\n\
             command -v initctl >/dev/null 2>&1 && [ -d /etc/init ] && echo has:upstart\n\
             [ -e /sbin/openrc ] && echo has:openrc\n\
             case $(readlink /sbin/init 2>/dev/null) in *systemd*) echo has:systemd_offline;; esac\n\
             [ -d /etc/init.d ] && echo has:initd\n",
        );
    }
    if has(Collector::Env) {
        s.push_str("S env; cat /proc/self/environ 2>/dev/null || env\n");
    }
    if has(Collector::User) {
        s.push_str(
            "S user; id -u; id -g; id -un; getent passwd \"$(id -u)\" 2>/dev/null || grep \"^$(id -un):\" /etc/passwd\n",
        );
    }
    if has(Collector::DateTime) {
        s.push_str(
            "S date_time; date '+%Y|%m|%d|%H|%M|%S|%s|%Z|%z|%A|%w|%W|%u|%B|%b|%a|%j|%N'; \
             date -u '+%Y-%m-%dT%H:%M:%SZ|%Y%m%dT%H%M%S'\n",
        );
    }
    if has(Collector::Fips) {
        s.push_str("S fips; cat /proc/sys/crypto/fips_enabled 2>/dev/null\n");
    }
    if has(Collector::Selinux) {
        s.push_str(
            "S selinux; grep -sH '' /sys/fs/selinux/enforce /sys/fs/selinux/policyvers /etc/selinux/config\n",
        );
    }
    if has(Collector::Cpu) {
        s.push_str("S cpuinfo; cat /proc/cpuinfo\nS nproc; nproc 2>/dev/null\n");
    }
    if has(Collector::Memory) {
        s.push_str("S meminfo; cat /proc/meminfo\n");
    }
    if has(Collector::Uptime) {
        s.push_str("S uptime; cat /proc/uptime\n");
    }
    if has(Collector::Devices) {
        // `grep -H ''` prints every file as `path:content` in one process; -s hides the globs
        // that matched nothing.
        s.push_str(
            "S block; grep -sH '' /sys/block/*/size /sys/block/*/removable /sys/block/*/ro \
             /sys/block/*/queue/rotational /sys/block/*/queue/logical_block_size \
             /sys/block/*/queue/scheduler /sys/block/*/device/model /sys/block/*/device/vendor \
             /sys/block/*/*/partition /sys/block/*/*/start /sys/block/*/*/size\n",
        );
    }
    if has(Collector::Mounts) {
        s.push_str("S mounts; cat /proc/mounts\nS df; $T df -P -k 2>/dev/null\n");
    }
    if has(Collector::Interfaces) {
        s.push_str(
            "if command -v ip >/dev/null 2>&1; then\n\
             S ip4; ip -o -4 addr show 2>/dev/null\n\
             S ip6; ip -o -6 addr show 2>/dev/null\n\
             S route4; ip -4 route show default 2>/dev/null\n\
             else\n\
             S proc_route; cat /proc/net/route 2>/dev/null\n\
             S hostname_i; hostname -I 2>/dev/null\n\
             fi\n\
             S net; grep -sH '' /sys/class/net/*/address /sys/class/net/*/mtu \
             /sys/class/net/*/operstate /sys/class/net/*/type\n",
        );
    }
    if has(Collector::Virtual) {
        s.push_str(
            "S virtual; [ -f /.dockerenv ] && echo flag:dockerenv\n\
             [ -f /run/.containerenv ] && echo flag:containerenv\n\
             [ -d /proc/xen ] && echo flag:xen\n\
             grep -qs '^flags.* hypervisor' /proc/cpuinfo && echo flag:hypervisor\n\
             tr '\\000' '\\n' < /proc/1/environ 2>/dev/null | grep '^container='\n\
             grep -sH '' /sys/class/dmi/id/product_name /sys/class/dmi/id/sys_vendor /proc/1/cgroup\n",
        );
    }
    // The last command's status must not fail the task: sections are optional by design.
    s.push_str("exit 0\n");
    s
}
