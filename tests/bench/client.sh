#!/bin/bash
# tests/bench/client.sh: the wharf client vs skopeo, pulling and pushing the same images
# from and to the same wharfd, in one run. Not a test: never part of make check, never
# fails because something is slow.
#
#   make wharf wharfd && /path/to/src/tests/bench/client.sh      # from the build dir
#   WHARF=/path/to/wharf WHARFD=/path/to/wharfd tests/bench/client.sh
#
# The work (tests/bench/mkoci.sh makes the images, curl seeds wharfd, untimed):
#   big    one image of BENCH_BIG_LAYERS (4) layers of BENCH_BIG_LAYER_BYTES (128 MiB)
#   small  BENCH_SMALL_IMAGES (200) images of one 1 KiB layer, one command per image
# Pull: `wharf pull` into a fresh store vs `skopeo copy docker://... oci:DIR` (skopeo's
# own content store: blobs kept as they are, digests checked), from 127.0.0.1:PORT.
# Push: `wharf push` from that store vs `skopeo copy --preserve-digests oci:DIR docker://`,
# to localhost:PORT (another registry name, so neither tool finds a cross-repository
# mount from what it pulled) into fresh repositories; wharfd receives every byte.
# Each tool runs with a private HOME (skopeo's blob-info cache starts empty); the same
# commands a user would type. The big image is pulled BENCH_BIG_RUNS (2) times by each
# tool, the first one alternating, and the best run counts (pushed once: a second push
# of the same blobs would be a cross-repository mount for both); the small images are moved
# by the two tools taking turns image by image (so a burst of load elsewhere on the
# machine hits both), their times summed.
#
# Figures: wall seconds, MiB/s or images/s, and each tool's peak RSS (the largest
# "maximum resident set size", /usr/bin/time -f %M, of its big runs, and of one more,
# untimed small pull and push). Ratio = how many times better wharf did (skopeo/wharf for seconds
# and RSS): > 1 means wharf is ahead; the target in issue 3 is 1.5 on pull and push.
# Knobs: BENCH_BIG_LAYERS, BENCH_BIG_LAYER_BYTES, BENCH_SMALL_IMAGES, BENCH_BIG_RUNS,
# TMPDIR (about 4 x the big image on disk). Needs: curl, jq, skopeo, python3,
# /usr/bin/time, gzip.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

: "${BENCH_BIG_LAYERS:=4}"
: "${BENCH_BIG_LAYER_BYTES:=$((128 << 20))}"
: "${BENCH_SMALL_IMAGES:=200}"
: "${BENCH_BIG_RUNS:=2}"

find_wharf() {
	local c
	for c in "${WHARF:-}" "${TOP_BUILDDIR:+$TOP_BUILDDIR/wharf}" ./wharf; do
		if [[ -n $c && -f $c && -x $c ]]; then
			realpath "$c"
			return 0
		fi
	done
	command -v wharf
}

BENCH_OWN_PIDS=()
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wharf-client-bench.XXXXXX")
BENCH_OWN_TMP=1
BENCH_DATA=$BENCH_TMP/data
mkdir -p "$BENCH_DATA" "$BENCH_TMP/home"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
for t in skopeo curl jq python3 /usr/bin/time; do
	command -v "$t" >/dev/null || { bench_warn "$t is needed"; exit 1; }
done
WHARF_BIN=$(find_wharf) || { bench_warn "wharf not found (set WHARF=/path/to/wharf)"; exit 1; }
bench_start_wharfd || exit 1
PORT=${WHARFD_URL##*:}
SRC=127.0.0.1:$PORT
DST=localhost:$PORT
POLICY=$(skopeo_policy)
export HOME=$BENCH_TMP/home XDG_DATA_HOME=$BENCH_TMP/home/data XDG_CONFIG_HOME=$BENCH_TMP/home/config
export XDG_CACHE_HOME=$BENCH_TMP/home/cache WHARF_CONFIG=$BENCH_TMP/home/wharf.json
export REGISTRY_AUTH_FILE=$BENCH_TMP/home/auth.json
printf '{"auths":{}}\n' >"$REGISTRY_AUTH_FILE"
WROOT=$BENCH_TMP/wharf-store
SKDIR=$BENCH_TMP/skopeo-layouts
mkdir -p "$SKDIR"
declare -A RSS

# ---- data ---------------------------------------------------------------------------------

BIG=$BENCH_DATA/big
SMALL=$BENCH_DATA/small
bench_note "making a $BENCH_BIG_LAYERS x $((BENCH_BIG_LAYER_BYTES >> 20)) MiB image and" \
	"$BENCH_SMALL_IMAGES small ones; seeding wharfd with curl"
bash "$BENCH_DIR/mkoci.sh" "$BIG" big "$BENCH_BIG_LAYERS" "$BENCH_BIG_LAYER_BYTES"
bash "$BENCH_DIR/mkoci.sh" "$SMALL" s 1 1024 "$BENCH_SMALL_IMAGES"
push_layout_image "$WHARFD_URL" bench/big 1 "$BIG" big
for ((i = 1; i <= BENCH_SMALL_IMAGES; i++)); do
	push_layout_image "$WHARFD_URL" bench/small "s-$i" "$SMALL" "s-$i"
done
BIG_DIGEST=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "big") | .digest' \
	"$BIG/index.json")
