# tests/lib.sh - shared harness of wharf's integration tests (bash, sourced).
#
# A test file does:   . "${BASH_SOURCE%/*}/../lib.sh"; wh_init; ...checks...; wh_done
#
# What it gives:
#   - TAP: ok, not_ok, skip, diag, check (run a command), is, like, expect
#     (HTTP status of the last request), expect_err (status + OCI error code),
#     expect_hdr; wh_done prints the plan ("1..N") at the end.
#   - wh_start: wharfd on 127.0.0.1 port 0 in a fresh root (or a given one);
#     the port comes from wharfd's first stdout line, read with a timeout.
#   - wh_req: one curl request; sets H_CODE, H_BODY (file), H_HDRS (file).
#   - push helpers: blobs (monolithic, single POST), manifests, whole images.
#
# Invariants:
#   - every process a test starts in the background is recorded (wh_track)
#     and killed and reaped on exit, whatever the exit path;
#   - a watchdog ends the test after WH_TEST_TIMEOUT seconds (default 300):
#     it prints "Bail out!", kills the recorded processes, then the test;
#   - wh_done stops every wharfd with SIGTERM (and reports its exit status),
#     then runs `wharfd fsck` on every root used and reports each as a test;
#   - nothing listens anywhere but 127.0.0.1 (wh_start checks the sockets).
#   - curl never waits more than WH_CURL_TIMEOUT seconds (default 30).

set -u
set -o pipefail
export LC_ALL=C

