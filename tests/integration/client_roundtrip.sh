#!/bin/bash
# tests/integration/client_roundtrip.sh - the wharf client against wharfd:
# skopeo copy of a fixture -> wharfd -> wharf pull; wharf push -> wharfd ->
# wharf pull into a second fresh store (digests identical); a big layer
# pushed in chunks; a multi-platform index (host platform, --platform, a
# refused sparse push, a full push); a Docker schema 2 image pulled and
# re-pushed unchanged; tag, untag, images, inspect, rmi; a missing tag.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
if ! command -v skopeo >/dev/null; then
  skip "wharf client round trips" "skopeo is not installed (deploy/install-deps --test installs it)"
  wh_done
fi
wh_start || wh_done
wh_containers_env
T=$WH_TMP
SK=(timeout 120 skopeo --policy "$WH_POLICY" --tmpdir "$TMPDIR")
H=$WH_HOST
R1=$(wf_root)
R2=$(wf_root)

# store_has ROOT DIGEST: the local store holds that blob with the right bytes
store_has() {
  local f=$1/blobs/sha256/${2:7:2}/${2#sha256:}
  [[ -f $f && $(wh_digest "$f") == "$2" ]]
}

# ---- skopeo -> wharfd -> wharf pull -----------------------------------------
D1=$(mk_fixture -t v1 "$T/src" 1024 102400 1572864)
check "skopeo copy of the fixture into wharfd" "${SK[@]}" copy --quiet --dest-tls-verify=false \
  "oci:$T/src:v1" "docker://$H/sk/app:v1"
out=$(wf "$R1" --quiet pull "$H/sk/app:v1" 2>"$T/err")
is "wharf pull --quiet prints only the manifest digest" "$out" "$D1"
ALLOK=0
for d in $(blob_list "$T/src" "$D1"); do store_has "$R1" "$d" || { ALLOK=1; diag "missing $d"; }; done
is "the local store has the manifest, config and every layer" "$ALLOK" 0
wf "$R1" images --format json >"$T/images" 2>&1
is "wharf images --format json lists the pulled image" \
  "$(jq -r --arg r "$H/sk/app" '.[] | select(.repository == $r) | "\(.tag) \(.digest)"' "$T/images" 2>&1)" "v1 $D1"
is "wharf images: created comes from the config" "$(jq -r '.[0].created' "$T/images" 2>&1)" "1970-01-01T00:00:00Z"
wf "$R1" inspect --raw "$H/sk/app:v1" >"$T/raw"
is "wharf inspect --raw gives the exact manifest bytes" "$(wh_digest "$T/raw")" "$D1"
is "wharf inspect shows the config" "$(wf "$R1" inspect "$H/sk/app:v1" | jq -r '.config.architecture' 2>&1)" amd64
is "wharf inspect --remote agrees" "$(wf "$R1" inspect --remote "$H/sk/app:v1" | jq -r .digest 2>&1)" "$D1"

# ---- wharf push -> wharfd -> wharf pull into a fresh store -------------------
check "wharf tag into another repository" wf "$R1" tag "$H/sk/app:v1" "$H/wf/copy:c1"
out=$(wf "$R1" push "$H/wf/copy:c1" 2>"$T/err")
like "wharf push prints the digest" "$out" "digest: $D1"
like "wharf push mounts blobs the registry has in another repository" "$(cat "$T/err")" "mounted sha256:"
wh_req HEAD "/v2/wf/copy/manifests/c1" -H "Accept: $MT_OCI_MANIFEST"
expect_hdr "wharfd has the pushed manifest, same digest" Docker-Content-Digest "^$D1\$"
out=$(wf "$R2" --quiet pull "$H/wf/copy:c1" 2>"$T/err")
is "wharf pull into a second fresh store: same digest" "$out" "$D1"
ALLOK=0
for d in $(blob_list "$T/src" "$D1"); do store_has "$R2" "$d" || { ALLOK=1; diag "missing $d"; }; done
is "the second store has identical blobs" "$ALLOK" 0
wf "$R2" pull "$H/wf/copy:c1" >/dev/null 2>"$T/err"
is "a second pull downloads nothing" "$(grep -c '^pulled' "$T/err")" 0

# ---- a big layer: chunked upload ----------------------------------------------
DB=$(mk_fixture -t big "$T/big" 40000000)
check "skopeo copy of a 40 MB layer into wharfd" "${SK[@]}" copy --quiet --dest-tls-verify=false \
  "oci:$T/big:big" "docker://$H/sk/big:1"
check "wharf pull of the big image" wf "$R1" pull "$H/sk/big:1"
R3=$(wf_root)
check "pull it into a store that knows no other repository" wf "$R3" pull "$H/sk/big:1"
check "tag it for a new repository" wf "$R3" tag "$H/sk/big:1" "localhost:$WH_PORT/chunked/big:1"
n_before=$(grep -c 'method=PATCH path=/v2/chunked/' "$WH_LOG")
out=$(wf "$R3" push "localhost:$WH_PORT/chunked/big:1" 2>"$T/err")
like "wharf push of a 40 MB layer" "$out" "digest: $DB"
n_after=$(grep -c 'method=PATCH path=/v2/chunked/' "$WH_LOG")
pass_if "the big layer went up in PATCH chunks" "$([[ $((n_after - n_before)) -ge 2 ]]; echo $?)" \
  "PATCH requests: $((n_after - n_before))"
out=$(wf "$(wf_root)" --quiet pull "$H/chunked/big:1" 2>"$T/err")
is "the chunked upload pulls back with the same digest" "$out" "$DB"

# ---- a multi-platform index -------------------------------------------------------
DM=$(mk_fixture -p -t multi "$T/multi" 2048 4096)
check "skopeo copy --all of a two-platform index into wharfd" "${SK[@]}" copy --quiet --all \
  --dest-tls-verify=false "oci:$T/multi:multi" "docker://$H/sk/multi:1"
R4=$(wf_root)
out=$(wf "$R4" --quiet pull --platform linux/amd64 "$H/sk/multi:1" 2>"$T/err")
is "wharf pull of an index prints the index digest" "$out" "$DM"
is "inspect: the amd64 image was chosen" "$(wf "$R4" inspect "$H/sk/multi:1" | jq -r .config.architecture 2>&1)" amd64
out=$(wf "$R4" push "$H/sk/multi:1" 2>&1)
st=$?
pass_if "pushing an index with a missing platform is refused" "$([[ $st != 0 ]]; echo $?)"
like "the refusal names the missing child" "$out" "not stored locally"
check "wharf pull --platform linux/arm64 of the same index" wf "$R4" pull --platform linux/arm64 "$H/sk/multi:1"
is "inspect --platform linux/arm64" \
  "$(wf "$R4" inspect --platform linux/arm64 "$H/sk/multi:1" | jq -r .config.architecture 2>&1)" arm64
check "tag the complete index into another repository" wf "$R4" tag "$H/sk/multi:1" "$H/wf/multi:2"
out=$(wf "$R4" --quiet push "$H/wf/multi:2" 2>"$T/err")
is "push of the complete index" "$out" "$DM"
wh_req HEAD "/v2/wf/multi/manifests/2" -H "Accept: $MT_OCI_INDEX"
expect_hdr "wharfd has the index, same digest" Docker-Content-Digest "^$DM\$"

# ---- Docker schema 2 -----------------------------------------------------------------
wh_rand "$T/dl" 5000
gzip -n -c "$T/dl" >"$T/dl.gz"
wh_mk_config "$T/dc" "$T/dl"
wh_mk_manifest "$T/dm" -t "$MT_DOCKER_MANIFEST" "$T/dc" "$T/dl.gz"
wh_blob_push docker/app "$T/dl.gz" && wh_blob_push docker/app "$T/dc" && wh_manifest_push docker/app d1 "$T/dm"
expect "a Docker schema 2 image pushed with curl" 201
DD=$(wh_digest "$T/dm")
out=$(wf "$R2" --quiet pull "$H/docker/app:d1" 2>"$T/err")
is "wharf pull of a Docker schema 2 image" "$out" "$DD"
check "tag it" wf "$R2" tag "$H/docker/app:d1" "$H/docker/copy:d1"
check "wharf push of the Docker image" wf "$R2" push "$H/docker/copy:d1"
wh_req GET "/v2/docker/copy/manifests/d1" -H "Accept: $MT_DOCKER_MANIFEST"
is "re-pushed unchanged: same bytes" "$(wh_digest "$H_BODY")" "$DD"
expect_hdr "re-pushed unchanged: same media type" Content-Type "^application/vnd\\.docker\\.distribution\\.manifest\\.v2\\+json"

# ---- tag, untag, rmi, errors ---------------------------------------------------------------
check "wharf untag" wf "$R2" untag "$H/wf/copy:c1"
wf "$R2" images --format json >"$T/images"
is "an untagged image is listed without a tag" \
  "$(jq -r --arg r "$H/wf/copy" '[.[] | select(.repository == $r) | "\(.tag) \(.digest)"] | join(",")' "$T/images")" \
  "null $D1"
is "it is still there by digest" "$(wf "$R2" inspect "$H/wf/copy@$D1" | jq -r .digest 2>&1)" "$D1"
check "wharf rmi by digest" wf "$R2" rmi "$H/wf/copy@$D1"
wf "$R2" inspect "$H/wf/copy@$D1" >/dev/null 2>&1
is "after rmi the manifest is gone (exit 3)" "$?" 3
check "a second tag on the Docker image" wf "$R2" tag "$H/docker/copy:d1" "$H/docker/copy:d2"
like "rmi of a tag whose manifest has another tag only untags" "$(wf "$R2" rmi "$H/docker/copy:d1" 2>&1)" "^untagged "
is "the other tag still resolves" "$(wf "$R2" inspect "$H/docker/copy:d2" | jq -r .digest 2>&1)" "$DD"
like "rmi of the last tag deletes" "$(wf "$R2" rmi "$H/docker/copy:d2" 2>&1)" "^deleted "
wf "$R2" untag "$H/wf/copy:c1" 2>"$T/err"
is "untag of an unknown tag exits 3" "$?" 3
wf "$R2" pull "$H/sk/app:nope" >/dev/null 2>"$T/err"
is "pull of a missing tag exits 3" "$?" 3
like "with one clear line" "$(cat "$T/err")" "^wharf: pull \"$H/sk/app:nope\": manifest: .*(HTTP 404)"
wf "$R2" pull "Not/Valid" >/dev/null 2>"$T/err"
is "an invalid reference exits 1" "$?" 1
wf "$R2" pull >/dev/null 2>&1
is "a missing argument is a usage error (exit 2)" "$?" 2
like "wharf help pull" "$("$WHARF" help pull)" "^usage: wharf pull"

wh_done
