#!/bin/bash
# tests/bench/manifest.sh: manifest GET (by tag) request rate and p99 latency with wrk
# (-t2 -c32 --latency, BENCH_WRK_SECONDS, default 10), and blob HEAD with hload.c (32
# connections; wrk 4.1 cannot do HEAD), the same small OCI image pushed to wharfd and to
# Distribution; also the server CPU time per manifest GET.
# Not a test: prints figures, never fails on slowness.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
bench_setup

REPO=bench/small
LAY=$BENCH_TMP/manifest-layout
bash "$BENCH_DIR/mkoci.sh" "$LAY" small 1 4096
MDIG=$(jq -r '.manifests[0].digest' "$LAY/index.json")
LDIG=$(jq -r '.layers[0].digest' "$LAY/blobs/sha256/${MDIG#sha256:}")
GET_LUA=$(wrk_lua manifest-get GET)
declare -A RPS P99 CPU_US HEAD_RPS HEAD_P99
READY=()

for s in "${BENCH_SERVERS[@]}"; do
	url=$(url_of "$s")
	[[ -n $url ]] || continue
	if ! push_layout_image "$url" "$REPO" v1 "$LAY" small; then
		bench_warn "$s: pushing the small image failed: skipping"
		continue
	fi
	got=sha256:$(curl -sS -m 10 -H "Accept: $ACCEPT_MANIFESTS" "$url/v2/$REPO/manifests/v1" |
		sha256sum | cut -d' ' -f1)
	if [[ $got != "$MDIG" ]]; then
		bench_warn "$s: GET manifest returned $got, pushed $MDIG: skipping"
		continue
	fi
	READY+=("$s")
done

# One load after the other, the servers taking turns within each.
for s in "${READY[@]}"; do
	url=$(url_of "$s")
	pid=$(pid_of "$s")
	bench_note "$s: wrk manifest GET for ${BENCH_WRK_SECONDS}s"
	out=$BENCH_TMP/wrk-manifest-$s.txt
	t0=$(cpu_ticks "$pid")
	run_wrk "$GET_LUA" "$url/v2/$REPO/manifests/v1" "$BENCH_WRK_SECONDS" "$out"
	t1=$(cpu_ticks "$pid")
	if wrk_ok "$out" "$s manifest GET"; then
		RPS[$s]=$(wrk_rps "$out")
		P99[$s]=$(wrk_p99_ms "$out")
		CPU_US[$s]=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$(wrk_requests "$out")" \
			'BEGIN { printf "%.1f", t / hz / n * 1e6 }')
	fi
done

for s in "${READY[@]}"; do
	bench_note "$s: hload blob HEAD for ${BENCH_WRK_SECONDS}s"
	out=$BENCH_TMP/hload-head-$s.txt
	run_hload HEAD "$(url_of "$s")/v2/$REPO/blobs/$LDIG" "$BENCH_WRK_SECONDS" "$out"
	if hload_ok "$out" "$s blob HEAD"; then
		HEAD_RPS[$s]=$(hload_field "$out" rps)
		HEAD_P99[$s]=$(hload_field "$out" p99_ms)
	fi
done

bench_metric "manifest GET requests/s" "${RPS[wharfd]:-}" "${RPS[distribution]:-}" higher
bench_metric "manifest GET p99 ms" "${P99[wharfd]:-}" "${P99[distribution]:-}" lower
bench_metric "manifest GET server CPU us/request" "${CPU_US[wharfd]:-}" "${CPU_US[distribution]:-}" lower
bench_metric "blob HEAD requests/s" "${HEAD_RPS[wharfd]:-}" "${HEAD_RPS[distribution]:-}" higher
bench_metric "blob HEAD p99 ms" "${HEAD_P99[wharfd]:-}" "${HEAD_P99[distribution]:-}" lower
bench_finish