WH_TEST_NAME=${0##*/}
WH_N=0                  # TAP tests emitted so far
WH_FAILED=0             # of which "not ok"
WH_PIDS=()              # background processes to kill and reap on exit
WH_ROOTS=()             # store roots to fsck at the end
WH_SERVERS=()           # running wharfd pids
WH_NSTART=0
WH_DONE=0
WH_WATCHDOG=
WH_TMP=
WH_PID=
WH_PORT=
WH_HOST=
WH_URL=
WH_ROOT=
H_CODE=
H_REQ=
H_BODY=/dev/null
H_HDRS=/dev/null

# ---- TAP ---------------------------------------------------------------

diag() {
  local l
  for l in "$@"; do
    printf '%s\n' "$l" | sed 's/^/# /'
  done
}

ok() {
  WH_N=$((WH_N + 1))
  printf 'ok %d - %s\n' "$WH_N" "$1"
}

# not_ok NAME [DIAG LINE...]
not_ok() {
  WH_N=$((WH_N + 1))
  WH_FAILED=$((WH_FAILED + 1))
  printf 'not ok %d - %s\n' "$WH_N" "$1"
  shift
  [[ $# -gt 0 ]] && diag "$@"
  return 1
}

# skip NAME REASON
skip() {
  WH_N=$((WH_N + 1))
  printf 'ok %d - %s # SKIP %s\n' "$WH_N" "$1" "$2"
}

# pass_if NAME CONDITION-STATUS [DIAG...]: ok when $2 is 0
pass_if() {
  local name=$1 st=$2
  shift 2
  if [[ $st == 0 ]]; then ok "$name"; else not_ok "$name" "$@"; fi
}

# check NAME CMD [ARGS...]: ok when the command exits 0 (output shown on failure)
check() {
  local name=$1 out st
  shift
  out=$("$@" 2>&1)
  st=$?
  if [[ $st == 0 ]]; then
    ok "$name"
  else
    not_ok "$name" "command: $*" "exit status: $st" "$(printf '%s\n' "$out" | tail -n 25)"
  fi
}

# is NAME GOT WANT
is() {
  if [[ "$2" == "$3" ]]; then
    ok "$1"
  else
    not_ok "$1" "expected: '$3'" "got:      '$2'" ${H_REQ:+"last request: $H_REQ"}
  fi
}

# like NAME GOT EXTENDED-REGEX
like() {
  if [[ "$2" =~ $3 ]]; then
    ok "$1"
  else
    not_ok "$1" "expected to match: $3" "got: '$2'" ${H_REQ:+"last request: $H_REQ"}
  fi
}

# ---- processes -------------------------------------------------------------

# wh_track PID: kill and reap PID on exit (also from the watchdog).
wh_track() {
  WH_PIDS+=("$1")
  [[ -n $WH_TMP ]] && printf '%s\n' "$1" >>"$WH_TMP/pids"
}

wh_alive() { kill -0 "$1" 2>/dev/null; }
# wh_ours PID: PID is (still) a child of the test. A tracked process that
# was reaped may have left its pid to anyone by now (pids wrap at 32768
# here): cleanup signals only its own children.
wh_ours() {
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }
  read -r _ st _ <<<"$st"
  [[ $st == "$$" ]]
}
# wh_running PID: alive and not a zombie waiting to be reaped
wh_running() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
  [[ -n $st && $st != Z ]]
}

# wh_wait_exit PID SECONDS: waits for PID (a child) to exit, at most SECONDS.
# 0 when it exited (its status in WH_EXIT), 1 when still running.
wh_wait_exit() {
  local pid=$1 timer who st
  if ! wh_running "$pid"; then
    wait "$pid" 2>/dev/null
    WH_EXIT=$?
    return 0
  fi
  # stderr closed: a child killed before its exec may complain about traps
  (exec sleep "$2") 2>/dev/null &
  timer=$!
  wait -n -p who "$pid" "$timer" 2>/dev/null
  st=$?
  if [[ ${who:-} == "$timer" ]]; then
    return 1
  fi
  kill -KILL "$timer" 2>/dev/null
  wait "$timer" 2>/dev/null
  WH_EXIT=$st
  return 0
}

# wh_reap PID [SECONDS]: wait for PID (a child) at most SECONDS (default 10),
# then SIGKILL it (WH_REAP_KILLED=1). Returns its exit status.
wh_reap() {
  WH_REAP_KILLED=0
  if wh_wait_exit "$1" "${2:-10}"; then
    return "$WH_EXIT"
  fi
  WH_REAP_KILLED=1
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

wh_cleanup() {
  local pid
  # bash may run inherited traps in forked children: only the test cleans up
  [[ $BASHPID == "$$" ]] || return 0
  trap - EXIT INT TERM HUP
  if [[ -n $WH_WATCHDOG ]]; then
    kill -KILL "$WH_WATCHDOG" 2>/dev/null
    wait "$WH_WATCHDOG" 2>/dev/null
  fi
  for pid in "${WH_PIDS[@]}" $(jobs -p); do
    wh_ours "$pid" && kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${WH_PIDS[@]}" $(jobs -p); do
    wh_ours "$pid" && wh_reap "$pid" 5 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [[ -n $WH_TMP && -d $WH_TMP ]]; then
    if [[ $WH_FAILED == 0 && $WH_DONE == 1 && -z ${WH_KEEP:-} ]]; then
      rm -rf "$WH_TMP"
    else
      printf '# kept for inspection: %s\n' "$WH_TMP"
    fi
  fi
}

wh_on_signal() {
  [[ $BASHPID == "$$" ]] || exit 1
  printf 'Bail out! %s: interrupted (watchdog or signal)\n' "$WH_TEST_NAME"
  wh_cleanup
  exit 1
}

# The watchdog kills what the test recorded (which unblocks the curl or
# skopeo it is waiting for), then signals the test itself, then kills it. It
# waits with `read -t` on a private fifo, so it has no child to leave behind.
wh_watchdog_start() {
  local main=$$ t=${WH_TEST_TIMEOUT:-300} tmp=$WH_TMP
  mkfifo "$tmp/watchdog.fifo" || return 1
  (
    trap - EXIT INT TERM HUP
    read -r -t "$t" _ <>"$tmp/watchdog.fifo"
    printf 'Bail out! %s: watchdog: still running after %ss\n' "$WH_TEST_NAME" "$t"
    [[ -f $tmp/pids ]] && while read -r p; do wh_ours "$p" && kill -KILL "$p" 2>/dev/null; done <"$tmp/pids"
    kill -TERM "$main" 2>/dev/null
    read -r -t 20 _ <>"$tmp/watchdog.fifo"
    kill -KILL "$main" 2>/dev/null
  ) &
  WH_WATCHDOG=$!
}

# wh_init: call once at the top of a test file.
wh_init() {
  # lower case on purpose: podman names images after oci: paths
  local base i
  base=${TMPDIR:-/tmp}/wharf-test.${WH_TEST_NAME%.sh}
  for i in 1 2 3 4 5 6 7 8; do
    WH_TMP=$base.$$$RANDOM
    mkdir -m 700 "$WH_TMP" 2>/dev/null && break
    WH_TMP=
  done
  [[ -n $WH_TMP ]] || {
    echo "Bail out! cannot create a temp dir under ${TMPDIR:-/tmp}"
    exit 1
  }
  : >"$WH_TMP/pids"
  trap wh_cleanup EXIT
  trap wh_on_signal INT TERM HUP
  wh_watchdog_start
  if [[ -z ${WHARFD:-} ]]; then
    WHARFD=${TOP_BUILDDIR:-.}/wharfd
  fi
  if [[ ! -x $WHARFD ]]; then
    echo "Bail out! wharfd binary not found or not executable: $WHARFD (set WHARFD)"
    exit 1
  fi
  for t in curl jq sha256sum; do
    command -v "$t" >/dev/null || {
      echo "Bail out! $t is not installed (run deploy/install-deps --test)"
      exit 1
    }
  done
}

# ---- wharfd ------------------------------------------------------------

# wh_listen_addrs PID: local "ADDR:PORT" (hex, as in /proc/net/tcp) of every
# listening TCP socket that PID holds.
wh_listen_addrs() {
  local inodes
  inodes=$(ls -l "/proc/$1/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ')
  [[ -n $inodes ]] || return 0
  awk -v list=" $inodes " '$4 == "0A" && index(list, " " $10 " ") { print $2 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# wh_start [-r ROOT] [-c CONFIG] [-e VAR=VALUE]... [-q]
# Starts wharfd and waits (at most WH_START_TIMEOUT s, default 20) for its
# first stdout line. Sets WH_PID, WH_PORT, WH_HOST (127.0.0.1:PORT), WH_URL,
# WH_ROOT, WH_LOG (its stderr). Returns non-zero (and reports "not ok")
# when it does not come up as the contract says. -q: no "not ok" on failure.
wh_start() {
  local root="" cfg="" quiet=0 fifo n line fd addr bad=""
  local -a envs=() args
  while [[ $# -gt 0 ]]; do
    case $1 in
      -r) root=$2; shift 2 ;;
      -c) cfg=$2; shift 2 ;;
      -e) envs+=("$2"); shift 2 ;;
      -q) quiet=1; shift ;;
      *) echo "wh_start: bad option $1" >&2; return 2 ;;
    esac
  done
  [[ -n $root ]] || root=$(mktemp -d "$WH_TMP/root.XXXXXX")
  WH_NSTART=$((WH_NSTART + 1))
  n=$WH_NSTART
  fifo=$WH_TMP/wharfd.$n.fifo
  WH_LOG=$WH_TMP/wharfd.$n.stderr
  mkfifo "$fifo" || return 1
  args=(--listen 127.0.0.1:0 --root "$root")
  [[ -n $cfg ]] && args+=(--config "$cfg")
  env ${envs[@]+"${envs[@]}"} "$WHARFD" "${args[@]}" >"$fifo" 2>"$WH_LOG" &
  WH_PID=$!
  wh_track "$WH_PID"
  exec {fd}<"$fifo"
  IFS= read -r -t "${WH_START_TIMEOUT:-20}" -u "$fd" line
  # Keep draining stdout so that wharfd never blocks on (or dies of) a full pipe.
  cat <&"$fd" >"$WH_TMP/wharfd.$n.stdout" &
  wh_track "$!"
  exec {fd}<&-
  rm -f "$fifo"
  WH_ROOT=$root
  if [[ ! $line =~ ^listening\ on\ http://127\.0\.0\.1:([0-9]+)$ ]]; then
    [[ $quiet == 1 ]] || not_ok "wharfd starts and prints its address (start #$n)" \
      "expected first stdout line: listening on http://127.0.0.1:PORT" "got: '$line'" \
      "stderr: $(tail -n 20 "$WH_LOG")"
    wh_alive "$WH_PID" && kill -KILL "$WH_PID"
    wait "$WH_PID" 2>/dev/null
    return 1
  fi
  WH_PORT=${BASH_REMATCH[1]}
  WH_HOST=127.0.0.1:$WH_PORT
  WH_URL=http://$WH_HOST
  WH_SERVERS+=("$WH_PID")
  wh_add_root "$root"
  # 127.0.0.1 is 0100007F in /proc/net/tcp; IPv6 loopback is all zeros then 1.
  for addr in $(wh_listen_addrs "$WH_PID"); do
    case $addr in
      0100007F:*|00000000000000000000000001000000:*) ;;
      *) bad="$bad $addr" ;;
    esac
  done
  if [[ -n $bad ]]; then
    not_ok "wharfd listens on loopback only (start #$n)" "listening sockets (hex addr:port):$bad"
  fi
  return 0
}

wh_add_root() {
  local r
  for r in "${WH_ROOTS[@]}"; do [[ $r == "$1" ]] && return 0; done
  WH_ROOTS+=("$1")
}

# wh_stop [PID]: SIGTERM, wait (10 s), report whether it exited 0.
wh_stop() {
  local pid=${1:-$WH_PID} st
  wh_alive "$pid" || { wait "$pid" 2>/dev/null; wh_forget "$pid"; return 0; }
  kill -TERM "$pid"
  wh_reap "$pid" 10
  st=$?
  wh_forget "$pid"
  is "wharfd exits 0 on SIGTERM (pid $pid)" "$st" 0
}

# wh_kill9 [PID]: SIGKILL and reap (no report).
wh_kill9() {
  local pid=${1:-$WH_PID}
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  wh_forget "$pid"
}

wh_forget() {
  local -a keep=()
  local p
  for p in "${WH_SERVERS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  WH_SERVERS=(${keep[@]+"${keep[@]}"})
}

# wh_fsck ROOT [--repair]: runs wharfd fsck; prints its output; returns its status.
wh_fsck() {
  local root=$1
  shift
  "$WHARFD" fsck --root "$root" "$@" 2>&1
}

# wh_done: stop servers, fsck every root, print the plan. Call last.
wh_done() {
  local p r out st
  for p in ${WH_SERVERS[@]+"${WH_SERVERS[@]}"}; do wh_stop "$p"; done
  for r in ${WH_ROOTS[@]+"${WH_ROOTS[@]}"}; do
    out=$(wh_fsck "$r")
    st=$?
    if [[ $st == 0 ]]; then
      ok "wharfd fsck clean: ${r#"$WH_TMP"/}"
    else
      not_ok "wharfd fsck clean: ${r#"$WH_TMP"/}" "exit status $st (0 clean, 1 problems, 2 error)" \
        "$(printf '%s\n' "$out" | tail -n 30)"
    fi
  done
  [[ $WH_N -gt 0 ]] || not_ok "the test ran at least one check"
  printf '1..%d\n' "$WH_N"
  WH_DONE=1
  exit 0
}

# ---- HTTP --------------------------------------------------------------

# wh_req METHOD URL-OR-PATH [CURL ARGS...]
# Sets H_CODE (000 when no HTTP answer), H_BODY, H_HDRS, H_REQ. Files are per
# process so background jobs may use it too.
wh_req() {
  local m=$1 u=$2
  local -a mo
  shift 2
  [[ $u == http://* ]] || u=$WH_URL$u
  H_REQ="$m $u"
  H_BODY=$WH_TMP/req.$BASHPID.body
  H_HDRS=$WH_TMP/req.$BASHPID.hdrs
  case $m in
    GET) mo=() ;;
    HEAD) mo=(--head) ;;
    *) mo=(-X "$m") ;;
  esac
  : >"$H_BODY"
  : >"$H_HDRS"
  H_CODE=$(curl -sS -g --path-as-is -m "${WH_CURL_TIMEOUT:-30}" "${mo[@]}" -o "$H_BODY" -D "$H_HDRS" \
    -w '%{http_code}' "$@" "$u" 2>"$WH_TMP/req.$BASHPID.err")
  [[ -n $H_CODE ]] || H_CODE=000
  [[ $m == HEAD ]] && : >"$H_BODY"
  return 0
}

