#!/bin/bash
# tests/integration/client_manage.sh - the wharf client's image management
# verbs against wharfd and CNCF Distribution: `images` lists untagged images
# (pulled by digest, or left by a moved tag) but not an index's children;
# `tags` lists local tags and, with --remote, a registry's, page after page
# (Link headers of wharfd and of docker-registry); `history` shows the
# config's history (local, --remote, json, truncation); `prune` removes only
# blobs no image uses (dry run, grace period, files gone, fsck clean) and is
# safe beside a pull running meanwhile.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
wh_start || wh_done
T=$WH_TMP
H=$WH_HOST
R=$(wf_root)
wh_add_root "$R"

# ---- an image with a history -----------------------------------------------------------
wh_rand "$T/l1" 3000
wh_rand "$T/l2" 5000
LONG="/bin/sh -c apt-get install -y a-package-with-a-very-long-name another-one and-more"
jq -cn --arg l1 "$(wh_digest "$T/l1")" --arg l2 "$(wh_digest "$T/l2")" --arg long "$LONG" \
  '{architecture: "amd64", os: "linux", created: "2024-03-01T00:00:00Z",
    rootfs: {type: "layers", diff_ids: [$l1, $l2]},
    history: [{created: "2024-01-01T00:00:00Z", created_by: "/bin/sh -c #(nop) ADD file:1 in /", comment: "base"},
              {created: "2024-02-01T00:00:00Z", created_by: "/bin/sh -c #(nop) ENV A=1", empty_layer: true},
              {created: "2024-03-01T00:00:00Z", created_by: $long}]}' >"$T/cfg"
wh_mk_manifest "$T/man" "$T/cfg" "$T/l1" "$T/l2"
wh_blob_push hist/app "$T/l1" && wh_blob_push hist/app "$T/l2" && wh_blob_push hist/app "$T/cfg" &&
  wh_manifest_push hist/app v1 "$T/man"
expect "an image with a config history pushed with curl" 201
D=$(wh_digest "$T/man")

# ---- images: untagged ------------------------------------------------------------------------
out=$(wf "$R" --quiet pull "$H/hist/app@$D" 2>"$T/err")
is "pull by digest" "$out" "$D"
wf "$R" images --format json >"$T/images"
is "images lists the image pulled by digest, tag null" \
  "$(jq -r --arg r "$H/hist/app" '[.[] | select(.repository == $r) | "\(.tag) \(.digest)"] | join(",")' "$T/images")" \
  "null $D"
like "the table shows it as <none>" "$(wf "$R" images | grep "$H/hist/app")" "^$H/hist/app +<none> +sha256:"
check "tag it" wf "$R" tag "$H/hist/app@$D" "$H/hist/app:v1"
is "once tagged it is listed once, with its tag" \
  "$(wf "$R" images --format json | jq -r --arg r "$H/hist/app" '[.[] | select(.repository == $r) | .tag] | join(",")')" v1
DM=$(mk_fixture -p -t multi "$T/multi" 2000)
wh_containers_env
SK=(timeout 120 skopeo --policy "$WH_POLICY" --tmpdir "$TMPDIR")
check "skopeo copy --all of a two-platform index into wharfd" "${SK[@]}" copy --quiet --all \
  --dest-tls-verify=false "oci:$T/multi:multi" "docker://$H/multi/app:1"
check "wharf pull of the index" wf "$R" pull --platform linux/arm64 "$H/multi/app:1"
is "an index's child is not listed on its own" \
  "$(wf "$R" images --format json | jq -r --arg r "$H/multi/app" '[.[] | select(.repository == $r) | "\(.tag) \(.digest)"] | join(",")')" \
  "1 $DM"

# ---- tags ----------------------------------------------------------------------------------
for t in t1 t2 t3 t4 t5 t6 t7; do wh_manifest_push hist/app "$t" "$T/man" || break; done
expect "seven more tags pushed with curl" 201
check "a second local tag" wf "$R" tag "$H/hist/app:v1" "$H/hist/app:v0"
is "wharf tags lists the local tags" "$(wf "$R" tags "$H/hist/app" | tr '\n' ' ')" "v0 v1 "
n_before=$(grep -c 'path=/v2/hist/app/tags/list' "$WH_LOG")
is "wharf tags --remote -n 3 follows the Link pages" "$(wf "$R" tags --remote -n 3 "$H/hist/app" | tr '\n' ' ')" \
  "t1 t2 t3 t4 t5 t6 t7 v1 "
