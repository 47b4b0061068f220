#!/bin/bash
# tests/integration/api_errors.sh - hostile and wrong input against wharfd.
# Every error must be the spec's JSON ({"errors":[{"code","message"}]}) with
# the right status and code, never a 500, and a failed push must leave
# nothing behind (HEAD 404). Covers: path traversal and invalid names, bad
# digests, pagination numbers, wrong digests in every push mode, out of order
# and overlapping chunks, invalid manifests (JSON, schema 1, media type
# mismatch, CVE-2021-41190 ambiguous documents, missing blobs, digest
# mismatch, oversized), invalid tags, unknown names, wrong methods, the
# configured limits, and a stalled client with timeouts.connection_s.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
wh_start || wh_done
T=$WH_TMP
Z64=$(printf '%064d' 0)
ACCEPT="Accept: $MT_OCI_MANIFEST, $MT_OCI_INDEX, $MT_DOCKER_MANIFEST, $MT_DOCKER_LIST"

# a repository with one image and a few tags to work against
wh_push_image good v1
expect "setup: push an image" 201
GOODM=$WH_MFILE
GOODL=$WH_LFILE
GOODC=$WH_CFILE
for t in v2 v3 v4 v5 v6 v7; do wh_manifest_push good "$t" "$GOODM" || break; done
expect "setup: tag it seven times" 201

alive() {
  wh_req GET /v2/
  expect "wharfd still answers /v2/ after: $1" 200
}

# ---- names -------------------------------------------------------------------
wh_req GET "/v2/../etc/blobs/sha256:$Z64"
expect_err "GET /v2/../etc/blobs/... is 400 NAME_INVALID" 400 NAME_INVALID
wh_req GET /v2/a/../b/manifests/x
expect_err "GET /v2/a/../b/manifests/x is 400 NAME_INVALID" 400 NAME_INVALID
wh_req GET /v2/%2e%2e/etc/manifests/x
expect_err "GET /v2/%2e%2e/etc/manifests/x is 400 NAME_INVALID" 400 NAME_INVALID
wh_req GET /v2/good/%2e%2e/%2e%2e/manifests/v1
expect_err "GET /v2/good/%2e%2e/%2e%2e/manifests/v1 is 400 NAME_INVALID" 400 NAME_INVALID
wh_req GET /v2/good%2fv1/manifests/v1
expect_err "an encoded slash in a name is 400 NAME_INVALID" 400 NAME_INVALID
wh_req POST /v2/../../escape/blobs/uploads/ -H 'Content-Length: 0'
expect_err "POST upload under ../../escape is 400 NAME_INVALID" 400 NAME_INVALID
wh_req PUT /v2/../../escape/manifests/v1 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$GOODM"
expect_err "PUT manifest under ../../escape is 400 NAME_INVALID" 400 NAME_INVALID
check "nothing was created outside the store root" test ! -e "$T/escape" -a ! -e "${T%/*}/escape"
wh_req GET /v2/Good/manifests/v1
expect_err "an uppercase name is 400 NAME_INVALID" 400 NAME_INVALID
wh_req POST /v2/UPPER/blobs/uploads/ -H 'Content-Length: 0'
expect_err "POST upload to an uppercase name is 400 NAME_INVALID" 400 NAME_INVALID
LONG=$(printf 'a%.0s' $(seq 256))
wh_req GET "/v2/$LONG/tags/list"
expect_err "a 256-character name is 400 NAME_INVALID" 400 NAME_INVALID
wh_req POST "/v2/$LONG/blobs/uploads/" -H 'Content-Length: 0'
expect_err "POST upload to a 256-character name is 400 NAME_INVALID" 400 NAME_INVALID
for bad in -a a- a__-b .a a//b 'a%20b' 'a:b'; do
  wh_req GET "/v2/$bad/tags/list"
  expect_err "name '$bad' is 400 NAME_INVALID" 400 NAME_INVALID