# wh_hdr NAME: value of a response header of the last request (final
# response block; repeated headers are joined with ", ").
wh_hdr() {
  awk -v n="$(printf '%s' "$1" | tr 'A-Z' 'a-z')" '
    /^HTTP\// { for (k in h) delete h[k]; next }
    { sub(/\r$/, ""); i = index($0, ":"); if (!i) next
      k = tolower(substr($0, 1, i - 1)); v = substr($0, i + 1)
      sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
      if (k in h) v = h[k] ", " v
      h[k] = v }
    END { if (n in h) print h[n] }' "$H_HDRS"
}

# wh_body [N]: the first N (400) bytes of the last response body
wh_body() { head -c "${1:-400}" "$H_BODY"; }

wh_fail_diag() {
  printf '%s\n' "request: $H_REQ" "expected: $1" "got: $H_CODE"
  [[ -s $H_BODY ]] && printf 'body: %s\n' "$(wh_body 400 | tr -d '\0' | tr '\n' ' ')"
  [[ $H_CODE == 000 && -s $WH_TMP/req.$BASHPID.err ]] && printf 'curl: %s\n' "$(cat "$WH_TMP/req.$BASHPID.err")"
  return 0
}

# expect NAME CODE-PATTERN: last status matches (e.g. 201 or "20[12]")
expect() {
  if [[ $H_CODE =~ ^($2)$ ]]; then
    ok "$1"
  else
    not_ok "$1" "$(wh_fail_diag "$2")"
  fi
}

