#!/usr/bin/env bash
# sabotage.sh — a deliberately misbehaving OCI runtime: a wrapper around a real one
# (SABOTAGE_REAL) that breaks one rule of the spec, chosen by environment variables. The
# conformance self-test (`berth-conformance --self-test`) runs every case through it with that
# case's sabotage and requires the case to fail, so no check passes vacuously.
#   SABOTAGE_JQ          jq filter applied to the bundle's config.json before create
#   SABOTAGE_REJECT_IF   jq predicate on config.json; create fails when it is true
#   SABOTAGE_POST_CREATE shell run after a successful create (PID ID BUNDLE ROOT REAL set)
#   SABOTAGE_PRE_START   shell run before start (ID BUNDLE ROOT REAL set)
#   SABOTAGE_POST_DELETE shell run after delete (ID BUNDLE set)
#   SABOTAGE_FAKE_OK     verbs whose failure is reported as success
#   SABOTAGE_NOOP        verbs that do nothing and report success
#   SABOTAGE_STATE_JQ    jq filter applied to the output of state
set -u
REAL=${SABOTAGE_REAL:?SABOTAGE_REAL must name the real runtime}
export REAL
args=("$@")
ROOT=""
i=0
while [ $i -lt ${#args[@]} ]; do
  case ${args[$i]} in
    --root) ROOT=${args[$((i+1))]}; i=$((i+2));;
    --log|--log-format|--criu) i=$((i+2));;
    --*) i=$((i+1));;
    *) break;;
  esac
done
export ROOT
verb=${args[$i]:-}
rest=("${args[@]:$((i+1))}")
# The container id is the last argument of every verb used here (kill: the one before the signal).
ID=""
if [ ${#rest[@]} -gt 0 ]; then
  if [ "$verb" = kill ] && [ ${#rest[@]} -ge 2 ]; then ID=${rest[$((${#rest[@]}-2))]}; else ID=${rest[$((${#rest[@]}-1))]}; fi
fi
export ID
has() { case " $1 " in *" $2 "*) return 0;; esac; return 1; }
real_state() { "$REAL" --root "$ROOT" state "$ID" 2>/dev/null; }

if has "${SABOTAGE_NOOP:-}" "$verb"; then exit 0; fi

BUNDLE=""
if [ "$verb" = create ]; then
  BUNDLE=$PWD
  for ((j=0; j<${#rest[@]}; j++)); do
    case ${rest[$j]} in --bundle|-b) BUNDLE=${rest[$((j+1))]};; --bundle=*) BUNDLE=${rest[$j]#--bundle=};; esac
  done
  if [ -n "${SABOTAGE_REJECT_IF:-}" ] && [ "$(jq "${SABOTAGE_REJECT_IF}" "$BUNDLE/config.json" 2>/dev/null)" = true ]; then
    echo "sabotage: refusing this config" >&2; exit 1
  fi
  if [ -n "${SABOTAGE_JQ:-}" ] && [ -f "$BUNDLE/config.json" ]; then
    jq "${SABOTAGE_JQ}" "$BUNDLE/config.json" > "$BUNDLE/config.json.sabotage" && mv "$BUNDLE/config.json.sabotage" "$BUNDLE/config.json"
  fi
elif [ -n "$ID" ]; then
  BUNDLE=$(real_state | jq -r '.bundle // empty' 2>/dev/null)
fi
export BUNDLE

if [ "$verb" = start ] && [ -n "${SABOTAGE_PRE_START:-}" ]; then sh -c "$SABOTAGE_PRE_START"; fi

if [ "$verb" = state ] && [ -n "${SABOTAGE_STATE_JQ:-}" ]; then
  out=$("$REAL" "$@") || exit $?
  printf '%s\n' "$out" | jq "${SABOTAGE_STATE_JQ}"
  exit $?
fi

"$REAL" "$@"
rc=$?
if [ $rc -eq 0 ] && [ "$verb" = create ] && [ -n "${SABOTAGE_POST_CREATE:-}" ]; then
  PID=$(real_state | jq -r '.pid // empty') && export PID && sh -c "$SABOTAGE_POST_CREATE" >&2
fi
if [ $rc -ne 0 ] && has "${SABOTAGE_FAKE_OK:-}" "$verb"; then rc=0; fi
if [ "$verb" = delete ] && [ -n "${SABOTAGE_POST_DELETE:-}" ]; then sh -c "$SABOTAGE_POST_DELETE"; fi
exit $rc