is "in three requests" "$(($(grep -c 'path=/v2/hist/app/tags/list' "$WH_LOG") - n_before))" 3
is "wharf tags --remote --format json" \
  "$(wf "$R" tags --remote --format json "$H/hist/app" | jq -c . 2>&1)" \
  '{"name":"hist/app","tags":["t1","t2","t3","t4","t5","t6","t7","v1"]}'
wf "$R" tags --remote "$H/no/such" >/dev/null 2>"$T/err"
is "tags of an unknown repository exit 3" "$?" 3
if dr_start; then
  SAVED_URL=$WH_URL
  WH_URL=http://$DR_HOST
  wh_blob_push dr/app "$T/l1" && wh_blob_push dr/app "$T/l2" && wh_blob_push dr/app "$T/cfg"
  for t in a b c d e; do wh_manifest_push dr/app "$t" "$T/man" || break; done
  expect "five tags pushed to docker-registry with curl" 201
  WH_URL=$SAVED_URL
  # Distribution 2.8 ignores n (no pages, tags unsorted): all of them, once
  is "wharf tags --remote -n 2 against docker-registry: every tag once" \
    "$(wf "$R" tags --remote -n 2 "$DR_HOST/dr/app" | sort | tr '\n' ' ')" "a b c d e "
  dr_stop
else
  skip "tags against docker-registry" "docker-registry is not installed"
fi

# A registry of our own (python3) for the other pagination cases: pages of
# exactly n without Link (asked again with last=), a registry that ignores
# last= (no tag twice), and a Link that points at the same page (a loop).
if command -v python3 >/dev/null; then
  cat >"$T/tags.py" <<'EOF'
import http.server, json, sys, urllib.parse
TAGS = ["a1", "a2", "b1", "b2", "c1", "c2", "d1"]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        n, last, hdrs = int(q.get("n", "100")), q.get("last", ""), {}
        if u.path == "/v2/":
            body = {}
        elif u.path == "/v2/nolink/app/tags/list":
            body = {"name": "nolink/app", "tags": [t for t in TAGS if t > last][:n]}
        elif u.path == "/v2/ignore/app/tags/list":
            body = {"name": "ignore/app", "tags": TAGS[:n]}
        elif u.path == "/v2/loop/app/tags/list":
            body = {"name": "loop/app", "tags": TAGS[:n]}
            hdrs["Link"] = '<%s>; rel="next"' % self.path
        else:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        data = json.dumps(body).encode()
        self.send_response(200)
        for k, v in hdrs.items(): self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
  coproc TAGSRV { exec python3 "$T/tags.py"; }
  wh_track "$TAGSRV_PID"
  IFS= read -r -t 20 -u "${TAGSRV[0]}" TPORT
  is "without Link, pages of exactly n are followed with last=" \
    "$(wf "$R" tags --remote -n 2 "127.0.0.1:$TPORT/nolink/app" 2>&1 | tr '\n' ' ')" "a1 a2 b1 b2 c1 c2 d1 "
  is "a registry that ignores last= gives no tag twice" \
    "$(wf "$R" tags --remote -n 3 "127.0.0.1:$TPORT/ignore/app" 2>&1 | tr '\n' ' ')" "a1 a2 b1 "
  out=$(wf "$R" tags --remote -n 3 "127.0.0.1:$TPORT/loop/app" 2>&1)
  like "a Link to the same page is refused as a loop" "$out" "a loop"
  kill "$TAGSRV_PID" 2>/dev/null
else
  skip "pagination without Link" "python3 is not installed"
fi

# ---- history -----------------------------------------------------------------------------
wf "$R" history --format json "$H/hist/app:v1" >"$T/h.json"
is "history: three steps, newest first" "$(jq -r '[.[].created] | join(",")' "$T/h.json")" \
  "2024-03-01T00:00:00Z,2024-02-01T00:00:00Z,2024-01-01T00:00:00Z"
is "history: the steps with a layer get its digest and size" \
  "$(jq -r '[.[] | "\(.empty_layer) \(.digest) \(.size)"] | join(",")' "$T/h.json")" \
  "false $(wh_digest "$T/l2") 5000,true null 0,false $(wh_digest "$T/l1") 3000"