# wh_err_codes: the OCI error codes of the last body, one per line
wh_err_codes() { jq -r '.errors[]?.code // empty' <"$H_BODY" 2>/dev/null; }

# expect_err NAME STATUS-PATTERN CODE-PATTERN: status matches, the body is
# the spec's error JSON ({"errors":[{"code","message",...}]}) and one of its
# codes matches CODE-PATTERN ("" = any code).
expect_err() {
  local name=$1 st=$2 code=$3 codes
  if [[ ! $H_CODE =~ ^($st)$ ]]; then
    not_ok "$name" "$(wh_fail_diag "$st (error ${code:-any})")"
    return 1
  fi
  if ! jq -e '(.errors | type == "array" and length > 0) and all(.errors[]; (.code | type == "string") and (.message | type == "string"))' \
    <"$H_BODY" >/dev/null 2>&1; then
    not_ok "$name" "$(wh_fail_diag "$st with an OCI error body")" "body is not {\"errors\":[{\"code\",\"message\"}]}"
    return 1
  fi
  codes=$(wh_err_codes | tr '\n' ' ')
  if [[ -n $code ]] && ! grep -qxE "$code" < <(wh_err_codes); then
    not_ok "$name" "request: $H_REQ" "expected error code: $code (status $st)" "got codes: $codes (status $H_CODE)"
    return 1
  fi
  ok "$name"
}