BIG_BYTES=$(jq '[.layers[].size] | add' "$BIG/blobs/sha256/${BIG_DIGEST#sha256:}")

# ---- timing -------------------------------------------------------------------------------

# rss KEY CMD...: runs CMD (a program, not a function) under /usr/bin/time; keeps the
# largest RSS (KiB) in RSS[KEY].
rss() {
	local key=$1 kb
	shift
	/usr/bin/time -f '%M' -o "$BENCH_TMP/time.out" "$@" >"$BENCH_TMP/cmd.log" 2>&1 || return 1
	kb=$(tail -n 1 "$BENCH_TMP/time.out")
	((kb > ${RSS[$key]:-0})) && RSS[$key]=$kb
	return 0
}

# timed KEY CMD...: runs CMD, adds its wall microseconds to US[KEY]; on failure marks KEY.
# With RSS_KEY set, CMD (a program) runs under /usr/bin/time and its RSS counts too.
timed() {
	local key=$1 t0 t1 kb
	local -a pre=()
	shift
	[[ -n ${RSS_KEY:-} ]] && pre=(/usr/bin/time -f '%M' -o "$BENCH_TMP/time.out")
	t0=${EPOCHREALTIME/./} # no command substitution: no fork inside the timed part
	if ! "${pre[@]}" "$@" >"$BENCH_TMP/cmd.log" 2>&1; then
		bench_warn "failed: $*"
		tail -n 3 "$BENCH_TMP/cmd.log" >&2
		FAILED[$key]=1
		return 1
	fi
	t1=${EPOCHREALTIME/./}
	US[$key]=$((${US[$key]:-0} + t1 - t0))
	if [[ -n ${RSS_KEY:-} ]]; then
		kb=$(tail -n 1 "$BENCH_TMP/time.out")
		((kb > ${RSS[$RSS_KEY]:-0})) && RSS[$RSS_KEY]=$kb
	fi
	return 0
}

# best KEY RUN_KEY: keeps the smaller of US[KEY] and US[RUN_KEY] in US[KEY].
best() {
	[[ -z ${FAILED[$2]:-} && -n ${US[$2]:-} ]] || return 0
	if [[ -z ${US[$1]:-} ]] || ((US[$2] < US[$1])); then US[$1]=${US[$2]}; fi
}

W=("$WHARF_BIN" --quiet)
SK=(skopeo --policy "$POLICY")
declare -A US FAILED

# ---- the run ----------------------------------------------------------------------------------
# Big: BENCH_BIG_RUNS runs of each, the first tool alternating, best run kept. Small: the
# two tools take turns image by image (so a burst of load elsewhere hits both), summed.

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(bench_now)
bench_note "pull big: $BENCH_BIG_RUNS runs each"
for ((r = 1; r <= BENCH_BIG_RUNS; r++)); do
	rm -rf "$BENCH_TMP/wbig" "$SKDIR/big"
	for tool in $( ((r % 2)) && echo wharf skopeo || echo skopeo wharf); do
		if [[ $tool == wharf ]]; then
			RSS_KEY=big.wharf timed "pull big.wharf.$r" "${W[@]}" --root "$BENCH_TMP/wbig" pull "$SRC/bench/big:1"
		else
			RSS_KEY=big.skopeo timed "pull big.skopeo.$r" "${SK[@]}" copy -q --retry-times 0 \
				--src-tls-verify=false "docker://$SRC/bench/big:1" "oci:$SKDIR/big:big"
		fi
		best "pull big.$tool" "pull big.$tool.$r"
	done
