#!/bin/bash
# tests/bench/run.sh: container start-up, `wharf run --rm IMG true`, against
# runc and crun running the same busybox root filesystem from an OCI bundle
# and `podman run --rm --runtime runc` of the same image, in one run; plus
# the floor (tests/bench/floor.c: clone into new namespaces, overlay,
# pivot_root, exec true, nothing else) and the first run of an image
# (layer extraction into the cache).
#
#   tests/bench/run.sh [RUNS]        (default 30 rounds, as root)
#
# crun runs inside a private mount namespace with /sys/fs/cgroup/unified
# unmounted: on a host with hybrid cgroups that is the only way it starts;
# that wrapper (unshare, sh, umount) is timed alone too, and crun's figure
# is also given net of it. The tools take turns, one run each per round,
# so that a machine whose speed drifts (a shared VM) slows them alike; each
# figure is the median of its RUNS runs (after one warm-up run); ratio =
# the peer's time / wharf's (>1: wharf is faster). Not a test: never part
# of make check, exits 0 on slowness, a missing peer reads "n/a".
set -uo pipefail
RUNS=${1:-30}
DIR=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$DIR/../.." && pwd)
WHARF=${WHARF:-${TOP_BUILDDIR:+$TOP_BUILDDIR/wharf}}
[[ -n $WHARF && -x $WHARF ]] || WHARF=$(command -v wharf || true)
[[ -x ${WHARF:-} ]] || { echo "run.sh: set WHARF or TOP_BUILDDIR" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "run.sh: needs root" >&2; exit 1; }

# lower case on purpose: podman and buildah name images after oci: paths
T=/tmp/wharf-bench-run.$$$RANDOM
mkdir -m 700 "$T" || exit 1
trap 'rm -rf "$T"' EXIT
note() { printf '# %s\n' "$*" >&2; }

bash "$TOP/tests/fixtures/mkbusybox.sh" "$T/bb" >/dev/null
"$WHARF" --root "$T/store" load -i "$T/bb" >/dev/null
MAN=$(jq -r '.manifests[0].digest' "$T/bb/index.json" | cut -d: -f2)
LAYER=$(jq -r '.layers[0].digest' "$T/bb/blobs/sha256/$MAN" | cut -d: -f2)

N=0
runc_once() { N=$((N + 1)); runc run --bundle "$T/bundle" "wb-runc-$$-$N"; }
crun_once() {
  N=$((N + 1))
  unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun run --bundle "$1" "$2"' sh \
    "$T/bundle" "wb-crun-$$-$N"
}

mkdir -p "$T/bundle/rootfs"
tar -xzf "$T/bb/blobs/sha256/$LAYER" -C "$T/bundle/rootfs"
if command -v runc >/dev/null; then
  (cd "$T/bundle" && runc spec) &&
    jq '.process.args = ["true"] | .process.terminal = false' "$T/bundle/config.json" >"$T/c" &&
    mv "$T/c" "$T/bundle/config.json"
fi

# the floor, built here; its overlay's lower is the bundle's root filesystem
FLOOR=
if cc -O2 -o "$T/floor" "$DIR/floor.c" 2>/dev/null; then
  mkdir -p "$T/fl/upper" "$T/fl/work" "$T/fl/mnt"
  chown 1000000000:1000000000 "$T/fl/upper"
  FLOOR=floor_once
fi
floor_once() { "$T/floor" "$T/bundle/rootfs" "$T/fl/upper" "$T/fl/work" "$T/fl/mnt"; }
wharf_once() { "$WHARF" --root "$T/store" run --rm busybox true; }
wrapper_once() { unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec true'; }
true_once() { /bin/true; }

# podman with runc, on its own store. On hosts where root lacks
# CAP_SYS_RESOURCE, runc cannot raise an rlimit above what conmon has, and
# podman's defaults do: the rlimits are pinned to the caller's, or to what
# conmon gets (pid_max processes here); n/a when neither starts.
PODMAN_ARGS=()
podman_once() { podman run --rm --runtime runc --network none "${PODMAN_ARGS[@]}" "$PIMG" true; }
if command -v podman >/dev/null && command -v runc >/dev/null; then
  export CONTAINERS_STORAGE_CONF=$T/storage.conf
  printf '[storage]\ndriver = "overlay"\nrunroot = "%s/prun"\ngraphroot = "%s/pgraph"\n' "$T" "$T" >"$T/storage.conf"
  trap 'podman system reset -f >/dev/null 2>&1; rm -rf "$T"' EXIT
  if PIMG=$(podman pull -q "oci:$T/bb:busybox:latest" 2>/dev/null); then
    NOFILE="nofile=$(ulimit -Sn):$(ulimit -Hn)" PIDMAX=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)
    for nproc in "$(ulimit -Su):$(ulimit -Hu)" "$PIDMAX:$PIDMAX"; do
      PODMAN_ARGS=(--ulimit "$NOFILE" --ulimit "nproc=$nproc")
      podman_once >/dev/null 2>&1 && break
      PODMAN_ARGS=()
    done
  fi