# expect_hdr NAME HEADER REGEX
expect_hdr() {
  local v
  v=$(wh_hdr "$2")
  if [[ $v =~ $3 ]]; then
    ok "$1"
  else
    not_ok "$1" "request: $H_REQ" "expected header $2 matching: $3" "got: '$v'"
  fi
}

# wh_loc: absolute URL of the Location header of the last response.
wh_loc() {
  local l
  l=$(wh_hdr Location)
  case $l in
    http://* | https://*) printf '%s' "$l" ;;
    /*) printf '%s%s' "$WH_URL" "$l" ;;
    "") return 1 ;;
    *) printf '%s/%s' "$WH_URL" "$l" ;;
  esac
}

# wh_q URL PARAM: URL with "?PARAM" or "&PARAM" appended
wh_q() {
  case $1 in
    *\?*) printf '%s&%s' "$1" "$2" ;;
    *) printf '%s?%s' "$1" "$2" ;;
  esac
}

# ---- content -----------------------------------------------------------

wh_rand() { head -c "$2" /dev/urandom >"$1"; }          # wh_rand FILE SIZE
wh_size() { stat -c %s "$1"; }
wh_digest() { printf 'sha256:%s' "$(sha256sum <"$1" | cut -d' ' -f1)"; }
wh_digest_str() { printf '%s' "$1" | sha256sum | sed 's/ .*//; s/^/sha256:/'; }

MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
MT_OCI_CONFIG=application/vnd.oci.image.config.v1+json
MT_OCI_LAYER=application/vnd.oci.image.layer.v1.tar+gzip
MT_DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
MT_DOCKER_LIST=application/vnd.docker.distribution.manifest.list.v2+json
MT_DOCKER_CONFIG=application/vnd.docker.container.image.v1+json
MT_DOCKER_LAYER=application/vnd.docker.image.rootfs.diff.tar.gzip

# wh_desc MEDIATYPE FILE: an OCI descriptor (compact JSON) for FILE
wh_desc() {
  jq -cn --arg mt "$1" --arg d "$(wh_digest "$2")" --argjson s "$(wh_size "$2")" \
    '{mediaType: $mt, digest: $d, size: $s}'
}

# wh_mk_manifest OUT [-t MEDIATYPE] [-a ARTIFACTTYPE] [-s SUBJECT-FILE]
#   [-S SUBJECT-MEDIATYPE] [-A KEY=VAL] [-C CONFIG-MEDIATYPE] [-L LAYER-MEDIATYPE]
#   CONFIG-FILE [LAYER-FILE...]
# Writes an image manifest (OCI by default) referencing the files' digests.
wh_mk_manifest() {
  local out=$1 mt=$MT_OCI_MANIFEST at="" subj="" smt=$MT_OCI_MANIFEST cmt="" lmt="" ann='{}' cfg f layers='[]'
  shift
  while [[ $# -gt 0 ]]; do
    case $1 in
      -t) mt=$2; shift 2 ;;
      -a) at=$2; shift 2 ;;
      -s) subj=$2; shift 2 ;;
      -S) smt=$2; shift 2 ;;
      -A) ann=$(jq -c --arg k "${2%%=*}" --arg v "${2#*=}" '. + {($k): $v}' <<<"$ann"); shift 2 ;;
      -C) cmt=$2; shift 2 ;;
      -L) lmt=$2; shift 2 ;;
      *) break ;;
    esac
  done
  if [[ $mt == "$MT_DOCKER_MANIFEST" ]]; then
    : "${cmt:=$MT_DOCKER_CONFIG}" "${lmt:=$MT_DOCKER_LAYER}"
  else
    : "${cmt:=$MT_OCI_CONFIG}" "${lmt:=$MT_OCI_LAYER}"
  fi
  cfg=$(wh_desc "$cmt" "$1")
  shift
  for f in "$@"; do
    layers=$(jq -c --argjson d "$(wh_desc "$lmt" "$f")" '. + [$d]' <<<"$layers")
  done
  jq -cn --arg mt "$mt" --argjson cfg "$cfg" --argjson layers "$layers" --arg at "$at" \
    --argjson subj "$([[ -n $subj ]] && wh_desc "$smt" "$subj" || echo null)" --argjson ann "$ann" \
    '{schemaVersion: 2, mediaType: $mt} + (if $at != "" then {artifactType: $at} else {} end)
     + {config: $cfg, layers: $layers}
     + (if $subj != null then {subject: $subj} else {} end)
     + (if ($ann | length) > 0 then {annotations: $ann} else {} end)' >"$out"
}