done
bench_note "pull small: $BENCH_SMALL_IMAGES images, taking turns"
for ((i = 1; i <= BENCH_SMALL_IMAGES; i++)); do
	for tool in $( ((i % 2)) && echo wharf skopeo || echo skopeo wharf); do
		if [[ $tool == wharf ]]; then
			timed "pull small.wharf" "${W[@]}" --root "$WROOT" pull "$SRC/bench/small:s-$i"
		else
			timed "pull small.skopeo" "${SK[@]}" copy -q --retry-times 0 --src-tls-verify=false \
				"docker://$SRC/bench/small:s-$i" "oci:$SKDIR/s-$i:s"
		fi
	done
done
# the pushes start from what each tool pulled; new names for wharf's (untimed)
for ((i = 1; i <= BENCH_SMALL_IMAGES; i++)); do
	"$WHARF_BIN" --root "$WROOT" tag "$SRC/bench/small:s-$i" "$DST/wsmall/s-$i:1"
done
# Pushed once: a second push of the same blobs to the same registry would be a
# cross-repository mount for both tools (skopeo's blob-info cache, wharf's local names).
bench_note "push big"
"$WHARF_BIN" --root "$BENCH_TMP/wbig" tag "$SRC/bench/big:1" "$DST/wpush/big:1"
RSS_KEY=big.skopeo timed "push big.skopeo" "${SK[@]}" copy -q --retry-times 0 --preserve-digests \
	--dest-tls-verify=false "oci:$SKDIR/big:big" "docker://$DST/spush/big:1" || true
RSS_KEY=big.wharf timed "push big.wharf" "${W[@]}" --root "$BENCH_TMP/wbig" push "$DST/wpush/big:1" || true
bench_note "push small: $BENCH_SMALL_IMAGES images, taking turns"
for ((i = 1; i <= BENCH_SMALL_IMAGES; i++)); do
	for tool in $( ((i % 2)) && echo skopeo wharf || echo wharf skopeo); do
		if [[ $tool == wharf ]]; then
			timed "push small.wharf" "${W[@]}" --root "$WROOT" push "$DST/wsmall/s-$i:1"
		else
			timed "push small.skopeo" "${SK[@]}" copy -q --retry-times 0 --preserve-digests \
				--dest-tls-verify=false "oci:$SKDIR/s-$i:s" "docker://$DST/ssmall/s-$i:1"
		fi
	done
done
RUN_SECS=$(bench_elapsed "$START")

# Peak RSS of the small commands, measured apart (untimed): one more pull and push each.
bench_note "peak RSS runs"
rss small.wharf "${W[@]}" --root "$BENCH_TMP/wsmallrss" pull "$SRC/bench/small:s-1" || true
rss small.skopeo "${SK[@]}" copy -q --src-tls-verify=false "docker://$SRC/bench/small:s-1" \
	"oci:$SKDIR/rss:s" || true
"$WHARF_BIN" --root "$BENCH_TMP/wsmallrss" tag "$SRC/bench/small:s-1" "$DST/wsmallrss/s:1"
rss small.wharf "${W[@]}" --root "$BENCH_TMP/wsmallrss" push "$DST/wsmallrss/s:1" || true
rss small.skopeo "${SK[@]}" copy -q --preserve-digests --dest-tls-verify=false "oci:$SKDIR/rss:s" \
	"docker://$DST/ssmallrss/s:1" || true

# The same bytes arrived both ways?
for pair in "wpush/big:1 spush/big:1" "wsmall/s-1:1 ssmall/s-1:1"; do
	read -r a b <<<"$pair"
	da=$(curl -s -I -H "Accept: $MT_OCI_MANIFEST" "$WHARFD_URL/v2/${a%:*}/manifests/${a#*:}" |
		awk 'tolower($1) == "docker-content-digest:" { sub(/\r$/, ""); print $2 }')
	db=$(curl -s -I -H "Accept: $MT_OCI_MANIFEST" "$WHARFD_URL/v2/${b%:*}/manifests/${b#*:}" |
		awk 'tolower($1) == "docker-content-digest:" { sub(/\r$/, ""); print $2 }')
	[[ -n $da && $da == "$db" ]] || bench_warn "pushed $a ($da) and $b ($db) differ"
done
[[ $(curl -s -I -H "Accept: $MT_OCI_MANIFEST" "$WHARFD_URL/v2/wpush/big/manifests/1" |
	awk 'tolower($1) == "docker-content-digest:" { sub(/\r$/, ""); print $2 }') == "$BIG_DIGEST" ]] ||
	bench_warn "the big image pushed by wharf does not have the digest it was pulled with"