fi

# Round-robin: every round runs each tool once (a failing tool drops out);
# $T/times.TOOL holds its times in ms.
TOOLS=(wharf_once floor_once true_once)
command -v runc >/dev/null && TOOLS+=(runc_once)
command -v crun >/dev/null && [[ -f $T/bundle/config.json ]] && TOOLS+=(crun_once wrapper_once)
[[ -n $FLOOR ]] || TOOLS=("${TOOLS[@]/floor_once/}")
note "wharf: $WHARF; $RUNS rounds of: ${TOOLS[*]}"
declare -A DEAD=()
for t in "${TOOLS[@]}"; do [[ -n $t ]] && { $t >/dev/null 2>&1 || DEAD[$t]=1; }; done
for ((i = 0; i < RUNS; i++)); do
  for t in "${TOOLS[@]}"; do
    [[ -z $t || -n ${DEAD[$t]:-} ]] && continue
    a=$EPOCHREALTIME
    if $t >/dev/null 2>&1; then
      b=$EPOCHREALTIME
      awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$T/times.$t"
    else
      DEAD[$t]=1
    fi
  done
done
# podman after the others, not in their turns: after each run its
# `podman container cleanup` goes on in the background for a hundred
# milliseconds, which would slow whichever tool ran next. Each run is timed
# to podman's exit (its cleanup not counted), then that cleanup is let finish.
if ((${#PODMAN_ARGS[@]})); then
  for ((i = 0; i < RUNS; i++)); do
    a=$EPOCHREALTIME
    podman_once >/dev/null 2>&1 || { DEAD[podman_once]=1; break; }
    awk -v a="$a" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$T/times.podman_once"
    for ((w = 0; w < 100; w++)); do
      pgrep -f 'podman.* container cleanup' >/dev/null || break
      sleep 0.02
    done
  done
else
  DEAD[podman_once]=1
fi
median() {
  [[ -n ${DEAD[$1]:-} || ! -s $T/times.$1 ]] && { echo n/a; return; }
  sort -n "$T/times.$1" | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
W=$(median wharf_once)
[[ $W == n/a ]] && W=
P=$(median podman_once)
F=$(median floor_once) R=$(median runc_once) C=$(median crun_once) CW=$(median wrapper_once) TR=$(median true_once)
CN=n/a
[[ $C != n/a && $CW != n/a && $TR != n/a ]] && CN=$(awk -v c="$C" -v w="$CW" -v t="$TR" 'BEGIN { printf "%.2f", c - (w - t) }')
ratio() { [[ $1 == n/a || -z $W ]] && echo n/a || awk -v p="$1" -v w="$W" 'BEGIN { printf "%.1fx", p / w }'; }
printf '%-52s %10s %8s\n' "start + run true + remove (median)" "ms" "ratio"
printf '%-52s %10s %8s\n' "wharf run --rm busybox true" "${W:-n/a}" ""
printf '%-52s %10s %8s\n' "runc run (same rootfs, bundle)" "$R" "$(ratio "$R")"
printf '%-52s %10s %8s\n' "crun run (same rootfs, bundle, in its wrapper)" "$C" "$(ratio "$C")"
printf '%-52s %10s %8s\n' "crun run, net of the wrapper (wrapper $CW, true $TR)" "$CN" "$(ratio "$CN")"
printf '%-52s %10s %8s\n' "podman run --rm --runtime runc (same image)" "$P" "$(ratio "$P")"
printf '%-52s %10s %8s\n' "floor: clone+overlay+pivot_root+exec true only" "$F" "$(ratio "$F")"

# the first run of an image: its layer is extracted into the cache
FIRST=$(
  a=$EPOCHREALTIME
  for ((i = 0; i < 5; i++)); do
    rm -rf "$T/store/layers"
    "$WHARF" --root "$T/store" run --rm busybox true >/dev/null 2>&1
  done
  awk -v a="$a" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", (b - a) * 1000 / 5 }'
)
printf '%-52s %10s\n' "wharf run, first run (layer extracted, mean of 5)" "$FIRST"
