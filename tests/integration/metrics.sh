#!/bin/bash
# tests/integration/metrics.sh - what wharfd tells operators: /metrics
# (Prometheus text format 0.0.4, checked line by line), /healthz, /readyz
# (503 while draining after SIGTERM), and the request log (one JSON object
# per line, no secret; a one-line text form).
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init

PROM_CHECK=$WH_TMP/promcheck.py
cat >"$PROM_CHECK" <<'EOF'
# Validates a Prometheus text exposition (format 0.0.4): every line is a
# HELP/TYPE comment or a sample; every sample's family has a TYPE before it;
# no series twice; histogram buckets ascend, are cumulative, and +Inf equals
# _count. Prints one line per problem; exit 1 when there is any.
import re, sys
NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r'^(%s)(?:\{(%s(?:,%s)*)?\})? (\S+)(?: -?[0-9]+)?$' % (NAME, LABEL, LABEL))
text = open(sys.argv[1], encoding='utf-8').read()
bad = []
if not text.endswith('\n'):
    bad.append('exposition does not end with a newline')
types, helps, seen, hist = {}, set(), set(), {}
def family(name):
    for suf in ('_bucket', '_sum', '_count'):
        if name.endswith(suf) and types.get(name[:-len(suf)]) == 'histogram':
            return name[:-len(suf)]
    return name
def num(v):
    if v in ('+Inf', '-Inf', 'NaN'):
        return float(v.replace('Inf', 'inf').replace('NaN', 'nan'))
    return float(v)
for i, line in enumerate(text.split('\n')[:-1], 1):
    if line.startswith('# HELP ') or line.startswith('# TYPE '):
        parts = line.split(' ', 3)
        if len(parts) < 4 or not re.fullmatch(NAME, parts[2]):
            bad.append('line %d: malformed comment: %r' % (i, line)); continue
        if parts[1] == 'TYPE':
            if parts[3] not in ('counter', 'gauge', 'histogram', 'summary', 'untyped'):
                bad.append('line %d: unknown type %r' % (i, parts[3]))
            if parts[2] in types:
                bad.append('line %d: second TYPE for %s' % (i, parts[2]))
            types[parts[2]] = parts[3]
        else:
            if parts[2] in helps:
                bad.append('line %d: second HELP for %s' % (i, parts[2]))
            helps.add(parts[2])
        continue
    if line.startswith('#'):
        continue
    m = SAMPLE.match(line)
    if not m:
        bad.append('line %d: not a sample: %r' % (i, line)); continue
    name, labels, value = m.group(1), m.group(2) or '', m.group(3)
    try:
        v = num(value)
    except ValueError:
        bad.append('line %d: bad value %r' % (i, value)); continue
    fam = family(name)
    if fam not in types:
        bad.append('line %d: %s has no TYPE before it' % (i, name))
    key = (name, labels)
    if key in seen:
        bad.append('line %d: series repeated: %s{%s}' % (i, name, labels))
    seen.add(key)
    if types.get(fam) == 'counter' and v < 0:
        bad.append('line %d: negative counter' % i)
    if types.get(fam) == 'histogram':
        lab = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', labels))
        le = lab.pop('le', None)
        h = hist.setdefault((fam, tuple(sorted(lab.items()))), {'b': [], 'count': None})
        if name.endswith('_bucket'):
            if le is None:
                bad.append('line %d: bucket without le' % i)
            else:
                h['b'].append((num(le), v))
        elif name.endswith('_count'):
            h['count'] = v
for (fam, lab), h in hist.items():
    les = [b[0] for b in h['b']]
    vals = [b[1] for b in h['b']]
    if les != sorted(les) or not les or les[-1] != float('inf'):
        bad.append('%s%s: buckets not ascending up to +Inf' % (fam, lab))
    if vals != sorted(vals):
        bad.append('%s%s: buckets not cumulative' % (fam, lab))
    if les and h['count'] != vals[-1]:
        bad.append('%s%s: +Inf bucket %s != _count %s' % (fam, lab, vals[-1], h['count']))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF

# scrape NAME: GET /metrics into $WH_TMP/metrics.NAME
scrape() {
  curl -sS -m 30 -o "$WH_TMP/metrics.$1" -w '%{http_code}' "$WH_URL/metrics" >"$WH_TMP/metrics.$1.code"
}
# metric NAME SERIES: value of one exact series (name plus labels as printed), 0 when absent
metric() {
  awk -v s="$2" 'index($0, s " ") == 1 { v = $NF } END { print (v == "" ? 0 : v) }' "$WH_TMP/metrics.$1"
}
# delta SERIES: its growth from scrape "a" to scrape "b"
delta() { echo $(($(metric b "$1") - $(metric a "$1"))); }

CFG=$WH_TMP/config.json
printf '{"log_format": "json", "timeouts": {"drain_s": 60}}\n' >"$CFG"
wh_start -c "$CFG" || wh_done

# ---- probes ----------------------------------------------------------------
wh_req GET /healthz
expect "GET /healthz is 200" 200
is "/healthz says ok" "$(cat "$H_BODY")" ok
wh_req HEAD /healthz
expect "HEAD /healthz is 200" 200
wh_req GET /readyz
expect "GET /readyz is 200 (store reachable)" 200
wh_req GET /metrics
expect "GET /metrics is 200" 200
expect_hdr "/metrics Content-Type is text format 0.0.4" Content-Type '^text/plain; version=0\.0\.4'
wh_req POST /metrics
expect "POST /metrics is 405" 405