# wh_mk_index OUT [-t MEDIATYPE] MANIFEST-FILE[:MEDIATYPE[:PLATFORM-ARCH]]...
wh_mk_index() {
  local out=$1 mt=$MT_OCI_INDEX spec f cmt arch ms='[]' d
  shift
  [[ ${1:-} == -t ]] && { mt=$2; shift 2; }
  for spec in "$@"; do
    IFS=: read -r f cmt arch <<<"$spec"
    : "${cmt:=$MT_OCI_MANIFEST}" "${arch:=amd64}"
    d=$(wh_desc "$cmt" "$f")
    ms=$(jq -c --argjson d "$d" --arg a "$arch" '. + [$d + {platform: {architecture: $a, os: "linux"}}]' <<<"$ms")
  done
  jq -cn --arg mt "$mt" --argjson ms "$ms" '{schemaVersion: 2, mediaType: $mt, manifests: $ms}' >"$out"
}

# wh_mk_config OUT [LAYER...]: a small image config with rootfs diff_ids
# (the layers' digests; fine for tests) and a random marker.
wh_mk_config() {
  local out=$1 ids='[]' f
  shift
  for f in "$@"; do ids=$(jq -c --arg d "$(wh_digest "$f")" '. + [$d]' <<<"$ids"); done
  jq -cn --argjson ids "$ids" --arg r "$RANDOM$RANDOM$RANDOM" \
    '{architecture: "amd64", os: "linux", config: {Labels: {nonce: $r}}, rootfs: {type: "layers", diff_ids: $ids}}' >"$out"
}

# ---- pushes ------------------------------------------------------------

# wh_upload_start REPO: POST an upload session; sets WH_LOC. 0 iff 202.
wh_upload_start() {
  wh_req POST "/v2/$1/blobs/uploads/" -H 'Content-Length: 0'
  [[ $H_CODE == 202 ]] || return 1
  WH_LOC=$(wh_loc)
}

