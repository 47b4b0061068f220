#!/bin/bash
# tests/bench/upload.sh: upload throughput, wharfd vs Distribution:
#  - one-shot monolithic upload of a BENCH_BIG_BYTES (512 MiB) blob: POST, then PUT
#    ?digest= with the body streamed from a file by curl -T; best of BENCH_UPLOAD_RUNS (2),
#    each run a blob new to the server;
#  - BENCH_SMALL_IMAGES (200) pushes of distinct tiny images (config + one 1 KiB layer),
#    each to its own repository: one after the other with `skopeo copy` per image (the
#    realistic client); one after the other with pushloop.py over one keep-alive
#    connection (monolithic blob uploads + manifest PUT: the client costs little, the
#    server shows); and with BENCH_PUSH_PAR (8) such pushers at once (concurrent writers).
# The servers take turns (uploads run by run, pushes in BENCH_ROUNDS (4) rounds, the
# first server alternating), so a burst of load elsewhere on the machine hits both alike;
# a rate is images (or bytes) over the summed time of that server's turns.
# Not a test: prints figures, never fails on slowness.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
bench_setup

REPO=bench/blobs
: "${BENCH_UPLOAD_RUNS:=2}"
: "${BENCH_SMALL_IMAGES:=200}"
: "${BENCH_PUSH_PAR:=8}"
: "${BENCH_ROUNDS:=4}"
PER_ROUND=$((BENCH_SMALL_IMAGES / BENCH_ROUNDS))
PAR_EACH=$((PER_ROUND / BENCH_PUSH_PAR)) # images per parallel pusher per round
POLICY=$(skopeo_policy)
declare -A UP SECS FAILED

# Run i uploads data file big-i: blobs each server has not seen yet (big-1 is the blob
# blob-get.sh downloads, so run-all does not upload it twice).
BIGS=()
for ((i = 1; i <= BENCH_UPLOAD_RUNS; i++)); do
	BIGS+=("$(bench_data_file "big-$i.bin" "$BENCH_BIG_BYTES")")
	sha256_of "${BIGS[-1]}" >/dev/null
done

bench_note "making 3 x $BENCH_SMALL_IMAGES tiny images"
SLAY=$BENCH_DATA/small-layout
[[ -f $SLAY/index.json ]] || bash "$BENCH_DIR/mkoci.sh" "$SLAY" s 1 1024 "$BENCH_SMALL_IMAGES"
CLAY=$BENCH_DATA/http-layout
[[ -f $CLAY/index.json ]] || bash "$BENCH_DIR/mkoci.sh" "$CLAY" h 1 1024 "$BENCH_SMALL_IMAGES"
PLAY=$BENCH_DATA/par-layout
[[ -f $PLAY/index.json ]] || bash "$BENCH_DIR/mkoci.sh" "$PLAY" p 1 1024 "$BENCH_SMALL_IMAGES"

# big_upload URL FILE: prints the seconds one POST + PUT of FILE took, or fails.
big_upload() {
	local t loc sep="?" code dig
	dig=$(sha256_of "$2")
	t=$(bench_now)
	loc=$(upload_start "$1" "$REPO") || return 1
	[[ $loc == *\?* ]] && sep="&"
	code=$(curl -sS -m 600 -o /dev/null -w '%{http_code}' -H 'Expect:' \
		-H 'Content-Type: application/octet-stream' -T "$2" "$loc${sep}digest=$dig")
	[[ $code == 201 ]] || { bench_warn "big upload: HTTP $code"; return 1; }
	bench_elapsed "$t"
}

# skopeo_pushes URL FIRST COUNT: one skopeo copy per image; prints the seconds taken.
skopeo_pushes() {
	local t i
	t=$(bench_now)
	for ((i = $2; i < $2 + $3; i++)); do
		if ! timeout 120 skopeo --policy "$POLICY" copy -q --preserve-digests --retry-times 0 \
			--dest-tls-verify=false "oci:$SLAY:s-$i" "docker://${1#http://}/bench/skopeo-$i:1" \
			>"$BENCH_TMP/skopeo.log" 2>&1; then
			tail -n 3 "$BENCH_TMP/skopeo.log" >&2
			return 1
		fi
	done
	bench_elapsed "$t"
}

# http_pushes URL FIRST COUNT: pushloop.py over one connection; prints its seconds.
http_pushes() {
	timeout 600 python3 "$BENCH_DIR/pushloop.py" "$1" "$CLAY" h "$3" bench/http "$2"
}