done
wh_req GET /v2/a%00b/tags/list
expect_err "a NUL byte in a name is 400 NAME_INVALID" 400 NAME_INVALID
wh_req GET "/v2/$(printf 'a/%.0s' $(seq 4000))b/tags/list"
expect "an 8 KiB path is refused with a 4xx" '4[0-9][0-9]'
# past the per-connection memory: a 256 KiB URL and a 256 KiB header
exec {S}<>"/dev/tcp/127.0.0.1/$WH_PORT"
# in a subshell: the server may answer and close before the last byte, and
# the SIGPIPE that follows must end the writer, not the test
(printf 'GET /v2/good/tags/list?x=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' \
  "$(head -c 262144 /dev/zero | tr '\0' y)" >&"$S") 2>/dev/null || true
LINE=$(timeout 10 head -n 1 <&"$S" | tr -d '\r')
exec {S}<&-
like "a 256 KiB URL is refused with a 4xx (or the connection is closed)" "$LINE" '^(HTTP/1\.[01] 4[0-9][0-9].*)?$'
printf 'X-Big: %s\r\n' "$(head -c 262144 /dev/zero | tr '\0' z)" >"$T/bighdr"
wh_req GET /v2/ -H "@$T/bighdr"
expect "a 256 KiB header is refused with a 4xx" '4[0-9][0-9]'
alive "name attacks"

# ---- digests -----------------------------------------------------------------
for d in "sha256:$(printf 'A%.0s' $(seq 64))" sha256:abc "sha256:${Z64:1}" "sha256:${Z64}0" \
  "sha256:$(printf 'z%.0s' $(seq 64))" sha256: "$Z64" "sha512:$Z64" "SHA256:$Z64"; do
  wh_req GET "/v2/good/blobs/$d"
  expect_err "GET blob with digest '${d:0:20}...' (len ${#d}) is 400 DIGEST_INVALID" 400 DIGEST_INVALID
done
wh_req GET "/v2/good/blobs/md5:d41d8cd98f00b204e9800998ecf8427e"
expect_err "GET blob with an unknown algorithm is 400" 400 'DIGEST_INVALID|UNSUPPORTED'
wh_req HEAD "/v2/good/blobs/sha256:abc"
expect "HEAD blob with a short digest is 400" 400
wh_req DELETE "/v2/good/blobs/sha256:abc"
expect_err "DELETE blob with a short digest is 400 DIGEST_INVALID" 400 DIGEST_INVALID
wh_upload_start good
wh_req PUT "$(wh_q "$WH_LOC" "digest=sha256:abc")" -H 'Content-Type: application/octet-stream' --data-binary "@$GOODL"
expect_err "closing PUT with a malformed digest is 400 DIGEST_INVALID" 400 DIGEST_INVALID
wh_upload_start good
wh_req PUT "$WH_LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$GOODL"
expect_err "closing PUT without ?digest= is 400 DIGEST_INVALID" 400 DIGEST_INVALID
wh_req GET "/v2/good/referrers/sha256:abc"
expect_err "referrers of a malformed digest is 400" 400 ''
wh_req GET "/v2/good/manifests/sha256:$(printf 'A%.0s' $(seq 64))" -H "$ACCEPT"
expect_err "GET manifest with an uppercase-hex digest is 400 DIGEST_INVALID" 400 DIGEST_INVALID
alive "digest attacks"

