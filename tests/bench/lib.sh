# tests/bench/lib.sh: shared helpers of the wharfd vs CNCF Distribution benchmarks.
# Sourced by the tests/bench/*.sh scripts and tests/bench/run-all; not run on its own.
#
# A script calls bench_setup, which reuses the servers run-all exported (BENCH_SHARED=1)
# or starts its own pair: wharfd (--listen 127.0.0.1:0, port read from its first stdout
# line) and docker-registry (own config.yml, free port picked by python3). Either may be
# missing: its figures then read "n/a" and the other side still runs.
#
# Invariants: everything listens on 127.0.0.1; all files live under one mktemp -d tree
# (BENCH_TMP) removed at exit; only the processes started here (by pid) are killed, by
# the EXIT trap; every wait is bounded. Metric lines go to stdout (and to BENCH_RESULTS
# when set), progress and warnings to stderr. Nothing here fails on slowness.
#
# Ratio convention: ratio is always wharfd's advantage, "how many times better":
# wharfd/distribution for rates, distribution/wharfd for "(lower is better)" metrics.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_SERVERS=(wharfd distribution)
: "${BENCH_WRK_SECONDS:=10}"
: "${BENCH_BIG_BYTES:=$((512 << 20))}"
MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
ACCEPT_MANIFESTS="$MT_OCI_MANIFEST, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"

bench_note() { printf '# %s\n' "$*" >&2; }
bench_warn() { printf '# WARNING: %s\n' "$*" >&2; }
bench_now() { echo "$EPOCHREALTIME"; }

# bench_elapsed START: seconds since START (from bench_now), 6 decimals.
bench_elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }'; }

# ---- servers --------------------------------------------------------------------------

bench_find_wharfd() {
	local c
	for c in "${WHARFD:-}" "${TOP_BUILDDIR:+$TOP_BUILDDIR/wharfd}" ./wharfd; do
		if [[ -n $c && -f $c && -x $c ]]; then
			realpath "$c"
			return 0
		fi
	done
	command -v wharfd
}