# par_pushes URL FIRST COUNT: BENCH_PUSH_PAR pushloop.py processes, COUNT/BENCH_PUSH_PAR
# images each, released together 1 s from now (after they have loaded their blobs);
# prints the seconds from that release to the last one's end.
par_pushes() {
	local each=$(($3 / BENCH_PUSH_PAR)) start k p rc=0
	local -a pids=()
	start=$(awk -v t="$EPOCHREALTIME" 'BEGIN { printf "%.6f", t + 1 }')
	for ((k = 0; k < BENCH_PUSH_PAR; k++)); do
		timeout 600 python3 "$BENCH_DIR/pushloop.py" "$1" "$PLAY" p "$each" bench/par \
			$(($2 + k * each)) "$start" >"$BENCH_TMP/par.$k" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	((rc == 0)) || return 1
	cat "$BENCH_TMP"/par.* | awk -v s="$start" '$1 > m { m = $1 } END { printf "%.6f", m - s }'
}

# turn KIND SERVER FIRST COUNT: one timed turn; adds to SECS[KIND.SERVER] and to the
# fixed-work CPU, or marks KIND.SERVER failed.
turn() {
	local kind=$1 s=$2 url t0 secs
	url=$(url_of "$s")
	[[ -n $url && -z ${FAILED[$kind.$s]:-} ]] || return 0
	t0=$(cpu_ticks "$(pid_of "$s")")
	if secs=$("${kind}_pushes" "$url" "$3" "$4"); then
		SECS[$kind.$s]=$(awk -v a="${SECS[$kind.$s]:-0}" -v b="$secs" 'BEGIN { printf "%.6f", a + b }')
	else
		bench_warn "$s: $kind pushes $3..$(($3 + $4 - 1)) failed"
		FAILED[$kind.$s]=1
	fi
	fixed_work_since "$s" "$t0"
}

# order R: the servers, the first one alternating with round R.
order() {
	if (($1 % 2)); then
		printf '%s\n' "${BENCH_SERVERS[1]}" "${BENCH_SERVERS[0]}"
	else
		printf '%s\n' "${BENCH_SERVERS[@]}"
	fi
}

# rate KIND SERVER COUNT: images/s over the summed turns, or nothing.
rate() {
	[[ -n ${SECS[$1.$2]:-} && -z ${FAILED[$1.$2]:-} ]] || return 0
	awk -v n="$3" -v t="${SECS[$1.$2]}" 'BEGIN { printf "%.1f", n / t }'
}

for ((i = 0; i < BENCH_UPLOAD_RUNS; i++)); do
	for s in $(order "$i"); do
		url=$(url_of "$s")
		[[ -n $url ]] || continue
		t0=$(cpu_ticks "$(pid_of "$s")")
		secs=$(big_upload "$url" "${BIGS[i]}") || secs=""
		fixed_work_since "$s" "$t0"
		if [[ -z $secs ]]; then
			bench_warn "$s: big upload failed"
			continue
		fi
		bench_note "$s: big upload $((BENCH_BIG_BYTES >> 20)) MiB in ${secs}s"
		UP[$s]=$(best_mib_s "${UP[$s]:-}" "$BENCH_BIG_BYTES" "$secs")
	done
done

KINDS=(skopeo http)
((PAR_EACH > 0)) && KINDS+=(par)
for kind in "${KINDS[@]}"; do
	count=$PER_ROUND
	[[ $kind == par ]] && count=$((PAR_EACH * BENCH_PUSH_PAR))
	for ((r = 0; r < BENCH_ROUNDS; r++)); do
		for s in $(order "$r"); do turn "$kind" "$s" $((r * PER_ROUND + 1)) "$count"; done
	done
	for s in "${BENCH_SERVERS[@]}"; do
		[[ -n ${SECS[$kind.$s]:-} ]] &&
			bench_note "$s: $((count * BENCH_ROUNDS)) $kind pushes in ${SECS[$kind.$s]}s"
	done
done

N=$((PER_ROUND * BENCH_ROUNDS))
NP=$((PAR_EACH * BENCH_PUSH_PAR * BENCH_ROUNDS))
bench_metric "blob upload $((BENCH_BIG_BYTES >> 20)) MiB one-shot MiB/s" "${UP[wharfd]:-}" "${UP[distribution]:-}" higher
bench_metric "small-image pushes/s, skopeo" "$(rate skopeo wharfd "$N")" \
	"$(rate skopeo distribution "$N")" higher
bench_metric "small-image pushes/s, keep-alive HTTP" "$(rate http wharfd "$N")" \
	"$(rate http distribution "$N")" higher
bench_metric "small-image pushes/s, keep-alive HTTP x$BENCH_PUSH_PAR" "$(rate par wharfd "$NP")" \
	"$(rate par distribution "$NP")" higher
bench_finish