# ---- pagination --------------------------------------------------------------
wh_req GET '/v2/good/tags/list?n=1000000'
expect "tags/list?n=1000000 is 200 (clamped, not an error)" 200
is "n=1000000 returns every tag" "$(jq -r '.tags | length' "$H_BODY" 2>&1)" 7
wh_req GET '/v2/good/tags/list?n=4294967297'
expect "tags/list?n=2^32+1 is 200 (no wrap-around)" 200
is "n=2^32+1 returns every tag" "$(jq -r '.tags | length' "$H_BODY" 2>&1)" 7
wh_req GET '/v2/good/tags/list?n=-1'
expect_err "tags/list?n=-1 is 400 PAGINATION_NUMBER_INVALID" 400 PAGINATION_NUMBER_INVALID
wh_req GET '/v2/good/tags/list?n=abc'
expect_err "tags/list?n=abc is 400 PAGINATION_NUMBER_INVALID" 400 PAGINATION_NUMBER_INVALID
wh_req GET '/v2/good/tags/list?n=3x'
expect_err "tags/list?n=3x is 400 PAGINATION_NUMBER_INVALID" 400 PAGINATION_NUMBER_INVALID
wh_req GET '/v2/_catalog?n=-1'
expect_err "_catalog?n=-1 is 400 PAGINATION_NUMBER_INVALID" 400 PAGINATION_NUMBER_INVALID
wh_req GET '/v2/_catalog?n=abc'
expect_err "_catalog?n=abc is 400 PAGINATION_NUMBER_INVALID" 400 PAGINATION_NUMBER_INVALID

# ---- wrong digest in every push mode ------------------------------------------------
wh_rand "$T/x" 4000
wh_rand "$T/y" 4000
DX=$(wh_digest "$T/x")
DY=$(wh_digest "$T/y")
nothing_stored() { # nothing_stored LABEL
  wh_req HEAD "/v2/push/blobs/$DX"
  expect "$1: the content's digest is not stored (HEAD 404)" 404
  wh_req HEAD "/v2/push/blobs/$DY"
  expect "$1: the claimed digest is not stored (HEAD 404)" 404
}
wh_upload_start push
expect "POST upload for a wrong-digest monolithic PUT" 202
LOC=$WH_LOC
wh_req PUT "$(wh_q "$LOC" "digest=$DY")" -H 'Content-Type: application/octet-stream' --data-binary "@$T/x"
expect_err "monolithic PUT with the wrong digest is 400 DIGEST_INVALID" 400 DIGEST_INVALID
nothing_stored "monolithic"
wh_req GET "$LOC"
expect_err "the session of a rejected PUT is gone (404 BLOB_UPLOAD_UNKNOWN)" 404 BLOB_UPLOAD_UNKNOWN
wh_req POST "/v2/push/blobs/uploads/?digest=$DY" -H 'Content-Type: application/octet-stream' --data-binary "@$T/x"
expect_err "single POST with the wrong digest is 400 DIGEST_INVALID" 400 DIGEST_INVALID
nothing_stored "single POST"
wh_upload_start push
LOC=$WH_LOC
head -c 2000 "$T/x" >"$T/x1"
tail -c +2001 "$T/x" >"$T/x2"
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-1999' --data-binary "@$T/x1"
expect "chunk 1 of a wrong-digest chunked upload" 202
LOC=$(wh_loc)
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 2000-3999' --data-binary "@$T/x2"
expect "chunk 2 of a wrong-digest chunked upload" 202
LOC=$(wh_loc)
wh_req PUT "$(wh_q "$LOC" "digest=$DY")" -H 'Content-Length: 0'
expect_err "chunked closing PUT with the wrong digest is 400 DIGEST_INVALID" 400 DIGEST_INVALID
nothing_stored "chunked"
wh_upload_start push
LOC=$WH_LOC
wh_req PUT "$(wh_q "$LOC" "digest=$DX")" -H 'Content-Type: application/octet-stream' \
  -H 'Content-Range: 0-1999' --data-binary "@$T/x1"
expect_err "closing PUT with only part of the bytes is 400 DIGEST_INVALID" 400 DIGEST_INVALID
nothing_stored "truncated"

