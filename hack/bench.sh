#!/usr/bin/env bash
# bench.sh — berth vs runc vs crun on this machine, side by side:
#   1. hyperfine, ONE invocation for all runtimes: `run` of a busybox bundle whose process is
#      /bin/true, and create + start + delete -f of the same bundle
#   2. peak RSS of `run` (GNU time %M, i.e. ru_maxrss from wait4: the largest peak of the
#      runtime process and the children it reaped, never a sum)
#   3. syscall counts of `run`: `strace -c` (the runtime process alone) and `strace -f -c`
#      (the whole tree: runtime, its helper/init processes and the container's /bin/true)
# The markdown summary is printed and written between the generated-section markers of
# docs/benchmarks.md (the rest of that file is kept). Not a test: nothing here asserts.
#
# Usage: hack/bench.sh [--quick] [--out FILE] [--no-write]
#   --quick     few runs (about 20 s); writes nothing unless --out is given
#   --out FILE  write the summary into FILE instead of docs/benchmarks.md
#   --no-write  only print the summary
# Env: BERTH (default: target/release/berth, built with `cargo build --release -p berth`),
#      RUNC (/usr/sbin/runc), CRUN (/usr/bin/crun), RUNS (hyperfine runs per command),
#      RSS_RUNS (runs per runtime for peak RSS)
# Needs root and hyperfine, jq, strace, python3, time (all in hack/setup.sh).
#
# crun 1.8.1 refuses this VM's hybrid cgroup layout (hugetlb on cgroup2). When that is the case
# the script mounts hugetlb as cgroup v1 for the run (the fix in shared notes "Cgroups") and
# reverts it at exit; if the mount fails crun is skipped with the reason. A fix that was already
# in place is left alone. Exit traps delete every container, remove the temp dir and revert.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

quick=0 write=1 out=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --out) [ $# -ge 2 ] || { echo "bench.sh: --out needs a file" >&2; exit 2; }; out=$2; shift ;;
    --no-write) write=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$out" ]; then
  [ $quick = 1 ] && write=0
  out=$repo/docs/benchmarks.md
fi
if [ $quick = 1 ]; then runs=${RUNS:-15} warmup=2 rss_runs=${RSS_RUNS:-3}
else runs=${RUNS:-100} warmup=5 rss_runs=${RSS_RUNS:-15}; fi

[ "$(id -u)" = 0 ] || { echo "bench.sh: must run as root" >&2; exit 1; }
for t in hyperfine jq strace python3; do
  command -v $t >/dev/null || { echo "bench.sh: $t not found: run hack/setup.sh" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "bench.sh: /usr/bin/time not found: run hack/setup.sh" >&2; exit 1; }

berth=${BERTH:-}
if [ -z "$berth" ]; then
  echo "== building berth (release)" >&2
  (cd "$repo" && cargo build -q --release -p berth)
  berth=${CARGO_TARGET_DIR:-$repo/target}/release/berth
fi
cands=("berth=$berth" "runc=${RUNC:-/usr/sbin/runc}" "crun=${CRUN:-/usr/bin/crun}")

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
unified=/sys/fs/cgroup/unified/cgroup.controllers
hugetlb_dir=/sys/fs/cgroup/hugetlb
fix_applied=0 fix_made_dir=0
runtimes=()      # name=binary of the runtimes that passed the probe

# Undo the hugetlb move. Other processes may have made cgroups in the hierarchy while it was
# mounted: a child is removed only once it has stayed empty for a moment (a cgroup being set up
# right now is not yanked away); if some stay in use the mount is kept, since unmounting would hide
# them and keep hugetlb off cgroup2 for good, and the way to undo it is printed.
revert_cgroup_fix() {
  [ $fix_applied = 1 ] || return 0
  fix_applied=0
  local d left=1 empty
  for _ in $(seq 1 30); do
    empty=()
    while IFS= read -r d; do
      [ -n "$(cat "$d/cgroup.procs" 2>/dev/null)" ] || empty+=("$d")
    done < <(find "$hugetlb_dir" -mindepth 1 -depth -type d 2>/dev/null)
    sleep 0.5
    for d in "${empty[@]}"; do
      [ -n "$(cat "$d/cgroup.procs" 2>/dev/null)" ] || rmdir "$d" 2>/dev/null || true
    done
    left=$(find "$hugetlb_dir" -mindepth 1 -type d 2>/dev/null | wc -l)
    [ "$left" = 0 ] && break
  done
  if [ "$left" != 0 ]; then
    echo "bench.sh: warning: hugetlb stays mounted as cgroup v1 at $hugetlb_dir: other processes" \
      "still use cgroups in it ($(find "$hugetlb_dir" -mindepth 1 -maxdepth 1 -type d -printf '%f ')); revert" \
      "it later as in \"Cgroups\" of /work/shared/notes/integration.md" >&2
    return 0
  fi
  umount "$hugetlb_dir" || { echo "bench.sh: warning: could not unmount $hugetlb_dir" >&2; return 0; }
  if [ $fix_made_dir = 1 ]; then rmdir "$hugetlb_dir" 2>/dev/null || true; fi
}

