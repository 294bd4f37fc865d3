#!/bin/sh
# Prints the disks to use as JSON, {"ephemeral": [{"dev", "uuid"}...], "ebs": [...]},
# formatting a disk first when it has no filesystem (blkid finds none). Arguments: FSTYPE,
# then the Xen ephemeral names, "--", the Xen EBS names.
set -u
fstype=$1; shift
xen_eph=""; xen_ebs=""; seen_sep=0
for a in "$@"; do
  if [ "$a" = "--" ]; then seen_sep=1; continue; fi
  if [ $seen_sep = 0 ]; then xen_eph="$xen_eph $a"; else xen_ebs="$xen_ebs $a"; fi
done
root_src=$(findmnt -no SOURCE / 2>/dev/null)
root_disk=$(lsblk -no PKNAME "$root_src" 2>/dev/null | head -n1)
use() {  # KIND DEVICE
  dev=$(readlink -f "$2")
  [ -b "$dev" ] || return 0
  case "$(basename "$dev")" in "$root_disk"|"$root_disk"p*) return 0 ;; esac
  # A disk with partitions is someone else's layout: leave it.
  [ "$(lsblk -no NAME "$dev" 2>/dev/null | wc -l)" -gt 1 ] && return 0
  if ! blkid -p "$dev" >/dev/null 2>&1; then
    mkfs -t "$fstype" -q "$dev" >&2 || exit 1
    echo "formatted $dev" >&2
  fi
  entry=$(printf '{"dev": "%s", "uuid": "%s"}' "$dev" "$(blkid -s UUID -o value "$dev")")
  if [ "$1" = ephemeral ]; then eph="$eph${eph:+, }$entry"; else ebs="$ebs${ebs:+, }$entry"; fi
}
eph=""; ebs=""
found=0
for d in /dev/nvme*n1; do
  [ -b "$d" ] || continue
  model=$(cat "/sys/block/$(basename "$d")/device/model" 2>/dev/null | sed 's/ *$//')
  case "$model" in
    "Amazon EC2 NVMe Instance Storage") use ephemeral "$d"; found=1 ;;
    "Amazon Elastic Block Store") use ebs "$d" ;;
  esac
done
if [ $found = 0 ]; then
  for d in $xen_eph; do use ephemeral "$d"; done
fi
for d in $xen_ebs; do [ -b "$d" ] && { use ebs "$d"; break; }; done
printf '{"ephemeral": [%s], "ebs": [%s]}\n' "$eph" "$ebs"