# ---- chunk games -----------------------------------------------------------------
wh_upload_start push
LOC=$WH_LOC
head -c 1000 "$T/x" >"$T/k1"
tail -c +1001 "$T/x" | head -c 1000 >"$T/k2"
head -c 2000 "$T/x" >"$T/k12"
head -c 500 "$T/x" >"$T/k0"
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-999' --data-binary "@$T/k1"
expect "first chunk 0-999 is 202" 202
LOC=$(wh_loc)
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 2000-2999' --data-binary "@$T/k2"
expect "a chunk leaving a gap (2000-2999) is 416" 416
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 500-1499' --data-binary "@$T/k2"
expect "an overlapping chunk (500-1499) is 416" 416
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-999' --data-binary "@$T/k1"
expect "the same chunk again (0-999) is 416" 416
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 1000-1999' --data-binary "@$T/k0"
expect_err "Content-Range 1000-1999 with a 500-byte body is 400 or 416" '400|416' ''
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 1000-abc' --data-binary "@$T/k2"
expect "a malformed Content-Range (1000-abc) is 416 or 400" '400|416'
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 1000' --data-binary "@$T/k2"
expect "a malformed Content-Range (1000) is 416 or 400" '400|416'
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 1999-1000' --data-binary "@$T/k2"
expect "a reversed Content-Range is 416 or 400" '400|416'
wh_req GET "$LOC"
expect "after the rejected chunks the session is still open (204)" 204
expect_hdr "... and holds exactly the first chunk (Range 0-999)" Range '^(bytes=)?0-999$'
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 1000-1999' --data-binary "@$T/k2"
expect "the right next chunk (1000-1999) is 202" 202
LOC=$(wh_loc)
wh_req PUT "$(wh_q "$LOC" "digest=$(wh_digest "$T/k12")")" -H 'Content-Length: 0'
expect "the upload completes after the chunk games (201)" 201
wh_req GET "/v2/push/blobs/$(wh_digest "$T/k12")"
check "the blob holds exactly the accepted chunks" cmp -s "$H_BODY" "$T/k12"
alive "chunk games"