cleanup() {
  # Best effort to the end: one failing step must not skip the rest.
  set +e
  trap - ERR
  local rt name bin st id
  for rt in "${cands[@]}"; do
    name=${rt%%=*} bin=${rt#*=} st=$work/state-$name
    if [ ! -d "$st" ] || [ ! -x "$bin" ]; then continue; fi
    for id in $(timeout 10 "$bin" --root "$st" list -q 2>/dev/null); do
      timeout 10 "$bin" --root "$st" delete -f "$id" >/dev/null 2>&1 || true
    done
  done
  # No mount should be left in the host namespace; if one is, it must not keep rm from working.
  grep -o " $work/[^ ]*" /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m"; done
  rm -rf "$work"
  revert_cgroup_fix
}
trap cleanup EXIT
hf_pid=
trap '[ -z "$hf_pid" ] || kill "$hf_pid" 2>/dev/null; exit 130' INT TERM
trap 'echo "bench.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# Bundle: busybox rootfs, /bin/true, no terminal.
bundle=$work/bundle
"$here/rootfs.sh" "$bundle" >/dev/null
jq '.process.args = ["/bin/true"] | .process.terminal = false' "$bundle/config.json" >"$work/config.json"
mv "$work/config.json" "$bundle/config.json"

# crun and the hybrid layout.
cgroup_note="as found"
if [ -x "${CRUN:-/usr/bin/crun}" ] && grep -qw hugetlb "$unified" 2>/dev/null; then
  [ -d "$hugetlb_dir" ] || { mkdir "$hugetlb_dir" && fix_made_dir=1; }
  if mount -t cgroup -o hugetlb cgroup "$hugetlb_dir" 2>"$work/mount.err"; then
    fix_applied=1
    cgroup_note="hybrid v1 + cgroup2; hugetlb moved to v1 for this run (crun needs it), reverted after"
  else
    [ $fix_made_dir = 1 ] && rmdir "$hugetlb_dir"
    fix_made_dir=0
    echo "bench.sh: cannot move hugetlb to cgroup v1 ($(head -c 200 "$work/mount.err")): crun will be skipped" >&2
  fi
elif [ -e "$unified" ] && ! grep -qw hugetlb "$unified"; then
  cgroup_note="hybrid v1 + cgroup2, hugetlb already on v1 (left as it was)"
fi

# A runtime takes part if it runs the bundle once.
for rt in "${cands[@]}"; do
  name=${rt%%=*} bin=${rt#*=}
  mkdir -p "$work/state-$name"
  if [ ! -x "$bin" ]; then
    echo "bench.sh: skipping $name: $bin not found" >&2
  elif timeout -k 2 20 "$bin" --root "$work/state-$name" run -b "$bundle" probe >"$work/probe-$name.log" 2>&1; then
    runtimes+=("$rt")
  else
    rc=$?
    echo "bench.sh: skipping $name: \`run\` of the bundle failed (exit status $rc): $(tail -c 300 "$work/probe-$name.log" | tr '\n' ' ')" >&2
    timeout 10 "$bin" --root "$work/state-$name" delete -f probe >/dev/null 2>&1 || true
  fi
done
[ ${#runtimes[@]} -gt 0 ] || { echo "bench.sh: no runtime can run the bundle" >&2; exit 1; }

# 1. hyperfine: every runtime's `run`, then every runtime's create/start/delete. `run` deletes its
# container when the process exits (as runc does), so one id per runtime is free again for the
# next iteration; a runtime that leaves it behind fails the next run and hyperfine stops.
args=()
for rt in "${runtimes[@]}"; do
  name=${rt%%=*} bin=${rt#*=}
  args+=(-n "run/$name" "$bin --root $work/state-$name run -b $bundle r")
done
for rt in "${runtimes[@]}"; do
  name=${rt%%=*} bin=${rt#*=} st=$work/state-$name
  printf 'set -e\n%s --root %s create -b %s c\n%s --root %s start c\n%s --root %s delete -f c\n' \
    "$bin" "$st" "$bundle" "$bin" "$st" "$bin" "$st" >"$work/cycle-$name.sh"
  args+=(-n "cycle/$name" "/bin/sh $work/cycle-$name.sh")
done
echo "== hyperfine: $runs runs per command after $warmup warm-ups" >&2
# In the background so that Ctrl-C reaches our trap at once (hyperfine itself only skips to the
# next command on SIGINT); the trap stops it.
hyperfine -N --style basic --warmup "$warmup" --runs "$runs" --export-json "$work/hyperfine.json" \
  "${args[@]}" >&2 &
hf_pid=$!
wait "$hf_pid"
hf_pid=

# 2. peak RSS, runtimes interleaved so load drifts hit them alike.
echo "== peak RSS: $rss_runs runs each" >&2
for _ in $(seq 1 "$rss_runs"); do
  for rt in "${runtimes[@]}"; do
    name=${rt%%=*} bin=${rt#*=}
    /usr/bin/time -f %M -a -o "$work/rss-$name" "$bin" --root "$work/state-$name" run -b "$bundle" m
  done
done

# 3. syscall counts, one traced `run` per mode.
echo "== strace -c and strace -f -c" >&2
for rt in "${runtimes[@]}"; do
  name=${rt%%=*} bin=${rt#*=}
  strace -q -c -S calls -o "$work/strace-$name" "$bin" --root "$work/state-$name" run -b "$bundle" s
  strace -q -f -c -S calls -o "$work/strace-f-$name" "$bin" --root "$work/state-$name" run -b "$bundle" s
done

# Nothing may be left in any state root.
for rt in "${runtimes[@]}"; do
  name=${rt%%=*} bin=${rt#*=}
  left=$("$bin" --root "$work/state-$name" list -q 2>/dev/null || true)
  [ -z "$left" ] || echo "bench.sh: warning: $name left containers behind: $left" >&2
done

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "kernel=$(uname -r)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
  echo "mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "load=$load_start at start, $load_end at end (1/5/15 min)"
  echo "cgroups=$cgroup_note"
  echo "hyperfine=$(hyperfine --version | awk '{print $2}'), $runs runs per command after $warmup warm-ups"
  echo "rss_runs=$rss_runs"
  echo "quick=$quick"
  for rt in "${runtimes[@]}"; do
    name=${rt%%=*} bin=${rt#*=}
    # awk reads everything: `head -1` could SIGPIPE the runtime and fail the pipeline
    v=$("$bin" --version 2>/dev/null | awk 'NR == 1 {print $NF}')
    if [ "$name" = berth ]; then
      v="$v, commit $("$bin" --version | awk '/^commit/ {print $2}')"
      # A binary this script built may include uncommitted work in the runtime's sources.
      if [ -z "${BERTH:-}" ] && [ -n "$(git -C "$repo" status --porcelain -- src/berth src/runtime Cargo.toml 2>/dev/null)" ]; then
        v="$v + uncommitted changes"
      fi
      v="$v, release build"
    fi
    echo "version_$name=$bin $v"
  done
} >"$work/meta"

names=()
for rt in "${runtimes[@]}"; do names+=("${rt%%=*}"); done
python3 - "$work" "${names[@]}" >"$work/summary.md" <<'PY'
import json, statistics, sys
work, names = sys.argv[1], sys.argv[2:]
meta = dict(l.rstrip("\n").split("=", 1) for l in open(f"{work}/meta"))
res = {r["command"]: r for r in json.load(open(f"{work}/hyperfine.json"))["results"]}

def ms(s): return f"{s * 1000:.1f}"
def ratio(a, b): return f"{a / b:.2f}×" if b else "-"
def strace(path):
    """strace -c summary -> ({syscall: (calls, errors)}, total calls, total errors)"""
    rows, total = {}, (0, 0)
    for line in open(path):
        t = line.split()
        if not t or t[0].startswith(("%", "-")) or not t[3].isdigit():
            continue
        calls, errors = int(t[3]), int(t[4]) if len(t) == 6 else 0
        if t[-1] == "total": total = (calls, errors)
        else: rows[t[-1]] = (calls, errors)
    return rows, total[0], total[1]

refs = [r for r in ("crun", "runc") if r in names]
out = []
p = out.append
p("## Results")
p("")
p(f"Generated by `hack/bench.sh`{' --quick' if meta['quick'] == '1' else ''} on {meta['date']}.")
p("")
p(f"- Machine: {meta['os']}, kernel {meta['kernel']}, {meta['cpu']}, {meta['mem']}; load average {meta['load']}")
p(f"- Cgroups: {meta['cgroups']}")
for n in names: p(f"- {n}: `{meta['version_' + n]}`")
p(f"- hyperfine {meta['hyperfine']}, all commands in one invocation (`-N`, no shell)")
p("")
p("### Time (ms)")
p("")
p("`run`: `RUNTIME --root DIR run -b BUNDLE ID` of busybox `/bin/true` (foreground; the runtime deletes")
p("the container when it exits). `create+start+delete`: `/bin/sh` running `create`, `start`, `delete -f`")
p("(three runtime processes plus about 1 ms of dash). Ratios are this runtime's time over the other's:")
p("below 1.00× is faster.")
p("")
head = "| benchmark | runtime | min | median | mean ± σ | user | system |"
sep = "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
for r in refs:
    head += f" min vs {r} | mean vs {r} |"; sep += " ---: | ---: |"
p(head); p(sep)
for bench, label in (("run", "`run`"), ("cycle", "create+start+delete")):
    for n in names:
        x = res[f"{bench}/{n}"]
        row = (f"| {label} | {n} | {ms(x['min'])} | {ms(x['median'])} | {ms(x['mean'])} ± {ms(x['stddev'])}"
               f" | {ms(x['user'])} | {ms(x['system'])} |")
        for r in refs:
            y = res[f"{bench}/{r}"]
            row += f" {ratio(x['min'], y['min'])} | {ratio(x['mean'], y['mean'])} |"
        p(row)
p("")
p(f"### Peak RSS of `run` (KiB, {meta['rss_runs']} runs each)")
p("")
p("GNU time `%M`: ru_maxrss from wait4, the largest peak of the runtime process and the children it")
p("reaped (its init/helper processes before they exec `/bin/true`); a maximum, not a sum.")
p("")
rss = {n: [int(l) for l in open(f"{work}/rss-{n}") if l.strip().isdigit()] for n in names}
med = {n: statistics.median(v) for n, v in rss.items()}
head = "| runtime | median | min | max |"; sep = "| --- | ---: | ---: | ---: |"
for r in refs: head += f" median vs {r} |"; sep += " ---: |"
p(head); p(sep)
for n in names:
    row = f"| {n} | {med[n]:.0f} | {min(rss[n])} | {max(rss[n])} |"
    for r in refs: row += f" {ratio(med[n], med[r])} |"
    p(row)
p("")
p("### Syscalls of one `run`")
p("")
p("`strace -c`: the runtime process alone (for runc that includes its Go threads, which strace follows")
p("only with -f, so: its main thread). `strace -f -c`: the whole tree, i.e. runtime, helper and init")
p("processes and the container's `/bin/true`.")
p("")
main = {n: strace(f"{work}/strace-{n}") for n in names}
tree = {n: strace(f"{work}/strace-f-{n}") for n in names}
p("| runtime | runtime process: calls | errors | distinct | whole tree: calls | errors | distinct |")
p("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for n in names:
    m, t = main[n], tree[n]
    p(f"| {n} | {m[1]} | {m[2]} | {len(m[0])} | {t[1]} | {t[2]} | {len(t[0])} |")
p("")
p("Whole tree, by syscall (the 15 most frequent in any runtime):")
p("")
top = set()
for n in names:
    top |= set(sorted(tree[n][0], key=lambda s: -tree[n][0][s][0])[:15])
first = names[0]
order = sorted(top, key=lambda s: (-tree[first][0].get(s, (0, 0))[0], s))
p("| syscall | " + " | ".join(names) + " |")
p("| --- |" + " ---: |" * len(names))
for s in order:
    p(f"| {s} | " + " | ".join(str(tree[n][0].get(s, (0, 0))[0]) for n in names) + " |")
if "berth" in names and "crun" in names:
    b, c = res["run/berth"], res["run/crun"]
    p("")
    p("### Target: berth ≤ crun on `run` min time and peak RSS")
    p("")
    ok = lambda x: "met" if x else "**not met**"
    p(f"- `run` min time: berth {ms(b['min'])} ms vs crun {ms(c['min'])} ms ({ratio(b['min'], c['min'])}): {ok(b['min'] <= c['min'])}")
    p(f"- peak RSS (median): berth {med['berth']:.0f} KiB vs crun {med['crun']:.0f} KiB ({ratio(med['berth'], med['crun'])}): {ok(med['berth'] <= med['crun'])}")
print("\n".join(out))
PY
cat "$work/summary.md"

if [ $write = 1 ]; then
  python3 - "$out" "$work/summary.md" <<'PY'
import os, sys
out, summary = sys.argv[1], open(sys.argv[2]).read()
begin, end = "<!-- bench.sh: begin generated -->", "<!-- bench.sh: end generated -->"
block = f"{begin}\n{summary.rstrip()}\n{end}\n"
text = open(out).read() if os.path.exists(out) else "# Benchmarks: berth vs runc vs crun\n\nRun `hack/bench.sh` (as root) to refresh the numbers below.\n\n"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    text = head + block + rest.split(end, 1)[1].lstrip("\n")
else:
    text = text.rstrip("\n") + "\n\n" + block
open(out, "w").write(text)
PY
  echo "== written to $out" >&2
fi