# wait_v2 URL PID: up to 10 s for GET URL/v2/ to answer 200 while PID lives.
wait_v2() {
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$2" 2>/dev/null || return 1
		[[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1/v2/") == 200 ]] && return 0
		sleep 0.1
	done
	return 1
}

# start_wharfd_once BIN DIR [--config FILE]: sets WHARFD_PID, WHARFD_URL.
start_wharfd_once() {
	local bin=$1 dir=$2 line="" i
	shift 2
	"$bin" --listen 127.0.0.1:0 --root "$dir/root" "$@" >"$dir/stdout" 2>"$dir/stderr" &
	WHARFD_PID=$!
	BENCH_OWN_PIDS+=("$WHARFD_PID")
	for ((i = 0; i < 100; i++)); do
		# read succeeds only once the whole first line (with its newline) is there
		if [[ -s $dir/stdout ]] && IFS= read -r line <"$dir/stdout"; then
			break
		fi
		line=""
		kill -0 "$WHARFD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [[ $line == "listening on http://127.0.0.1:"* ]] &&
		wait_v2 "${line#listening on }" "$WHARFD_PID"; then
		WHARFD_URL=${line#listening on }
		return 0
	fi
	bench_stop_pid "$WHARFD_PID"
	WHARFD_PID="" WHARFD_URL=""
	return 1
}

bench_start_wharfd() {
	local bin dir=$BENCH_TMP/wharfd
	WHARFD_PID="" WHARFD_URL=""
	if ! bin=$(bench_find_wharfd); then
		bench_warn "wharfd not found (set WHARFD=/path/to/wharfd): its figures read n/a"
		return 1
	fi
	mkdir -p "$dir/root"
	printf '{"log_level": "error"}\n' >"$dir/config.json"
	if start_wharfd_once "$bin" "$dir" --config "$dir/config.json"; then
		bench_note "wharfd $bin at $WHARFD_URL (pid $WHARFD_PID, log_level error)"
		return 0
	fi
	if start_wharfd_once "$bin" "$dir"; then
		bench_warn "wharfd refused --config {\"log_level\": \"error\"}: running with defaults"
		bench_note "wharfd $bin at $WHARFD_URL (pid $WHARFD_PID)"
		return 0
	fi
	bench_warn "wharfd ($bin) did not come up: its figures read n/a; stderr:"
	tail -n 5 "$dir/stderr" >&2 || true
	return 1
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

bench_start_distribution() {
	local dir=$BENCH_TMP/distribution port _
	DIST_PID="" DIST_URL=""
	if ! command -v docker-registry >/dev/null; then
		bench_warn "docker-registry not installed: its figures read n/a"
		return 1
	fi
	mkdir -p "$dir/root"
	for _ in 1 2 3; do
		port=$(free_port)
		cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/root
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
EOF
		docker-registry serve "$dir/config.yml" >"$dir/stdout" 2>"$dir/stderr" &
		DIST_PID=$!
		BENCH_OWN_PIDS+=("$DIST_PID")
		if wait_v2 "http://127.0.0.1:$port" "$DIST_PID"; then
			DIST_URL=http://127.0.0.1:$port
			bench_note "distribution $(docker-registry --version | awk '{print $NF}') at $DIST_URL (pid $DIST_PID)"
			return 0
		fi
		bench_stop_pid "$DIST_PID"
		DIST_PID=""
	done
	bench_warn "docker-registry did not come up: its figures read n/a; stderr:"
	tail -n 5 "$dir/stderr" >&2 || true
	return 1
}

# bench_stop_pid PID: TERM, up to 5 s, then KILL; PID leaves BENCH_OWN_PIDS (no stale
# pid is ever signalled later).
bench_stop_pid() {
	local pid=$1 i p
	local -a keep=()
	[[ -n $pid ]] || return 0
	for p in "${BENCH_OWN_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
	BENCH_OWN_PIDS=("${keep[@]}")
	kill "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
	local pid
	for pid in "${BENCH_OWN_PIDS[@]}"; do bench_stop_pid "$pid"; done
	[[ -n ${BENCH_TMP:-} && ${BENCH_OWN_TMP:-0} == 1 ]] && rm -rf "$BENCH_TMP"
	return 0
}

# bench_setup: temp tree, data dir and both servers (shared from run-all or our own).
bench_setup() {
	BENCH_OWN_PIDS=()
	if [[ ${BENCH_SHARED:-0} == 1 ]]; then
		: "${BENCH_TMP:?}" "${BENCH_DATA:?}"
		WHARFD_URL=${BENCH_WHARFD_URL:-} WHARFD_PID=${BENCH_WHARFD_PID:-}
		DIST_URL=${BENCH_DIST_URL:-} DIST_PID=${BENCH_DIST_PID:-}
		return 0
	fi
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wharf-bench.XXXXXX")
	BENCH_OWN_TMP=1
	BENCH_DATA=$BENCH_TMP/data
	mkdir -p "$BENCH_DATA"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	bench_start_wharfd || true
	bench_start_distribution || true
}

# bench_finish: a script run on its own also reports its servers' resources.
bench_finish() {
	[[ ${BENCH_SHARED:-0} == 1 ]] || bench_report_resources
}

# url_of SERVER / pid_of SERVER: empty when that server is not running.
url_of() { if [[ $1 == wharfd ]]; then echo "$WHARFD_URL"; else echo "$DIST_URL"; fi; }
pid_of() { if [[ $1 == wharfd ]]; then echo "$WHARFD_PID"; else echo "$DIST_PID"; fi; }

# ---- results --------------------------------------------------------------------------

# bench_metric NAME WHARFD DIST higher|lower: prints the metric line with the ratio.
bench_metric() {
	local name=$1 w=${2:-n/a} d=${3:-n/a} better=$4 ratio
	[[ $better == lower ]] && name="$name (lower is better)"
	ratio=$(awk -v w="$w" -v d="$d" -v b="$better" 'BEGIN {
		num = "^[0-9]+([.][0-9]+)?$"
		if (w !~ num || d !~ num || w + 0 == 0 || d + 0 == 0) { print "n/a"; exit }
		printf "%.2fx", (b == "lower") ? d / w : w / d }')
	printf '%s: wharfd %s, distribution %s, ratio %s\n' "$name" "$w" "$d" "$ratio"
	if [[ -n ${BENCH_RESULTS:-} ]]; then
		printf '%s\t%s\t%s\t%s\n' "$name" "$w" "$d" "$ratio" >>"$BENCH_RESULTS"
	fi
}

# fmt DECIMALS VALUE: VALUE rounded, or n/a.
fmt() {
	awk -v p="$1" -v v="${2:-}" 'BEGIN {
		if (v ~ /^[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$/) printf "%.*f\n", p, v; else print "n/a" }'
}

# ---- resources (/proc) ----------------------------------------------------------------

# cpu_ticks PID: utime + stime of PID in clock ticks.
cpu_ticks() {
	local stat rest
	local -a fld
	stat=$(<"/proc/$1/stat") || return 1
	rest=${stat##*) }
	read -r -a fld <<<"$rest"
	# rest starts at field 3 (state): utime is field 14, stime 15.
	echo $((fld[11] + fld[12]))
}

# cpu_seconds PID
cpu_seconds() {
	local t
	t=$(cpu_ticks "$1") || return 1
	awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}

# peak_rss_mib PID: VmHWM in MiB.
peak_rss_mib() {
	awk '/^VmHWM:/ { printf "%.1f", $2 / 1024; f = 1 } END { exit !f }' "/proc/$1/status"
}

# fixed_work_add SERVER SECONDS: adds to the CPU spent on fixed-size work (not the
# fixed-duration wrk runs, where the faster server simply does more requests).
fixed_work_add() {
	local f=$BENCH_TMP/cpu.$1.fixed old=0
	[[ -n ${2:-} ]] || return 0
	[[ -f $f ]] && old=$(<"$f")
	awk -v a="$old" -v b="$2" 'BEGIN { printf "%.4f", a + b }' >"$f"
}

# fixed_work_since SERVER TICKS: adds SERVER's CPU since TICKS (from cpu_ticks) to the
# fixed-size-work total.
fixed_work_since() {
	local pid now
	pid=$(pid_of "$1")
	now=$(cpu_ticks "$pid") || return 0
	fixed_work_add "$1" "$(awk -v t=$((now - $2)) -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.4f", t / hz }')"
}

bench_report_resources() {
	local s pid rss=() cpu=() fixed=()
	for s in "${BENCH_SERVERS[@]}"; do
		pid=$(pid_of "$s")
		if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
			rss+=("$(peak_rss_mib "$pid" || echo n/a)")
			cpu+=("$(cpu_seconds "$pid" || echo n/a)")
		else
			rss+=(n/a) cpu+=(n/a)
			[[ -n $pid ]] && bench_warn "$s (pid $pid) is gone before the end of the run"
		fi
		if [[ -f $BENCH_TMP/cpu.$s.fixed ]]; then
			fixed+=("$(fmt 2 "$(<"$BENCH_TMP/cpu.$s.fixed")")")
		else
			fixed+=(n/a)
		fi
	done
	bench_metric "peak RSS MiB (VmHWM)" "${rss[0]}" "${rss[1]}" lower
	[[ ${fixed[0]}${fixed[1]} == n/an/a ]] ||
		bench_metric "CPU seconds, fixed-size work only" "${fixed[0]}" "${fixed[1]}" lower
	bench_metric "CPU seconds, whole run" "${cpu[0]}" "${cpu[1]}" lower
}

# ---- data and pushes ------------------------------------------------------------------

# bench_data_file NAME BYTES: path of a random file, made once per run in BENCH_DATA.
bench_data_file() {
	local f=$BENCH_DATA/$1
	if [[ ! -f $f ]]; then
		head -c "$2" /dev/urandom >"$f.tmp" && mv "$f.tmp" "$f"
	fi
	echo "$f"
}

# sha256_of FILE: "sha256:<hex>", cached next to the file.
sha256_of() {
	if [[ ! -f $1.sha256 ]]; then
		echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)" >"$1.sha256"
	fi
	cat "$1.sha256"
}

# upload_start URL REPO: POSTs an upload session; prints its absolute Location.
upload_start() {
	local loc
	loc=$(curl -sS -m 30 -o /dev/null -D - -X POST -H 'Content-Length: 0' \
		"$1/v2/$2/blobs/uploads/" |
		awk 'tolower($1) == "location:" { sub(/\r$/, ""); print $2 }')
	[[ -n $loc ]] || return 1
	[[ $loc == /* ]] && loc=$1$loc
	echo "$loc"
}

# push_blob URL REPO FILE DIGEST: monolithic POST + PUT (body streamed from FILE).
push_blob() {
	local loc sep="?" code
	loc=$(upload_start "$1" "$2") || { bench_warn "POST upload to $1/$2 failed"; return 1; }
	[[ $loc == *\?* ]] && sep="&"
	code=$(curl -sS -m 600 -o /dev/null -w '%{http_code}' -H 'Expect:' \
		-H 'Content-Type: application/octet-stream' -T "$3" "$loc${sep}digest=$4")
	[[ $code == 201 ]] || { bench_warn "PUT blob $4 to $1/$2: HTTP $code"; return 1; }
}

# ensure_blob URL REPO FILE DIGEST: pushes unless the repository already has it.
ensure_blob() {
	[[ $(curl -s -m 30 -o /dev/null -w '%{http_code}' -I "$1/v2/$2/blobs/$4") == 200 ]] ||
		push_blob "$@"
}

# push_layout_image URL REPO TAG LAYOUT REF: pushes image REF of OCI layout LAYOUT
# with curl (blobs monolithic, then the manifest under TAG).
push_layout_image() {
	local url=$1 repo=$2 tag=$3 lay=$4 ref=$5 mdig mfile d code
	mdig=$(jq -r --arg r "$ref" '.manifests[]
		| select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' \
		"$lay/index.json")
	[[ -n $mdig ]] || { bench_warn "no image \"$ref\" in $lay"; return 1; }
	mfile=$lay/blobs/sha256/${mdig#sha256:}
	for d in $(jq -r '.config.digest, .layers[].digest' "$mfile"); do
		push_blob "$url" "$repo" "$lay/blobs/sha256/${d#sha256:}" "$d" || return 1
	done
	code=$(curl -sS -m 30 -o /dev/null -w '%{http_code}' -X PUT \
		-H "Content-Type: $MT_OCI_MANIFEST" --data-binary @"$mfile" \
		"$url/v2/$repo/manifests/$tag")
	[[ $code == 201 ]] || { bench_warn "PUT manifest $repo:$tag to $url: HTTP $code"; return 1; }
}

# skopeo_policy: path of an accept-anything policy.json of our own.
skopeo_policy() {
	local p=$BENCH_TMP/policy.json
	[[ -f $p ]] || printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$p"
	echo "$p"
}

# ---- wrk --------------------------------------------------------------------------------

# wrk_lua NAME METHOD: a wrk script setting METHOD and the manifest Accept header.
wrk_lua() {
	local f=$BENCH_TMP/$1.lua
	cat >"$f" <<EOF
wrk.method = "$2"
wrk.headers["Accept"] = "$ACCEPT_MANIFESTS"
EOF
	echo "$f"
}

# run_wrk LUA URL SECONDS OUT: wrk -t2 -c32 --latency into OUT.
run_wrk() {
	timeout $(($3 + 30)) wrk -t2 -c32 -d"$3s" --timeout 5s --latency -s "$1" "$2" >"$4" 2>&1 || true
}

# wrk_rps OUT / wrk_p99_ms OUT / wrk_mib_s OUT / wrk_bad OUT: figures from wrk's output.
wrk_rps() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$1"; }
wrk_requests() { awk '/ requests in / { print $1 }' "$1"; }
wrk_p99_ms() {
	awk '$1 == "99%" { v = $2; u = v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
		m = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
		if (m > 0) printf "%.3f", v * m }' "$1"
}
wrk_mib_s() {
	awk '/^Transfer\/sec:/ { v = $2; u = v; sub(/[A-Za-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
		m = (u == "B") ? 1 / 1048576 : (u == "KB") ? 1 / 1024 : (u == "MB") ? 1 : (u == "GB") ? 1024 : -1
		if (m > 0) printf "%.1f", v * m }' "$1"
}
# wrk_bad OUT: non-2xx/3xx responses plus socket errors (0 when clean).
wrk_bad() {
	awk '/Non-2xx or 3xx responses:/ { n += $NF }
		/Socket errors:/ { for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i }
		END { print n + 0 }' "$1"
}

# wrk_ok OUT LABEL: false (with a warning) when wrk failed or more than 1 in 1000
# responses were errors, so a server answering 404 fast does not score.
wrk_ok() {
	local n bad
	n=$(wrk_requests "$1")
	bad=$(wrk_bad "$1")
	if [[ -z $n || $n == 0 ]]; then
		bench_warn "$2: wrk made no requests:"
		tail -n 5 "$1" >&2
		return 1
	fi
	if ((bad * 1000 > n)); then
		bench_warn "$2: $bad of $n requests failed; figure dropped"
		return 1
	fi
	((bad == 0)) || bench_warn "$2: $bad of $n requests failed (kept: under 0.1%)"
	return 0
}

# hload_bin: builds tests/bench/hload.c once per run (wrk cannot do HEAD); prints its path.
hload_bin() {
	local b=$BENCH_TMP/hload
	if [[ ! -x $b ]]; then
		"${CC:-cc}" -O2 -pthread -o "$b" "$BENCH_DIR/hload.c" >&2 || return 1
	fi
	echo "$b"
}

# run_hload METHOD URL SECONDS OUT [HEADER...]: 32 connections, one line into OUT.
run_hload() {
	local m=$1 u=$2 sec=$3 out=$4 bin
	shift 4
	if ! bin=$(hload_bin); then
		echo "hload: cannot build $BENCH_DIR/hload.c" >"$out"
		return 0
	fi
	timeout $((sec + 30)) "$bin" "$m" "$u" "$sec" 32 "$@" >"$out" 2>&1 || true
}

# hload_field OUT NAME: a field of hload's line (requests, errors, rps, p50_ms, p99_ms).
hload_field() { awk -v k="$2" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }' "$1"; }

# hload_ok OUT LABEL: like wrk_ok, for hload.
hload_ok() {
	local n bad
	n=$(hload_field "$1" requests)
	bad=$(hload_field "$1" errors)
	if [[ -z $n || $n == 0 ]]; then
		bench_warn "$2: no successful requests:"
		tail -n 5 "$1" >&2
		return 1
	fi
	if ((bad * 1000 > n)); then
		bench_warn "$2: $bad failed requests vs $n good; figure dropped"
		return 1
	fi
	((bad == 0)) || bench_warn "$2: $bad failed requests (kept: under 0.1%)"
	bad=$(hload_field "$1" reconnects)
	[[ ${bad:-0} == 0 ]] ||
		bench_warn "$2: the server sent \"Connection: close\" $bad times (keep-alive lost)"
	return 0
}

# best_mib_s BEST BYTES SECONDS: the larger of BEST (may be empty) and BYTES/SECONDS in MiB/s.
best_mib_s() {
	awk -v b="$1" -v n="$2" -v t="$3" \
		'BEGIN { r = n / t / 1048576; if (b == "" || r > b) b = r; printf "%.1f", b }'
}