# ---- counters move with requests ---------------------------------------------
wh_push_image app/m v1 3000 || not_ok "push app/m:v1" "$(wh_fail_diag 201)"
MSIZE=$(wh_size "$WH_MFILE")
PUSHED=$(($(wh_size "$WH_LFILE") + $(wh_size "$WH_CFILE") + MSIZE))
scrape a
is "scrape a is 200" "$(cat "$WH_TMP/metrics.a.code")" 200
is "store size: 3 blobs (layer, config, manifest)" "$(metric a wharfd_store_blobs)" 3
is "store size: their bytes" "$(metric a wharfd_store_blob_bytes)" "$PUSHED"
like "received bytes count the pushed bodies" "$(metric a wharfd_http_received_bytes_total)" '^[0-9]+$'
(($(metric a wharfd_http_received_bytes_total) >= PUSHED))
pass_if "received bytes >= the bytes pushed ($PUSHED)" $?
is "two upload sessions started" "$(metric a wharfd_upload_sessions_started_total)" 2
is "two upload sessions finished" "$(metric a wharfd_upload_sessions_finished_total)" 2
is "no upload session open" "$(metric a wharfd_upload_sessions_open)" 0

for _ in 1 2 3; do wh_req GET /v2/app/m/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"; done
wh_req HEAD /v2/app/m/manifests/v1
wh_req HEAD /v2/app/m/manifests/v1
wh_req GET /v2/app/m/manifests/nope
wh_upload_start app/m # one session left open
scrape b
S='wharfd_http_requests_total{route="manifest",method='
is "3 manifest GETs counted as 200" "$(delta "${S}\"GET\",status=\"200\"}")" 3
is "2 manifest HEADs counted as 200" "$(delta "${S}\"HEAD\",status=\"200\"}")" 2
is "1 manifest GET counted as 404" "$(delta "${S}\"GET\",status=\"404\"}")" 1
is "the scrape itself counted under route metrics" \
  "$(delta 'wharfd_http_requests_total{route="metrics",method="GET",status="200"}')" 1
is "manifest duration histogram counted 6 requests" \
  "$(delta 'wharfd_http_request_duration_seconds_count{route="manifest"}')" 6
(($(delta wharfd_http_sent_bytes_total) >= 3 * MSIZE))
pass_if "sent bytes grew by at least 3 manifests" $?
is "one more upload session started" "$(delta wharfd_upload_sessions_started_total)" 1
is "one upload session open" "$(metric b wharfd_upload_sessions_open)" 1
is "store size unchanged by reads" "$(metric b wharfd_store_blobs)" 3
is "build info" "$(metric b 'wharfd_build_info{version="'"$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$TOP_BUILDDIR/config.h")"'"}')" 1
START=$(metric b process_start_time_seconds)
NOW=$(date +%s)
((START > NOW - 3600 && START <= NOW))
pass_if "process_start_time_seconds is a recent unix time ($START)" $?
like "GC counters exported" "$(grep -c '^wharfd_gc_\(runs\|freed_bytes\)_total [0-9]*$' "$WH_TMP/metrics.b")" '^2$'
check "exposition is well-formed (every line checked)" python3 "$PROM_CHECK" "$WH_TMP/metrics.b"

# ---- the request log ---------------------------------------------------------
wh_req GET "/v2/?token=sEcReT-QuErY-42&x=1" -H "Authorization: Bearer sEcReT-BeArEr-42"
wh_req GET /v2/_catalog -u "alice:sEcReT-PaSs-42"
wh_req GET /v2/app/m/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
RID=$(wh_hdr X-Request-Id)
check "every log line is one JSON object" jq -e -s 'length > 0 and all(.[]; type == "object")' "$WH_LOG"
N=$(jq -s '[.[] | select(.msg == "request")] | length' "$WH_LOG")
((N >= 15))
pass_if "one request line per request ($N)" $?
LINE=$(jq -c --arg id "$RID" 'select(.msg == "request" and .req == $id)' "$WH_LOG")
check "the manifest GET's line has every field" jq -e --argjson size "$MSIZE" \
  '.method == "GET" and .route == "manifest" and .repository == "app/m" and .status == 200 and
   .bytes_in == 0 and .bytes_out == $size and (.duration_ms | type == "number") and
   .remote == "127.0.0.1" and has("user") and .path == "/v2/app/m/manifests/v1"' <<<"$LINE"
if grep -q 'sEcReT' "$WH_LOG"; then
  not_ok "no Authorization value or query token in the log" "$(grep 'sEcReT' "$WH_LOG" | head -n 3)"
else
  ok "no Authorization value or query token in the log"
fi

# ---- draining: /readyz 503 after SIGTERM; a second SIGTERM ends the drain --------
kill -TERM "$WH_PID"
code=
for _ in $(seq 1 100); do
  code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$WH_URL/readyz")
  [[ $code == 503 ]] && break
  sleep 0.1
done
is "/readyz is 503 while draining" "$code" 503
wh_req GET /healthz
expect "/healthz still 200 while draining" 200
wh_req GET /v2/
expect "requests still served while draining" 200
kill -TERM "$WH_PID"
wh_reap "$WH_PID" 30
is "a second SIGTERM ends the 60 s drain: wharfd exits 0" "$?:$WH_REAP_KILLED" 0:0
wh_forget "$WH_PID"

# ---- text form: one compact line per request -------------------------------------
wh_start -r "$WH_ROOT" || wh_done
wh_req GET /v2/
wh_req GET /v2/app/m/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
like "text log: one compact line per request" "$(grep 'path=/v2/app/m/manifests/v1 ' "$WH_LOG")" \
  "^[0-9T:.-]+Z info \[[0-9a-f]+\] request method=GET path=/v2/app/m/manifests/v1 status=200 route=manifest repository=app/m bytes_in=0 bytes_out=$MSIZE duration_ms=[0-9.e-]+ remote=127\.0\.0\.1$"

wh_done