# ---- manifests -----------------------------------------------------------------
put_manifest() { # put_manifest REF FILE CONTENT-TYPE
  wh_req PUT "/v2/good/manifests/$1" -H "Content-Type: $3" --data-binary "@$2"
}
printf '{"schemaVersion": 2, "mediaType": ' >"$T/badjson"
put_manifest bad "$T/badjson" "$MT_OCI_MANIFEST"
expect_err "invalid JSON manifest is 400 MANIFEST_INVALID" 400 MANIFEST_INVALID
is "error responses are application/json" "$(wh_hdr Content-Type | sed 's/;.*//')" application/json
printf '[1, 2, 3]' >"$T/array"
put_manifest bad "$T/array" "$MT_OCI_MANIFEST"
expect_err "a JSON array as manifest is 400 MANIFEST_INVALID" 400 MANIFEST_INVALID
: >"$T/emptybody"
put_manifest bad "$T/emptybody" "$MT_OCI_MANIFEST"
expect_err "an empty manifest body is 400 MANIFEST_INVALID" 400 MANIFEST_INVALID
jq -c '.schemaVersion = 1' "$GOODM" >"$T/sv1"
put_manifest bad "$T/sv1" "$MT_OCI_MANIFEST"
expect_err "schemaVersion 1 is 400 MANIFEST_INVALID" 400 MANIFEST_INVALID
printf '{"schemaVersion":1,"name":"good","tag":"bad","architecture":"amd64","fsLayers":[],"history":[]}' >"$T/s1"
put_manifest bad "$T/s1" application/vnd.docker.distribution.manifest.v1+json
expect_err "a Docker schema 1 manifest is refused (400)" 400 'MANIFEST_INVALID|UNSUPPORTED'
put_manifest bad "$GOODM" "$MT_DOCKER_MANIFEST"
expect_err "body mediaType != Content-Type is 400 MANIFEST_INVALID" 400 MANIFEST_INVALID
jq -c 'del(.mediaType) + {manifests: [.config]}' "$GOODM" >"$T/ambig"
put_manifest bad "$T/ambig" "$MT_OCI_MANIFEST"
expect_err "CVE-2021-41190: manifests+layers without mediaType as a manifest is 400" 400 MANIFEST_INVALID
put_manifest bad "$T/ambig" "$MT_OCI_INDEX"
expect_err "CVE-2021-41190: the same document as an index is 400" 400 MANIFEST_INVALID
jq -c '.mediaType = "'"$MT_OCI_INDEX"'"' "$GOODM" >"$T/wrongkind"
put_manifest bad "$T/wrongkind" "$MT_OCI_INDEX"
expect_err "an image manifest labelled as an index is 400 MANIFEST_INVALID" 400 MANIFEST_INVALID
wh_rand "$T/nolayer" 100
wh_mk_manifest "$T/miss-layer" "$GOODC" "$T/nolayer"
put_manifest bad "$T/miss-layer" "$MT_OCI_MANIFEST"
expect_err "a missing layer blob is 400 MANIFEST_BLOB_UNKNOWN" 400 MANIFEST_BLOB_UNKNOWN
wh_mk_manifest "$T/miss-config" "$T/nolayer" "$GOODL"
put_manifest bad "$T/miss-config" "$MT_OCI_MANIFEST"
expect_err "a missing config blob is 400 MANIFEST_BLOB_UNKNOWN" 400 MANIFEST_BLOB_UNKNOWN
wh_req HEAD /v2/good/manifests/bad -H "$ACCEPT"
expect "none of the rejected manifests created tag 'bad'" 404
wh_req PUT "/v2/good/manifests/$DY" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$GOODM"
expect_err "PUT manifest by a digest that does not match the body is 400 DIGEST_INVALID" 400 DIGEST_INVALID
wh_req HEAD "/v2/good/manifests/$DY" -H "$ACCEPT"
expect "... and nothing is stored under that digest" 404
head -c $((4 * 1024 * 1024)) /dev/zero | tr '\0' x >"$T/pad"
jq -c --rawfile pad "$T/pad" '.annotations = {pad: $pad}' "$GOODM" >"$T/huge"
put_manifest huge "$T/huge" "$MT_OCI_MANIFEST"
expect_err "a manifest over 4 MiB is 413" 413 ''
alive "an oversized manifest"
for t in -x .x "$(printf 'a%.0s' $(seq 129))" 'a%2Fb' 'a@b'; do
  put_manifest "$t" "$GOODM" "$MT_OCI_MANIFEST"
  expect_err "PUT manifest with invalid tag '${t:0:12}' is 400 TAG_INVALID" 400 TAG_INVALID
done
wh_req PUT "/v2/good/manifests/$(wh_digest "$GOODM")?tag=ok1&tag=-bad" -H "Content-Type: $MT_OCI_MANIFEST" \
  --data-binary "@$GOODM"
expect_err "PUT by digest with an invalid ?tag= is 400 TAG_INVALID" 400 TAG_INVALID
wh_req HEAD /v2/good/manifests/ok1 -H "$ACCEPT"
expect "... and the valid tag of that request was not applied either" 404
wh_req GET /v2/good/manifests/nosuchtag -H "$ACCEPT"
expect_err "unknown tag is 404 MANIFEST_UNKNOWN" 404 MANIFEST_UNKNOWN
wh_req GET "/v2/good/manifests/sha256:$Z64" -H "$ACCEPT"
expect_err "unknown manifest digest is 404 MANIFEST_UNKNOWN" 404 MANIFEST_UNKNOWN
wh_req HEAD /v2/good/manifests/nosuchtag -H "$ACCEPT"
expect "HEAD of an unknown tag is 404" 404
wh_req GET /v2/nosuchrepo/tags/list
expect_err "tags/list of an unknown repository is 404 NAME_UNKNOWN" 404 NAME_UNKNOWN
wh_req GET /v2/nosuchrepo/manifests/v1 -H "$ACCEPT"
expect_err "manifest of an unknown repository is 404" 404 'NAME_UNKNOWN|MANIFEST_UNKNOWN'
wh_req GET "/v2/nosuchrepo/blobs/sha256:$Z64"
expect_err "blob of an unknown repository is 404" 404 'NAME_UNKNOWN|BLOB_UNKNOWN'
wh_req GET "/v2/good/blobs/sha256:$Z64"
expect_err "unknown blob is 404 BLOB_UNKNOWN" 404 BLOB_UNKNOWN
wh_req GET /v2/good/blobs/uploads/0123456789abcdef0123456789abcdef
expect_err "unknown upload id is 404 BLOB_UPLOAD_UNKNOWN" 404 BLOB_UPLOAD_UNKNOWN
wh_req PATCH /v2/good/blobs/uploads/../../../etc -H 'Content-Type: application/octet-stream' --data-binary "@$T/k1"
expect "PATCH to a traversal upload id is 4xx" '400|404'
wh_req DELETE /v2/good/manifests/nosuchtag
expect_err "DELETE of an unknown tag is 404 MANIFEST_UNKNOWN" 404 MANIFEST_UNKNOWN
alive "manifest attacks"