is "history: created_by and comment" "$(jq -r '.[0].created_by, .[2].comment' "$T/h.json" | tr '\n' '|')" "$LONG|base|"
is "history --remote agrees" "$(wf "$R" history --remote --format json "$H/hist/app:v1" | jq -c . 2>&1)" \
  "$(jq -c . "$T/h.json")"
wf "$R" history "$H/hist/app:v1" >"$T/h.txt"
is "history table: a header and three rows" "$(wc -l <"$T/h.txt")" 4
like "history table: long commands are cut" "$(sed -n 2p "$T/h.txt")" '\.\.\. '
like "history table: an empty layer says so" "$(sed -n 3p "$T/h.txt")" '^<empty layer> '
like "history --no-trunc shows the whole command" "$(wf "$R" history --no-trunc "$H/hist/app:v1" | sed -n 2p)" \
  "$(wh_digest "$T/l2") .*${LONG//./\\.}"
like "history of an index: the chosen platform's config" \
  "$(wf "$R" history --platform linux/arm64 --format json "$H/multi/app:1" | jq -r '.[0].digest' 2>&1)" '^sha256:'

# ---- prune ---------------------------------------------------------------------------------
D2=$(mk_fixture -t gone "$T/gone" 4000 6000)
check "skopeo copy of a second image" "${SK[@]}" copy --quiet --dest-tls-verify=false "oci:$T/gone:gone" \
  "docker://$H/gone/app:1"
check "wharf pull of it" wf "$R" pull "$H/gone/app:1"
check "wharf rmi of it" wf "$R" rmi "$H/gone/app:1"
GONE=$(blob_list "$T/gone" "$D2")
like "prune --dry-run says what would go" "$(wf "$R" prune --dry-run --grace 0 2>&1)" "^would remove 4 blobs"
ALL=0
for d in $GONE; do [[ -f $R/blobs/sha256/${d:7:2}/${d#sha256:} ]] || ALL=1; done
is "a dry run removes nothing" "$ALL" 0
like "prune keeps young blobs (default grace)" "$(wf "$R" prune 2>/dev/null)" "^removed 0 blobs"
like "prune --grace 0 removes the image's manifest, config and layers" "$(wf "$R" prune --grace 0 2>"$T/err")" \
  "^removed 4 blobs"
is "one line per blob removed on stderr" "$(grep -c '^deleted sha256:' "$T/err")" 4
ALL=0
for d in $GONE; do [[ -e $R/blobs/sha256/${d:7:2}/${d#sha256:} ]] && ALL=1; done
is "their files are gone" "$ALL" 0
is "the other images are intact" "$(wf "$R" inspect --raw "$H/hist/app:v1" | wh_digest /dev/stdin)" "$D"
check "and every blob of theirs readable (save them)" wf "$R" save -o "$T/after-prune" "$H/hist/app:v1" \
  "$H/multi/app:1"
like "a second prune has nothing to do" "$(wf "$R" prune --grace 0 2>/dev/null)" "^removed 0 blobs"

# prune beside a pull: what the pull stored and has not used yet is young, so kept
DB=$(mk_fixture -t busy "$T/busy" 3000000 3000000 3000000)
check "skopeo copy of a third image" "${SK[@]}" copy --quiet --dest-tls-verify=false "oci:$T/busy:busy" \
  "docker://$H/busy/app:1"
wf "$R" --quiet pull "$H/busy/app:1" >"$T/pull.out" 2>"$T/pull.err" &
PULL=$!
wh_track "$PULL"
n=0
while wh_running "$PULL" && ((n < 200)); do
  wf "$R" --quiet prune --grace 60 >/dev/null 2>>"$T/prune.err" || break
  n=$((n + 1))
done
wh_reap "$PULL" 60
is "a pull running beside repeated prunes succeeds" "$?:$(cat "$T/pull.out")" "0:$DB"
pass_if "prune ran meanwhile without failing" "$([[ ! -s $T/prune.err ]]; echo $?)" "$(head -n 3 "$T/prune.err")"
diag "prunes during the pull: $n"
out=$(wh_fsck "$R")
pass_if "the local store is consistent after all that (fsck)" "$?" "$out"

wh_done
