#!/bin/bash
# tests/bench/build.sh: `wharf build` against `buildah bud --layers` (Debian's
# buildah, --isolation chroot: the way its RUN steps get through on a host
# with hybrid cgroups) on the same 3-step Containerfile over the busybox
# fixture, cold (no cache) and fully cached, in one run.
#
#   tests/bench/build.sh [RUNS]      (default 5 runs of each, as root)
#
# Each figure is the mean wall time of RUNS builds; ratio = buildah's time
# / wharf's (>1: wharf is faster). Not a test: never part of make check,
# exits 0 on slowness, a missing buildah reads "n/a".
set -uo pipefail
RUNS=${1:-5}
DIR=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$DIR/../.." && pwd)
WHARF=${WHARF:-${TOP_BUILDDIR:+$TOP_BUILDDIR/wharf}}
[[ -n $WHARF && -x $WHARF ]] || WHARF=$(command -v wharf || true)
[[ -x ${WHARF:-} ]] || { echo "build.sh: set WHARF or TOP_BUILDDIR" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "build.sh: needs root" >&2; exit 1; }

# lower case on purpose: podman and buildah name images after oci: paths
T=/tmp/wharf-bench-build.$$$RANDOM
mkdir -m 700 "$T" || exit 1
cleanup() {
  command -v buildah >/dev/null && CONTAINERS_STORAGE_CONF=$T/storage.conf buildah rm -a >/dev/null 2>&1
  rm -rf "$T" 2>/dev/null
}
trap cleanup EXIT

bash "$TOP/tests/fixtures/mkbusybox.sh" "$T/bb" >/dev/null
"$WHARF" --root "$T/store" load -i "$T/bb" >/dev/null
mkdir -p "$T/ctx"
head -c 1048576 /dev/urandom >"$T/ctx/data.bin"
cat >"$T/ctx/Containerfile" <<'EOF'
FROM busybox
COPY data.bin /data.bin
RUN sha256sum /data.bin >/data.sum
ENV DONE=1
EOF

# mean_ms CMD...: mean wall time of RUNS runs in ms (empty on failure)
mean_ms() {
  local i a
  a=$EPOCHREALTIME
  for ((i = 0; i < RUNS; i++)); do
    "$@" >/dev/null 2>&1 || return 1
  done
  awk -v a="$a" -v b="$EPOCHREALTIME" -v n="$RUNS" 'BEGIN { printf "%.1f", (b - a) * 1000 / n }'
}

WC=$(mean_ms "$WHARF" --root "$T/store" build -q --no-cache "$T/ctx") || WC=n/a
WH=$(mean_ms "$WHARF" --root "$T/store" build -q "$T/ctx") || WH=n/a
BC=n/a BH=n/a
if command -v buildah >/dev/null; then
  export CONTAINERS_STORAGE_CONF=$T/storage.conf
  printf '[storage]\ndriver = "overlay"\nrunroot = "%s/brun"\ngraphroot = "%s/bgraph"\n' "$T" "$T" >"$T/storage.conf"
  if buildah pull -q "oci:$T/bb:busybox:latest" >/dev/null 2>&1 &&
    buildah tag "$(buildah images -q | head -1)" busybox >/dev/null 2>&1; then
    BC=$(mean_ms buildah bud --isolation chroot --layers --no-cache -q -f "$T/ctx/Containerfile" "$T/ctx") || BC=n/a
    buildah bud --isolation chroot --layers -q -f "$T/ctx/Containerfile" "$T/ctx" >/dev/null 2>&1
    BH=$(mean_ms buildah bud --isolation chroot --layers -q -f "$T/ctx/Containerfile" "$T/ctx") || BH=n/a
  fi
fi
ratio() { [[ $1 == n/a || $2 == n/a ]] && echo n/a || awk -v p="$1" -v w="$2" 'BEGIN { printf "%.1fx", p / w }'; }
printf '%-34s %12s %12s %8s\n' "3-step build, mean of $RUNS" "wharf ms" "buildah ms" "ratio"
printf '%-34s %12s %12s %8s\n' "cold (--no-cache)" "$WC" "$BC" "$(ratio "$BC" "$WC")"
printf '%-34s %12s %12s %8s\n' "fully cached" "$WH" "$BH" "$(ratio "$BH" "$WH")"