# ---- wrong methods -----------------------------------------------------------------
for mp in "POST /v2/good/manifests/v2" "PATCH /v2/good/manifests/v2" "PUT /v2/good/tags/list" \
  "DELETE /v2/good/tags/list" "PUT /v2/" "DELETE /v2/" "PATCH /v2/good/blobs/sha256:$Z64" \
  "POST /v2/good/blobs/sha256:$Z64" "PUT /v2/_catalog"; do
  wh_req ${mp% *} "${mp#* }" -H 'Content-Length: 0'
  expect_err "${mp:0:40} is 405 with an error body" 405 ''
done
alive "wrong methods"

# ---- configured limits and a stalled client ------------------------------------------
cat >"$T/limits.json" <<EOF
{"log_level": "debug",
 "sparse_index": true,
 "limits": {"max_manifest_bytes": 4096, "max_blob_bytes": 8192, "max_tag_list_n": 3, "chunk_min_length": 1024,
            "max_connections": 6},
 "timeouts": {"connection_s": 2}}
EOF
wh_start -c "$T/limits.json" || wh_done
wh_req POST /v2/lim/blobs/uploads/ -H 'Content-Length: 0'
expect_hdr "POST uploads announces limits.chunk_min_length" OCI-Chunk-Min-Length '^1024$'
wh_rand "$T/big" 10000
wh_blob_push lim "$T/big"
expect_err "a blob over limits.max_blob_bytes is 413" 413 ''
wh_req HEAD "/v2/lim/blobs/$(wh_digest "$T/big")"
expect "... and is not stored" 404
wh_rand "$T/big" 8192
wh_blob_push lim "$T/big"
expect "a blob of exactly limits.max_blob_bytes is 201" 201
wh_push_image lim t0
expect "setup: an image on the limited server" 201
LM=$WH_MFILE
for t in t1 t2 t3 t4 t5; do wh_manifest_push lim "$t" "$LM" || break; done
expect "setup: six tags" 201
head -c 5000 /dev/zero | tr '\0' x >"$T/pad"
jq -c --rawfile pad "$T/pad" '.annotations = {pad: $pad}' "$LM" >"$T/big.m"
wh_req PUT /v2/lim/manifests/big -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$T/big.m"
expect_err "a manifest over limits.max_manifest_bytes is 413" 413 ''
wh_rand "$T/ghost.l" 100
wh_mk_config "$T/ghost.c" "$T/ghost.l"
wh_mk_manifest "$T/ghost.m" "$T/ghost.c" "$T/ghost.l"
wh_mk_index "$T/sparse" "$LM::amd64" "$T/ghost.m::arm64"
wh_manifest_push lim sparse "$T/sparse"
expect "with sparse_index an index with a missing child is accepted (201)" 201
wh_req GET /v2/lim/manifests/sparse -H "$ACCEPT"
check "... and reads back exactly" cmp -s "$H_BODY" "$T/sparse"
wh_req DELETE /v2/lim/manifests/sparse
expect "setup: delete its tag again" 202
wh_req GET '/v2/lim/tags/list?n=1000'
expect "tags/list?n=1000 with max_tag_list_n=3 is 200" 200
is "n is clamped to max_tag_list_n" "$(jq -r '.tags | join(" ")' "$H_BODY" 2>&1)" "t0 t1 t2"
expect_hdr "a clamped page has a Link to the rest" Link 'last=t2'

