#!/usr/bin/env bash
# conformance.sh RUNTIME... — run the OCI runtime-spec conformance suite (conformance/) against
# each runtime and print a markdown table comparing them, case by case.
#   RUNTIME is a path (/usr/sbin/runc) or NAME=PATH (berth=target/debug/berth).
# Environment: CONFORMANCE_CGROUP_FIX=1 moves hugetlb to cgroup v1 first (crun needs it on a
# hybrid host; the change persists). CONFORMANCE_ARGS adds arguments (e.g. "--filter hooks").
# CONFORMANCE_BIN uses a prebuilt berth-conformance instead of building it.
# Each runtime's full output is kept in $OUT (default: a temp dir, printed at the end).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: hack/conformance.sh RUNTIME... (path or NAME=PATH)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "conformance.sh: must run as root" >&2; exit 2; }
cd "$here/.."
if [ -n "${CONFORMANCE_BIN:-}" ]; then
  bin=$CONFORMANCE_BIN          # a prebuilt driver (the cargo test passes its own)
else
  cargo build --quiet -p berth-conformance
  bin=${CARGO_TARGET_DIR:-$here/../target}/debug/berth-conformance
fi
for spec in "$@"; do
  path=${spec#*=}
  [ -x "$path" ] || { echo "conformance.sh: $path is not an executable runtime" >&2; exit 2; }
done
out=${OUT:-$(mktemp -d /tmp/conformance-table.XXXXXX)}
mkdir -p "$out"

names=()
for spec in "$@"; do
  case $spec in *=*) name=${spec%%=*}; path=${spec#*=};; *) name=$(basename "$spec"); path=$spec;; esac
  names+=("$name")
  echo "running the suite against $name ($path)..." >&2
  # shellcheck disable=SC2086
  "$bin" --runtime "$path" ${CONFORMANCE_ARGS:-} >"$out/$name.txt" 2>"$out/$name.err" || true
  tail -n1 "$out/$name.txt" | grep -Eq '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' ||
    { echo "conformance.sh: the run against $name did not finish; see $out/$name.err" >&2; cat "$out/$name.err" >&2; exit 1; }
done

# One row per case, in the suite's order; one column per runtime.
cases=$(grep -hE '^(PASS|FAIL|SKIP) ' "$out/${names[0]}.txt" | sed -E 's/^(PASS|FAIL|SKIP) ([^ :]+).*/\2/')
printf '| case |'; for n in "${names[@]}"; do printf ' %s |' "$n"; done; echo
printf '| --- |'; for _ in "${names[@]}"; do printf ' --- |'; done; echo
while read -r c; do
  printf '| %s |' "$c"
  for n in "${names[@]}"; do
    r=$(grep -E "^(PASS|FAIL|SKIP) $c( |:|$)" "$out/$n.txt" | head -n1 | cut -c1-4 || true)
    case $r in PASS) r=pass;; FAIL) r=**FAIL**;; SKIP) r=skip;; *) r='?';; esac
    printf ' %s |' "$r"
  done
  echo
done <<<"$cases"
printf '| **total** |'; for n in "${names[@]}"; do printf ' %s |' "$(tail -n1 "$out/$n.txt")"; done; echo
echo
echo "full outputs (with failure reasons and skip reasons): $out" >&2
