#!/usr/bin/env bash
# Every workload of docs/performance.md beside its peer, in one run, on this
# machine, then one table of the results (the lines each part printed).
#
#   bench/all.sh                 # everything (about 15 minutes after the build)
#   ONLY="w1 w5" bench/all.sh    # some parts: w1 w2 w3 w5 w6 scale drain
#
# Each part is a script of its own (bench/*/run.sh, and W3/W4 through
# `cargo bench`), with its own needs: wrk, n8n (npm) for W1's peer,
# wasmtime for W2's, PostgreSQL and Redis for scale. The table goes to
# stdout and to bench/.results/<commit>.txt; paste it into bench/README.md.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
only="${ONLY:-w1 w2 w3 w5 w6 scale drain}"
commit="$(git -C "$root" rev-parse --short HEAD)"
out="$here/.results"; mkdir -p "$out"
log="$out/$commit.log"; : >"$log"
(cd "$root" && cargo build --release --locked) || exit 1

part() { # name command...
  local name="$1"; shift
  case " $only " in *" $name "*) ;; *) return 0 ;; esac
  echo "== $name: $*" | tee -a "$log"
  if ! "$@" 2>&1 | tee -a "$log"; then
    echo "$name FAILED (see $log)" | tee -a "$log"
  fi
}

part w1 "$here/w1/run.sh"
part w2 "$here/w2/run.sh"
part w3 cargo bench --manifest-path "$root/Cargo.toml" -p n8n-work-bench --bench workflow
part w5 "$here/w5/run.sh"
part w6 "$here/w6/run.sh"
part scale "$here/scale/run.sh"
part drain "$here/drain/run.sh"

{
  echo "# bench/all.sh at $commit, $(date -u +%F), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo
  # What each part printed, without the build's and the peers' chatter.
  grep -vE '^ *(Compiling|Finished|Running|Downloaded|Downloading|Installing|Installed|Updating|Locking|Blocking|warning|added [0-9]+ packages)|^\{|^\[|^$' "$log"
} | tee "$out/$commit.txt"
