#!/bin/bash
# tests/bench/big-image.sh: big-image push and pull with skopeo, wharfd vs Distribution.
# The image: an OCI layout of BENCH_BIG_LAYERS (4) random layers of BENCH_BIG_LAYER_BYTES
# (128 MiB) each, gzip stored blocks so skopeo pushes them unchanged (--preserve-digests).
# Push: skopeo copy oci:DIR:big docker://HOST/bench/big:1, once (a second push would
# only mount or skip blobs); pull: back into a fresh oci: directory (then removed), best
# of BENCH_PULL_RUNS (2). Figures are layer MiB moved per second of skopeo's wall time.
# Not a test: never fails on slowness.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
bench_setup

: "${BENCH_BIG_LAYERS:=4}"
: "${BENCH_BIG_LAYER_BYTES:=$((128 << 20))}"
: "${BENCH_PULL_RUNS:=2}"
POLICY=$(skopeo_policy)
LAY=$BENCH_DATA/big-layout
if [[ ! -f $LAY/index.json ]]; then
	bench_note "making a $BENCH_BIG_LAYERS x $((BENCH_BIG_LAYER_BYTES >> 20)) MiB image"
	bash "$BENCH_DIR/mkoci.sh" "$LAY" big "$BENCH_BIG_LAYERS" "$BENCH_BIG_LAYER_BYTES"
fi
MDIG=$(jq -r '.manifests[0].digest' "$LAY/index.json")
BYTES=$(jq '[.layers[].size] | add' "$LAY/blobs/sha256/${MDIG#sha256:}")
declare -A PUSH PULL

# timed_skopeo LOG ARGS...: runs skopeo copy; prints its wall seconds, or fails.
timed_skopeo() {
	local log=$1 t
	shift
	t=$(bench_now)
	if ! timeout 600 skopeo --policy "$POLICY" copy -q --retry-times 0 "$@" >"$log" 2>&1; then
		tail -n 3 "$log" >&2
		return 1
	fi
	bench_elapsed "$t"
}

# All pushes, then all pulls, so a burst of load elsewhere is less likely to hit one
# server's whole turn.
PUSHED=()
for s in "${BENCH_SERVERS[@]}"; do
	url=$(url_of "$s")
	[[ -n $url ]] || continue
	t0=$(cpu_ticks "$(pid_of "$s")")
	if secs=$(timed_skopeo "$BENCH_TMP/skopeo-push.log" --preserve-digests \
		--dest-tls-verify=false "oci:$LAY:big" "docker://${url#http://}/bench/big:1"); then
		bench_note "$s: pushed $((BYTES >> 20)) MiB in ${secs}s"
		PUSH[$s]=$(best_mib_s "" "$BYTES" "$secs")
		PUSHED+=("$s")
	else
		bench_warn "$s: skopeo push failed"
	fi
	fixed_work_since "$s" "$t0"
done

# Pulls repeat (best of BENCH_PULL_RUNS), the first server alternating.
for ((r = 0; r < BENCH_PULL_RUNS; r++)); do
	for ((k = 0; k < ${#PUSHED[@]}; k++)); do
		s=${PUSHED[(k + r) % ${#PUSHED[@]}]}
		url=$(url_of "$s")
		out=$BENCH_TMP/pulled-$s
		rm -rf "$out"
		t0=$(cpu_ticks "$(pid_of "$s")")
		if secs=$(timed_skopeo "$BENCH_TMP/skopeo-pull.log" --preserve-digests \
			--src-tls-verify=false "docker://${url#http://}/bench/big:1" "oci:$out:big"); then
			got=$(jq -r '.manifests[0].digest' "$out/index.json")
			if [[ $got == "$MDIG" ]]; then
				bench_note "$s: pulled $((BYTES >> 20)) MiB in ${secs}s"
				PULL[$s]=$(best_mib_s "${PULL[$s]:-}" "$BYTES" "$secs")
			else
				bench_warn "$s: pulled manifest $got, pushed $MDIG"
			fi
		else
			bench_warn "$s: skopeo pull failed"
		fi
		fixed_work_since "$s" "$t0"
		rm -rf "$out"
	done
done

bench_metric "big image push (skopeo) MiB/s" "${PUSH[wharfd]:-}" "${PUSH[distribution]:-}" higher
bench_metric "big image pull (skopeo) MiB/s" "${PULL[wharfd]:-}" "${PULL[distribution]:-}" higher
bench_finish
