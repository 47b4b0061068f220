#!/bin/bash
# tests/bench/extract.sh - layer extraction: wharf's extractor (client/extract.h,
# driven by the check program tests/bench/extract_bench) against GNU `tar -xf`
# of the same tar. Not a test: never part of make check, never fails on
# slowness.
#
#   make check (or make tests/bench/extract_bench) in the build dir, then
#   /path/to/src/tests/bench/extract.sh            # from the build dir
#   EXTRACT_BENCH=/path/to/extract_bench tests/bench/extract.sh
#
# Builds one ~100 MiB layer of many files (BENCH_EXTRACT_DIRS x
# BENCH_EXTRACT_FILES files of 20 KiB of random bytes, as many 512-byte
# files, symlinks and hardlinks), as plain tar, tar+gzip and tar+zstd, then
# times each extraction BENCH_EXTRACT_RUNS times (wharf and tar taking
# turns, best run kept, wall time of the whole command). Prints
#   extract <form>: wharf X s, tar Y s, wharf/tar Z (target <= 1.3)
# per form; lower is better. Everything lives in one mktemp -d tree under
# TMPDIR, removed at exit.
set -euo pipefail

: "${BENCH_EXTRACT_DIRS:=100}"
: "${BENCH_EXTRACT_FILES:=50}"
: "${BENCH_EXTRACT_RUNS:=3}"
BENCH=${EXTRACT_BENCH:-$PWD/tests/bench/extract_bench}
[[ -x $BENCH ]] || { echo "extract.sh: no $BENCH (make tests/bench/extract_bench, or set EXTRACT_BENCH)" >&2; exit 2; }
command -v zstd >/dev/null || { echo "extract.sh: needs zstd" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wh-bench-extract.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
note() { printf '# %s\n' "$*" >&2; }

make_tree() {
  local src=$TMP/src d f
  mkdir -p "$src"
  head -c $((20 * 1024 * BENCH_EXTRACT_FILES)) /dev/urandom >"$TMP/blob"
  for ((d = 0; d < BENCH_EXTRACT_DIRS; d++)); do
    mkdir -p "$src/usr/share/d$d/small"
    split -b 20480 -a 3 "$TMP/blob" "$src/usr/share/d$d/f"
    head -c $((512 * BENCH_EXTRACT_FILES)) /dev/urandom | split -b 512 -a 3 - "$src/usr/share/d$d/small/s"
    for ((f = 0; f < 10; f++)); do
      ln -s "../d$d/faaa" "$src/usr/share/d$d/link$f"
    done
    ln "$src/usr/share/d$d/faab" "$src/usr/share/d$d/hard"
  done
  rm -f "$TMP/blob"
  tar -C "$src" -cf "$TMP/layer.tar" .
  gzip -1 -c "$TMP/layer.tar" >"$TMP/layer.tar.gz"
  zstd -q -3 -c "$TMP/layer.tar" >"$TMP/layer.tar.zst"
  rm -rf "$src"
}

# elapsed CMD...: wall seconds of CMD, 6 decimals
elapsed() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }'
}

run_wharf() { elapsed "$BENCH" "$1" "$TMP/out"; rm -rf "$TMP/out"; }
run_tar() {
  local t
  mkdir "$TMP/out"
  t=$(elapsed tar -C "$TMP/out" "${@:2}" -xf "$1")
  rm -rf "$TMP/out"
  echo "$t"
}

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }

bench_form() {
  local name=$1 file=$2 flag=$3 w='' t='' i
  # warm the page cache and check both can extract it
  run_wharf "$file" >/dev/null
  run_tar "$file" $flag >/dev/null
  for ((i = 0; i < BENCH_EXTRACT_RUNS; i++)); do
    w=$(min "$w" "$(run_wharf "$file")")
    t=$(min "$t" "$(run_tar "$file" $flag)")
  done
  awk -v n="$name" -v w="$w" -v t="$t" \
    'BEGIN { printf "extract %s: wharf %.3f s, tar %.3f s, wharf/tar %.2f (target <= 1.3)\n", n, w, t, w / t }'
}

note "building the layer under $TMP ..."
make_tree
files=$(tar -tf "$TMP/layer.tar" | wc -l)
mib=$(($(stat -c %s "$TMP/layer.tar") >> 20))
note "layer: $files entries, $mib MiB tar; load average $(cut -d' ' -f1-3 /proc/loadavg)"
bench_form "plain tar ($mib MiB, $files entries)" "$TMP/layer.tar" ""
bench_form "tar+gzip" "$TMP/layer.tar.gz" "-z"
bench_form "tar+zstd" "$TMP/layer.tar.zst" "--zstd"
