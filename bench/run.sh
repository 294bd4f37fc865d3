#!/usr/bin/env bash
# Side-by-side benchmark: rmesos against ansible-core, pyinfra and the OpenSSH floors, on the
# workload and loopback fleet of ../shared/bench (see its README), all in ONE run so ratios
# compare like with like. Writes the harness's results plus ratios.md (targets checked).
#
#   bench/run.sh                      # sizes 10x20,50x20; tools below; 1 rep
#   SIZES=50x20 REPS=3 bench/run.sh
#   TOOLS=rmesos,raw-batch bench/run.sh   # quick, no Python tools
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHARED="${RMESOS_SHARED_BENCH:-$ROOT/../shared/bench}"
SIZES="${SIZES:-10x20,50x20}"
TOOLS="${TOOLS:-rmesos,raw-batch,raw-pertask,pyinfra,ansible-tuned}"
REPS="${REPS:-1}"
OUT="${OUT:-/tmp/rmesos-bench/results/$(date +%Y%m%d-%H%M%S)}"

[ -x "$SHARED/run.sh" ] || { echo "bench: $SHARED/run.sh not found (set RMESOS_SHARED_BENCH)" >&2; exit 2; }
(cd "$ROOT" && cargo build --release --quiet)
export RMESOS_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/rmesos"
case ",$TOOLS," in
  *,ansible*|*,pyinfra,*) command -v ansible-playbook >/dev/null && command -v pyinfra >/dev/null || "$SHARED/run.sh" install ;;
esac
nmax=$(echo "$SIZES" | tr ',' '\n' | cut -dx -f1 | sort -n | tail -1)
"$SHARED/run.sh" setup "$nmax"
"$SHARED/run.sh" bench --sizes "$SIZES" --tools "$TOOLS" --reps "$REPS" --out "$OUT"
python3 "$HERE/ratios.py" "$OUT/results.jsonl" | tee "$OUT/ratios.md"
echo "bench: results in $OUT (stop the fleet with $SHARED/run.sh teardown)"
