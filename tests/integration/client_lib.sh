# tests/integration/client_lib.sh - helpers of the wharf client's integration
# tests (bash, sourced after tests/lib.sh and wh_init; not a test itself).
#
#   wf ROOT ARGS...        run wharf on store ROOT (watchdog-bounded)
#   wf_root                a fresh store directory under $WH_TMP
#   dr_start [-a HTPASSWD] [-t CERT KEY] [-c CLIENT-CA]
#                          start CNCF Distribution (docker-registry) on
#                          127.0.0.1 port 0 with filesystem storage in
#                          $WH_TMP (-t: HTTPS only, -c: client certificates
#                          signed by CLIENT-CA required); sets DR_PID,
#                          DR_HOST, DR_DATA
#   dr_stop                stop it (SIGTERM, reaped)
#   mk_fixture DIR [-p] SIZE...   an OCI layout via tests/fixtures/mkoci.sh;
#                          prints what its tag names
#
# Invariants: wharf never reads or writes the host's credentials (WHARF_CONFIG
# and DOCKER_CONFIG point into $WH_TMP); every registry started here is
# tracked by lib.sh's cleanup and listens on 127.0.0.1 only; its port comes
# from its own "listening on" log line, read with a timeout (no sleep).

WHARF=${WHARF:-${TOP_BUILDDIR:-.}/wharf}
if [[ ! -x $WHARF ]]; then
  echo "Bail out! wharf binary not found or not executable: $WHARF (set WHARF)"
  exit 1
fi
export WHARF_CONFIG=$WH_TMP/wharf-config/config.json
export DOCKER_CONFIG=$WH_TMP/docker-config
MKOCI=${TOP_SRCDIR:-${BASH_SOURCE%/*}/../..}/tests/fixtures/mkoci.sh
DR_PID=
DR_HOST=
DR_DATA=
DR_N=0

wf() {
  local root=$1
  shift
  timeout "${WF_TIMEOUT:-120}" "$WHARF" --root "$root" "$@"
}

wf_root() { mktemp -d "$WH_TMP/wroot.XXXXXX"; }

mk_fixture() {
  bash "$MKOCI" "$@"
}

# dr_start [-a HTPASSWD] [-t CERT KEY] [-c CLIENT-CA]
dr_start() {
  local htpasswd="" cert="" key="" clientca="" dir fifo fd line n=0
  while [[ $# -gt 0 ]]; do
    case $1 in
      -a) htpasswd=$2; shift 2 ;;
      -t) cert=$2; key=$3; shift 3 ;;
      -c) clientca=$2; shift 2 ;;
      *) echo "dr_start: bad option $1" >&2; return 2 ;;
    esac
  done
  if ! command -v docker-registry >/dev/null; then
    return 2
  fi
  DR_N=$((DR_N + 1))
  dir=$WH_TMP/dr.$DR_N
  mkdir -p "$dir/data"
  DR_DATA=$dir/data
  {
    printf 'version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n'
    printf 'storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n' "$dir/data"
    printf 'http:\n  addr: 127.0.0.1:0\n'
    if [[ -n $cert ]]; then
      printf '  tls:\n    certificate: %s\n    key: %s\n' "$cert" "$key"
      [[ -n $clientca ]] && printf '    clientcas:\n      - %s\n' "$clientca"
    fi
    if [[ -n $htpasswd ]]; then
      printf 'auth:\n  htpasswd:\n    realm: wharf-test\n    path: %s\n' "$htpasswd"
    fi
  } >"$dir/config.yml"
  fifo=$dir/log.fifo
  mkfifo "$fifo"
  # REGISTRY_* variables override its configuration (skopeo's REGISTRY_AUTH_FILE would)
  env $(env | sed -n 's/^\(REGISTRY_[A-Z0-9_]*\)=.*/-u \1/p') docker-registry serve "$dir/config.yml" \
    2>"$fifo" >/dev/null &
  DR_PID=$!
  wh_track "$DR_PID"
  exec {fd}<"$fifo"
  DR_HOST=
  while IFS= read -r -t "${WH_START_TIMEOUT:-20}" -u "$fd" line; do
    printf '%s\n' "$line" >>"$dir/log"
    if [[ $line =~ msg=\"listening\ on\ (127\.0\.0\.1:[0-9]+)(,\ tls)?\" ]]; then
      DR_HOST=${BASH_REMATCH[1]}
      break
    fi
    n=$((n + 1))
    [[ $n -gt 200 ]] && break
  done
  cat <&"$fd" >>"$dir/log" &
  wh_track "$!"
  exec {fd}<&-
  rm -f "$fifo"
  if [[ -z $DR_HOST ]]; then
    not_ok "docker-registry starts (start #$DR_N)" "log: $(tail -n 5 "$dir/log")"
    kill -KILL "$DR_PID" 2>/dev/null
    wait "$DR_PID" 2>/dev/null
    return 1
  fi
  return 0
}

dr_stop() {
  [[ -n $DR_PID ]] || return 0
  kill -TERM "$DR_PID" 2>/dev/null
  wh_reap "$DR_PID" 10 >/dev/null 2>&1
  DR_PID=
}

# blob_list LAYOUT DIGEST: every digest a manifest (or index, recursively) names, itself first
blob_list() {
  local dir=$1 d=$2 f c
  f=$dir/blobs/sha256/${d#sha256:}
  echo "$d"
  case $(jq -r '.mediaType // empty' "$f") in
    *index* | *manifest.list*)
      for c in $(jq -r '.manifests[].digest' "$f"); do blob_list "$dir" "$c"; done ;;
    *) jq -r '.config.digest, .layers[].digest' "$f" ;;
  esac
}

# run_prereqs NAME [TOOL...]: the container tests (run, build, releases)
# need root and busybox-static (their base image), plus TOOLs: without
# them the whole test is one skip named NAME.
run_prereqs() {
  local name=$1 t
  shift
  if [[ $(id -u) != 0 ]]; then
    skip "$name" "needs root"
    wh_done
  fi
  for t in /bin/busybox "$@"; do
    if ! command -v "$t" >/dev/null; then
      skip "$name" "$t is not installed (deploy/install-deps --test)"
      wh_done
    fi
  done
}
