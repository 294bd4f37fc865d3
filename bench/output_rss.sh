#!/usr/bin/env bash
# Controller memory for a task that prints a lot (issue 14 item 7): a `shell` task printing
# SIZE bytes (default 200 MB) on the local connection, with human output and no register, then
# with `register` and `--output json`; prints each run's peak RSS (GNU time) and wall time and
# fails when a peak passes MAX_MB (default 200: what the run keeps is bounded by
# RMESOS_OUTPUT_LIMIT, 2 MiB per stream by default, whatever SIZE is).
#
#   bench/output_rss.sh                       # the binary of this checkout (release build)
#   RMESOS_BIN=/path/to/rmesos SIZE=50000000 bench/output_rss.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SIZE="${SIZE:-200000000}"
MAX_MB="${MAX_MB:-200}"
if [ -z "${RMESOS_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --quiet)
  RMESOS_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/rmesos"
fi
[ -x /usr/bin/time ] || { echo "output_rss: needs GNU time (/usr/bin/time)" >&2; exit 2; }
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
echo 'localhost ansible_connection=local' > "$dir/hosts"
task="    - shell: head -c $SIZE /dev/zero | tr '\\0' x"
printf -- '- hosts: all\n  gather_facts: false\n  tasks:\n%s\n' "$task" > "$dir/plain.yml"
printf -- '- hosts: all\n  gather_facts: false\n  tasks:\n%s\n      register: r\n    - debug: msg="{{ r.stdout | length }}"\n' \
  "$task" > "$dir/reg.yml"
fail=0
for args in "plain.yml" "reg.yml --output json"; do
  # shellcheck disable=SC2086 # args holds several words on purpose
  (cd "$dir" && /usr/bin/time -v "$RMESOS_BIN" play -i hosts $args >"$dir/out" 2>"$dir/err") ||
    { echo "output_rss: rmesos play $args failed:" >&2; cat "$dir/err" >&2; exit 1; }
  kb=$(awk -F: '/Maximum resident/ {gsub(/ /, "", $2); print $2}' "$dir/err")
  wall=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$dir/err")
  printf '%-24s peak RSS %6d MB  wall %s  stdout %d bytes\n' "$args" $((kb / 1024)) "$wall" "$(wc -c <"$dir/out")"
  [ $((kb / 1024)) -le "$MAX_MB" ] || { echo "output_rss: over $MAX_MB MB" >&2; fail=1; }
done
exit $fail
