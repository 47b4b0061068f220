#!/bin/bash
# tests/bench/layerw.sh - writing a layer: wharf's writer (client/layerw.h,
# driven by the check program tests/bench/layerw_bench) against GNU tar
# piped into zstd, and `tar -cz`, on the same tree. Not a test: never part
# of make check, never fails on slowness.
#
#   make tests/bench/layerw_bench (or make check) in the build dir, then
#   /path/to/src/tests/bench/layerw.sh             # from the build dir
#   LAYERW_BENCH=/path/to/layerw_bench tests/bench/layerw.sh
#
# Builds a ~200 MiB tree: BENCH_LAYERW_DIRS directories of 1000 small files
# (4 KiB of log-like text each) plus four 30 MiB files (two of random bytes,
# two of text), then times each writer BENCH_LAYERW_RUNS times (taking
# turns, best run kept, wall time of the whole command, page cache warm):
#   zstd: wharf (worker threads = cores) vs `tar -c | zstd -T0 -3`
#   zstd: wharf with no worker threads vs `tar -c | zstd -3 --single-thread`
#   gzip: wharf vs `tar -cz` (gzip -6)
# and prints per form
#   layerw <form>: wharf X s, tar Y s, wharf/tar Z (lower is better); sizes
# wharf also hashes the tar and the compressed stream (diff_id and digest)
# in the same pass, which the tar pipelines do not. Everything lives in one
# mktemp -d tree under TMPDIR, removed at exit.
set -euo pipefail

: "${BENCH_LAYERW_DIRS:=20}"
: "${BENCH_LAYERW_RUNS:=3}"
BENCH=${LAYERW_BENCH:-$PWD/tests/bench/layerw_bench}
[[ -x $BENCH ]] || { echo "layerw.sh: no $BENCH (make tests/bench/layerw_bench, or set LAYERW_BENCH)" >&2; exit 2; }
command -v zstd >/dev/null || { echo "layerw.sh: needs zstd" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wh-bench-layerw.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
note() { printf '# %s\n' "$*" >&2; }
CORES=$(nproc)

# text LINES: deterministic log-like lines (compress about 4:1 with zstd -3)
text() {
  awk -v n="$1" 'BEGIN {
    srand(1); split("GET PUT POST HEAD DELETE", m, " ")
    for (i = 0; i < n; i++)
      printf "%010d %s /v2/repo%d/blobs/sha256:%08x%08x status=%d bytes=%d\n", i, m[1 + int(rand() * 5)],
        int(rand() * 50), int(rand() * 2^31), int(rand() * 2^31), 200 + int(rand() * 3) * 100, int(rand() * 1e6)
  }'
}

make_tree() {
  local src=$TMP/src d
  mkdir -p "$src/big"
  text 60000 >"$TMP/small.txt" && truncate -s $((4 << 20)) "$TMP/small.txt"
  for ((d = 0; d < BENCH_LAYERW_DIRS; d++)); do
    mkdir -p "$src/usr/share/d$d"
    split -b 4096 -a 3 "$TMP/small.txt" "$src/usr/share/d$d/f"
  done
  head -c $((30 << 20)) /dev/urandom >"$src/big/random1"
  head -c $((30 << 20)) /dev/urandom >"$src/big/random2"
  text 400000 >"$src/big/text1" && truncate -s $((30 << 20)) "$src/big/text1"
  cp "$src/big/text1" "$src/big/text2" && printf 'differs\n' >>"$src/big/text2"
  rm -f "$TMP/small.txt"
}

# elapsed CMD...: wall seconds of CMD, 6 decimals
elapsed() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }'
}

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }

# the writers: each writes $TMP/out.<who>
wharf_zstd_mt() { "$BENCH" "$TMP/src" "$TMP/out.wharf" zstd "$CORES"; }
wharf_zstd_st() { "$BENCH" "$TMP/src" "$TMP/out.wharf" zstd 0; }
wharf_gzip() { "$BENCH" "$TMP/src" "$TMP/out.wharf" gzip; }
tar_zstd_mt() { tar -C "$TMP/src" -cf - . | zstd -q -T0 -3 >"$TMP/out.tar"; }
tar_zstd_st() { tar -C "$TMP/src" -cf - . | zstd -q --single-thread -3 >"$TMP/out.tar"; }
tar_gzip() { tar -C "$TMP/src" -czf "$TMP/out.tar" .; }

bench_form() {
  local name=$1 wharf=$2 tar=$3 w='' t='' i
  # warm the page cache and check both work
  elapsed "$wharf" >/dev/null
  elapsed "$tar" >/dev/null
  for ((i = 0; i < BENCH_LAYERW_RUNS; i++)); do
    w=$(min "$w" "$(elapsed "$wharf")")
    t=$(min "$t" "$(elapsed "$tar")")
  done
  awk -v n="$name" -v w="$w" -v t="$t" -v ws="$(stat -c %s "$TMP/out.wharf")" -v ts="$(stat -c %s "$TMP/out.tar")" \
    'BEGIN { printf "layerw %s: wharf %.3f s, tar %.3f s, wharf/tar %.2f (lower is better); size wharf %.1f MiB, tar %.1f MiB\n",
             n, w, t, w / t, ws / 1048576, ts / 1048576 }'
}

note "building the tree under $TMP ..."
make_tree
files=$(find "$TMP/src" | wc -l)
mib=$(($(du -sb "$TMP/src" | cut -f1) >> 20))
note "tree: $files entries, $mib MiB; $CORES cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$BENCH" "$TMP/src" "$TMP/out.wharf" none >"$TMP/plain.txt"
note "wharf plain tar: $(cat "$TMP/plain.txt")"
bench_form "zstd -3, $CORES threads" wharf_zstd_mt tar_zstd_mt
bench_form "zstd -3, single thread" wharf_zstd_st tar_zstd_st
bench_form "gzip -6" wharf_gzip tar_gzip