# a client that sends half a request and stalls
exec {S}<>"/dev/tcp/127.0.0.1/$WH_PORT"
printf 'GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Stall: ' >&"$S"
T0=$(date +%s%N)
wh_upload_start lim
expect "setup: an upload session for a stalled PATCH" 202
SPATH=${WH_LOC#"$WH_URL"}
exec {S2}<>"/dev/tcp/127.0.0.1/$WH_PORT"
printf 'PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n0123456789' \
  "$SPATH" >&"$S2"
wh_req GET /v2/
expect "a normal request is served while two clients stall" 200
timeout 10 cat <&"$S" >/dev/null
ST=$?
T1=$(date +%s%N)
is "the server closes the stalled half-header connection" "$ST" 0
MS=$(((T1 - T0) / 1000000))
like "... after about timeouts.connection_s (2 s), not at once (${MS} ms)" "$MS" '^(1[5-9][0-9]{2}|[2-8][0-9]{3})$'
timeout 10 cat <&"$S2" >/dev/null
is "the server closes the stalled half-body connection" "$?" 0
exec {S}<&- {S2}<&-
wh_req GET /v2/
expect "wharfd still serves after closing stalled clients" 200
wh_rand "$T/after" 3000
wh_blob_push lim "$T/after"
expect "uploads still work after a stalled PATCH" 201
# the session of the stalled PATCH: it must hold all or none of the 10 bytes
# sent, say so in its Range, and resume from there
wh_req GET "$WH_URL$SPATH"
expect "the session of the stalled PATCH survives (204)" 204
R=$(wh_hdr Range)
OFF=0
[[ $R =~ ^(bytes=)?0-([0-9]+)$ ]] && ((BASH_REMATCH[2] > 0)) && OFF=$((BASH_REMATCH[2] + 1))
like "it holds all or none of the stalled bytes (Range '$R')" "$OFF" '^(0|10)$'
{ printf 0123456789; head -c 990 /dev/urandom; } >"$T/resumed"
tail -c +$((OFF + 1)) "$T/resumed" >"$T/resumed.rest"
wh_req PATCH "$WH_URL$SPATH" -H 'Content-Type: application/octet-stream' -H "Content-Range: $OFF-999" \
  --data-binary "@$T/resumed.rest"
expect "the upload resumes at the offset its Range gave" 202
wh_req PUT "$(wh_q "$(wh_loc)" "digest=$(wh_digest "$T/resumed")")" -H 'Content-Length: 0'
expect "the resumed upload completes with the right digest (201)" 201

# connection slots: limits.max_connections is 6; 8 idle clients come and are
# timed out after timeouts.connection_s, then the server serves again
IDLE=()
for i in 1 2 3 4 5 6 7 8; do
  exec {fd}<>"/dev/tcp/127.0.0.1/$WH_PORT" 2>/dev/null && IDLE+=("$fd")
done
T0=$(date +%s)
CLOSED=0
for fd in "${IDLE[@]}"; do
  timeout 10 cat <&"$fd" >/dev/null 2>&1 && CLOSED=$((CLOSED + 1))
  exec {fd}<&-
done
is "all ${#IDLE[@]} idle connections are closed by the server" "$CLOSED" "${#IDLE[@]}"
like "... within 10 s" "$(($(date +%s) - T0))" '^[0-9]$|^10$'
wh_req GET /v2/
expect "after the idle clients the server serves again" 200

wh_done