# ---- results ------------------------------------------------------------------------------------

# row NAME WHARF SKOPEO higher|lower: one line of the table, ratio = wharf's advantage.
row() {
	local ratio
	ratio=$(awk -v w="${2:-}" -v s="${3:-}" -v b="$4" 'BEGIN {
		num = "^[0-9]+([.][0-9]+)?$"
		if (w !~ num || s !~ num || w + 0 == 0 || s + 0 == 0) { print "n/a"; exit }
		printf "%.2fx", (b == "lower") ? s / w : w / s }')
	printf '%s\t%s\t%s\t%s\n' "$1" "${2:-n/a}" "${3:-n/a}" "$ratio" >>"$BENCH_TMP/results.tsv"
}
# secs KEY: US[KEY] in seconds (2 decimals), empty when failed or missing.
secs() { [[ -z ${FAILED[$1]:-} && -n ${US[$1]:-} ]] && awk -v u="${US[$1]}" 'BEGIN { printf "%.2f", u / 1e6 }'; }
# per KEY N: N / seconds
per() {
	[[ -z ${FAILED[$1]:-} && -n ${US[$1]:-} ]] && awk -v u="${US[$1]}" -v n="$2" 'BEGIN { printf "%.1f", n / (u / 1e6) }'
}
mib() { [[ -n ${1:-} ]] && awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
MIBS=$(awk -v b="$BIG_BYTES" 'BEGIN { printf "%.0f", b / 1048576 }')
: >"$BENCH_TMP/results.tsv"
for p in pull push; do
	[[ $p == pull ]] && how="best of $BENCH_BIG_RUNS" || how="one run"
	row "$p big, $how: seconds (lower is better)" "$(secs "$p big.wharf" || true)" \
		"$(secs "$p big.skopeo" || true)" lower
	row "$p big: MiB/s" "$(per "$p big.wharf" "$MIBS" || true)" "$(per "$p big.skopeo" "$MIBS" || true)" higher
	row "$p $BENCH_SMALL_IMAGES small: seconds (lower is better)" "$(secs "$p small.wharf" || true)" \
		"$(secs "$p small.skopeo" || true)" lower
	row "$p $BENCH_SMALL_IMAGES small: images/s" "$(per "$p small.wharf" "$BENCH_SMALL_IMAGES" || true)" \
		"$(per "$p small.skopeo" "$BENCH_SMALL_IMAGES" || true)" higher
done
row "peak RSS, big pull/push, MiB (lower is better)" "$(mib "${RSS[big.wharf]:-}" || true)" \
	"$(mib "${RSS[big.skopeo]:-}" || true)" lower
row "peak RSS, small pull/push, MiB (lower is better)" "$(mib "${RSS[small.wharf]:-}" || true)" \
	"$(mib "${RSS[small.skopeo]:-}" || true)" lower
row "wharfd peak RSS over the run, MiB" "$(peak_rss_mib "$WHARFD_PID" || echo n/a)" "-" higher

echo
echo "== wharf vs skopeo against one wharfd, one run, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   wharf:  $WHARF_BIN"
echo "   skopeo: $(skopeo --version 2>/dev/null | awk '{print $NF}')"
echo "   big image: $BENCH_BIG_LAYERS x $((BENCH_BIG_LAYER_BYTES >> 20)) MiB; small: $BENCH_SMALL_IMAGES images" \
	"of one 1 KiB layer, one command each"
echo "   machine: $(nproc) cores, load average at start $LOAD," \
	"timed part took $(awk -v t="$RUN_SECS" 'BEGIN { printf "%.0f", t }') s"
if awk -v l="${LOAD%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	echo "   NOTE: the machine was busy when the run started: figures are noisy"
fi
echo "   ratio = how many times better wharf did (>1: wharf ahead; target 1.5x)"
echo
{
	printf 'metric\twharf\tskopeo\tratio\n'
	printf '%s\t%s\t%s\t%s\n' "------" "-----" "------" "-----"
	cat "$BENCH_TMP/results.tsv"
} | awk -F'\t' '{ row[NR] = $0; for (i = 1; i <= NF; i++) if (length($i) > w[i]) w[i] = length($i) }
	END { for (r = 1; r <= NR; r++) { n = split(row[r], f, "\t")
		printf "%-*s  %*s  %*s  %*s\n", w[1], f[1], w[2], f[2], w[3], f[3], w[4], f[4] } }'
exit 0
