#!/bin/bash
# tests/bench/blob-get.sh: blob download throughput, wharfd vs Distribution:
#  - one stream of a BENCH_BIG_BYTES (512 MiB) blob with curl -o /dev/null: one untimed
#    run that also checks the bytes' digest (and warms the page cache), then the best of
#    BENCH_GET_RUNS (3) timed runs, the two servers taking turns;
#  - 32 concurrent GETs of a 1 MiB blob with wrk -t2 -c32 for BENCH_WRK_SECONDS/2 s.
# Figures in MiB/s. Not a test: never fails on slowness.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
bench_setup

REPO=bench/blobs
: "${BENCH_GET_RUNS:=3}"
BIG=$(bench_data_file big-1.bin "$BENCH_BIG_BYTES")
BIG_DIG=$(sha256_of "$BIG")
SMALL=$(bench_data_file 1mib.bin $((1 << 20)))
SMALL_DIG=$(sha256_of "$SMALL")
WRK_SECONDS=$(((BENCH_WRK_SECONDS + 1) / 2))
GET_LUA=$(wrk_lua blob-get GET)
declare -A ONE MANY

# get_once URL: prints "<http code> <bytes> <seconds>" of one download to /dev/null.
get_once() {
	curl -sS -m 600 -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' "$1"
}

# Setup and checks: the blobs are there and come back intact (this also warms the cache).
READY=()
for s in "${BENCH_SERVERS[@]}"; do
	url=$(url_of "$s")
	[[ -n $url ]] || continue
	if ! ensure_blob "$url" "$REPO" "$BIG" "$BIG_DIG" ||
		! ensure_blob "$url" "$REPO" "$SMALL" "$SMALL_DIG"; then
		bench_warn "$s: pushing the blobs failed: skipping"
		continue
	fi
	for f in "$BIG_DIG" "$SMALL_DIG"; do
		got=sha256:$(curl -sS -m 600 "$url/v2/$REPO/blobs/$f" | sha256sum | cut -d' ' -f1)
		[[ $got == "$f" ]] || break
	done
	if [[ $got != "$f" ]]; then
		bench_warn "$s: GET of blob $f gave $got: skipping"
		continue
	fi
	READY+=("$s")
done

# Single stream: the servers take turns, so a burst of load elsewhere hits both alike.
for ((i = 0; i < BENCH_GET_RUNS; i++)); do
	for s in "${READY[@]}"; do
		t0=$(cpu_ticks "$(pid_of "$s")")
		read -r code bytes secs < <(get_once "$(url_of "$s")/v2/$REPO/blobs/$BIG_DIG")
		fixed_work_since "$s" "$t0"
		if [[ $code != 200 || $bytes != "$BENCH_BIG_BYTES" ]]; then
			bench_warn "$s: big GET: HTTP $code, $bytes bytes"
			continue
		fi
		bench_note "$s: big GET $((bytes >> 20)) MiB in ${secs}s"
		ONE[$s]=$(best_mib_s "${ONE[$s]:-}" "$bytes" "$secs")
	done
done

for s in "${READY[@]}"; do
	bench_note "$s: wrk 32 x 1 MiB blob GET for ${WRK_SECONDS}s"
	out=$BENCH_TMP/wrk-blob-$s.txt
	run_wrk "$GET_LUA" "$(url_of "$s")/v2/$REPO/blobs/$SMALL_DIG" "$WRK_SECONDS" "$out"
	if wrk_ok "$out" "$s 1 MiB blob GET"; then
		MANY[$s]=$(wrk_mib_s "$out")
	fi
done

bench_metric "blob GET $((BENCH_BIG_BYTES >> 20)) MiB single stream MiB/s" "${ONE[wharfd]:-}" "${ONE[distribution]:-}" higher
bench_metric "blob GET 1 MiB x32 concurrent MiB/s" "${MANY[wharfd]:-}" "${MANY[distribution]:-}" higher
bench_finish