# wh_blob_push REPO FILE [DIGEST]: monolithic POST then PUT. Sets WH_DIGEST
# (the digest sent). 0 iff 201.
wh_blob_push() {
  local repo=$1 f=$2
  WH_DIGEST=${3:-$(wh_digest "$f")}
  wh_upload_start "$repo" || return 1
  wh_req PUT "$(wh_q "$WH_LOC" "digest=$WH_DIGEST")" -H 'Content-Type: application/octet-stream' \
    --data-binary "@$f"
  [[ $H_CODE == 201 ]]
}

# wh_blob_push_single REPO FILE [DIGEST]: single POST ?digest=. 0 iff 201.
wh_blob_push_single() {
  local repo=$1 f=$2
  WH_DIGEST=${3:-$(wh_digest "$f")}
  wh_req POST "/v2/$repo/blobs/uploads/?digest=$WH_DIGEST" -H 'Content-Type: application/octet-stream' \
    --data-binary "@$f"
  [[ $H_CODE == 201 ]]
}

# wh_manifest_push REPO REF FILE [CONTENT-TYPE]: PUT. 0 iff 201.
wh_manifest_push() {
  local ct=${4:-}
  [[ -n $ct ]] || ct=$(jq -r '.mediaType // empty' <"$3" 2>/dev/null)
  [[ -n $ct ]] || ct=$MT_OCI_MANIFEST
  wh_req PUT "/v2/$1/manifests/$2" -H "Content-Type: $ct" --data-binary "@$3"
  [[ $H_CODE == 201 ]]
}

# wh_push_image REPO TAG [LAYER-SIZE]: pushes a config, one random layer and
# an OCI manifest tagged TAG. Sets WH_MFILE, WH_MDIGEST, WH_CFILE, WH_LFILE.
# 0 iff every step returned 201.
wh_push_image() {
  local repo=$1 tag=$2 size=${3:-1024} base
  base=$(mktemp "$WH_TMP/img.XXXXXX")
  WH_LFILE=$base.layer
  WH_CFILE=$base.config
  WH_MFILE=$base.manifest
  wh_rand "$WH_LFILE" "$size"
  wh_mk_config "$WH_CFILE" "$WH_LFILE"
  wh_mk_manifest "$WH_MFILE" "$WH_CFILE" "$WH_LFILE"
  WH_MDIGEST=$(wh_digest "$WH_MFILE")
  wh_blob_push "$repo" "$WH_LFILE" || return 1
  wh_blob_push "$repo" "$WH_CFILE" || return 1
  wh_manifest_push "$repo" "$tag" "$WH_MFILE"
}

# wh_get_digest URL-OR-PATH: sha256 of the GET body ("" when status != 200)
wh_get_digest() {
  wh_req GET "$@"
  [[ $H_CODE == 200 ]] || return 1
  wh_digest "$H_BODY"
}

# ---- skopeo / podman ------------------------------------------------------

# wh_containers_env: private configuration for skopeo and podman under
# $WH_TMP/ctr (registries.conf marking this wharfd insecure, a permissive
# signature policy, an empty auth file, vfs storage), so that the tests never
# read or change the host's. Call after wh_start. Sets WH_POLICY.
wh_containers_env() {
  local c=$WH_TMP/ctr
  mkdir -p "$c/xdg-config/containers" "$c/xdg-data" "$c/xdg-run" "$c/home" "$c/tmp"
  chmod 700 "$c/xdg-run"
  printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$c/policy.json"
  cp "$c/policy.json" "$c/xdg-config/containers/policy.json"
  printf '{"auths":{}}\n' >"$c/auth.json"
  cat >"$c/registries.conf" <<EOR
unqualified-search-registries = []
[[registry]]
location = "$WH_HOST"
insecure = true
EOR
  cat >"$c/storage.conf" <<EOS
[storage]
driver = "vfs"
graphroot = "$c/storage"
runroot = "$c/run"
EOS
  cat >"$c/containers.conf" <<EOC
[engine]
events_logger = "file"
events_logfile_path = "$c/events.log"
cgroup_manager = "cgroupfs"
EOC
  export CONTAINERS_REGISTRIES_CONF=$c/registries.conf
  export CONTAINERS_STORAGE_CONF=$c/storage.conf
  export CONTAINERS_CONF=$c/containers.conf
  export REGISTRY_AUTH_FILE=$c/auth.json
  export XDG_CONFIG_HOME=$c/xdg-config XDG_DATA_HOME=$c/xdg-data XDG_RUNTIME_DIR=$c/xdg-run
  export HOME=$c/home TMPDIR=$c/tmp
  WH_POLICY=$c/policy.json
}
