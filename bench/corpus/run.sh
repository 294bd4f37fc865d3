#!/usr/bin/env bash
# Applies each role of the dev corpus (../shared/corpus-dev, public roles we do not ship) unchanged
# to its own lab host, twice, and checks the effect from outside: a command in the container
# (docker exec) and, where the role runs a network service, a TCP probe from this machine.
#
#   bench/corpus/run.sh [ROLE ...]        default: every role in roles.tsv
#
# Env: RMESOS (binary; default: a release build of this checkout), CORPUS (the corpus folder),
# KEEP=1 leaves the lab up afterwards (`rmesos lab down --name corpus` removes it).
# Prints one line per role and a Markdown table (for docs/compat.md) into $OUT (default
# target/corpus/results.md). Exits 1 unless every role converged, re-ran with changed=0 and passed
# its check. Needs root and Docker (the lab builds its image on first use).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
corpus="${CORPUS:-$repo/../shared/corpus-dev}"
out="${OUT:-$repo/target/corpus/results.md}"
work="$repo/target/corpus"
if [ -z "${RMESOS:-}" ]; then
  (cd "$repo" && cargo build --release -q) || exit 1
  RMESOS="${CARGO_TARGET_DIR:-$repo/target}/release/rmesos"
fi
[ -d "$corpus" ] || { echo "corpus not found: $corpus (set CORPUS)" >&2; exit 1; }

mkdir -p "$work/roles" "$work/logs"
for r in "$corpus"/*/; do ln -sfn "${r%/}" "$work/roles/$(basename "$r")"; done
cp "$here"/playbooks/*.yml "$work/"

cd "$repo"
# Reuse a corpus lab that is up (KEEP=1 left it): its inventory is there.
if [ ! -f "$repo/.rmesos/lab/corpus/inventory.ini" ]; then
  "$RMESOS" lab up --name corpus --masters 1 --slaves 8 --cap-add NET_ADMIN || exit 1
fi
inv="$repo/.rmesos/lab/corpus/inventory.ini"

# "ok=3 changed=1 unreachable=0 failed=0 ..." -> the value of one counter, summed over hosts.
recap() { grep -E '^\S+\s+: ok=' "$1" | grep -oE "$2=[0-9]+" | cut -d= -f2 | awk '{s+=$1} END {print s+0}'; }

ip_of() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }

probe() { timeout 3 bash -c "</dev/tcp/$1/$2" 2>/dev/null; }

wanted=("$@")
rows=()
all_ok=1
while IFS=$'\t' read -r role host check port; do
  case "$role" in ''|'#'*) continue ;; esac
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " == *" $role "* ]]; then continue; fi
  log1="$work/logs/$role.1.log"; log2="$work/logs/$role.2.log"
  "$RMESOS" play "$work/$role.yml" -i "$inv" >"$log1" 2>&1; rc1=$?
  "$RMESOS" play "$work/$role.yml" -i "$inv" >"$log2" 2>&1; rc2=$?
  failed1=$(recap "$log1" failed); changed2=$(recap "$log2" changed)
  container="rmesos-corpus-$host"
  if docker exec "$container" sh -c "$check" >/dev/null 2>&1; then effect=yes; else effect=no; fi
  if [ "$port" != "-" ]; then
    probe "$(ip_of "$container")" "$port" && port_ok="$port open" || { port_ok="$port closed"; effect=no; }
  else
    port_ok="-"
  fi
  converged=no; [ "$rc1" = 0 ] && [ "${failed1:-1}" = 0 ] && converged=yes
  idem=no; [ "$rc2" = 0 ] && [ "${changed2:-1}" = 0 ] && idem=yes
  [ "$converged$idem$effect" = yesyesyes ] || all_ok=0
  why=""
  if [ "$converged" = no ]; then
    why=$(grep -m1 -iE 'error|fatal|failed!|refus' "$log1" | cut -c1-160)
  fi
  printf '%-24s converge=%-3s (rc %s) rerun-changed=%-4s effect=%-3s %s %s\n' \
    "$role" "$converged" "$rc1" "${changed2:-?}" "$effect" "$port_ok" "$why"
  rows+=("| $role | $converged | ${changed2:-?} | $effect | ${why//|/\\|} |")
done < "$here/roles.tsv"

{
  echo "| role | converges | changed on 2nd run | effect checked from outside | first error |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$out"
echo "table: $out; logs: $work/logs/"
[ "${KEEP:-0}" = 1 ] || "$RMESOS" lab down --name corpus >/dev/null
[ "$all_ok" = 1 ]
