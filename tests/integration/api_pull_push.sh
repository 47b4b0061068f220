#!/bin/bash
# tests/integration/api_pull_push.sh - the OCI Distribution v1.1 API, happy
# paths, driven with curl against a real wharfd: base endpoint, every blob
# push mode, upload status and cancel, blob reads with ranges, blob delete,
# cross-repository mounts, manifests by tag and digest, multi-tag push,
# subject + referrers, indexes, Docker types, tag and catalog pagination,
# tag and manifest deletion. Every check asserts the real status, headers
# and bytes.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
wh_start || wh_done
T=$WH_TMP
ACCEPT="Accept: $MT_OCI_MANIFEST, $MT_OCI_INDEX, $MT_DOCKER_MANIFEST, $MT_DOCKER_LIST"

same_body() { cmp -s "$H_BODY" "$1"; }

# ---- base --------------------------------------------------------------
wh_req GET /v2/
expect "GET /v2/ is 200" 200
expect_hdr "GET /v2/ has Docker-Distribution-API-Version" Docker-Distribution-API-Version '^registry/2\.0$'

# ---- monolithic POST + PUT -------------------------------------------------
wh_rand "$T/a" 1000
DA=$(wh_digest "$T/a")
wh_req HEAD "/v2/r1/blobs/$DA"
expect "HEAD of a blob not pushed yet is 404" 404
wh_req POST /v2/r1/blobs/uploads/ -H 'Content-Length: 0'
expect "POST uploads starts a session (202)" 202
expect_hdr "POST uploads answers a Location" Location '/v2/r1/blobs/uploads/.+'
LOC=$(wh_loc)
wh_req PUT "$(wh_q "$LOC" "digest=$DA")" -H 'Content-Type: application/octet-stream' --data-binary "@$T/a"
expect "monolithic PUT ?digest= is 201" 201
expect_hdr "monolithic PUT answers Docker-Content-Digest" Docker-Content-Digest "^$DA\$"
expect_hdr "monolithic PUT answers the blob's Location" Location "/v2/r1/blobs/$DA\$"

wh_req HEAD "/v2/r1/blobs/$DA"
expect "HEAD blob is 200" 200
expect_hdr "HEAD blob Content-Length" Content-Length '^1000$'
expect_hdr "HEAD blob Docker-Content-Digest" Docker-Content-Digest "^$DA\$"
wh_req GET "/v2/r1/blobs/$DA"
expect "GET blob is 200" 200
expect_hdr "GET blob Content-Length" Content-Length '^1000$'
expect_hdr "GET blob Docker-Content-Digest" Docker-Content-Digest "^$DA\$"
check "GET blob returns the exact bytes" same_body "$T/a"

# ---- single POST ?digest= ------------------------------------------------
wh_rand "$T/b" 777
DB=$(wh_digest "$T/b")
wh_blob_push_single r1 "$T/b"
expect "single POST ?digest= is 201" 201
expect_hdr "single POST answers Docker-Content-Digest" Docker-Content-Digest "^$DB\$"
wh_req GET "/v2/r1/blobs/$DB"
check "blob pushed by single POST reads back" same_body "$T/b"

# ---- sha512 (optional in the spec: accepted and served, or refused with 400) -------
printf 'sha512 content %s' "$RANDOM$RANDOM" >"$T/s512"
D512=sha512:$(sha512sum <"$T/s512" | cut -d' ' -f1)
wh_blob_push_single r1 "$T/s512" "$D512"
if [[ $H_CODE == 201 ]]; then
  ok "a sha512 digest is accepted (201)"
  expect_hdr "sha512: Docker-Content-Digest is the sha512 digest" Docker-Content-Digest "^$D512\$"
  wh_req GET "/v2/r1/blobs/$D512"
  check "sha512: the blob reads back by its sha512 digest" same_body "$T/s512"
else
  expect_err "a sha512 digest is refused with 400" 400 'DIGEST_INVALID|UNSUPPORTED'
fi

# ---- chunked PATCH with Content-Range ----------------------------------------
wh_req POST /v2/r1/blobs/uploads/ -H 'Content-Length: 0'
expect "POST for a chunked upload is 202" 202
LOC=$(wh_loc)
MIN=$(wh_hdr OCI-Chunk-Min-Length)
CH=1000
[[ $MIN =~ ^[0-9]+$ ]] && ((MIN > CH)) && CH=$MIN
wh_rand "$T/c" $((2 * CH + 500))
DC=$(wh_digest "$T/c")
head -c "$CH" "$T/c" >"$T/c1"
tail -c +$((CH + 1)) "$T/c" | head -c "$CH" >"$T/c2"
tail -c +$((2 * CH + 1)) "$T/c" >"$T/c3"
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H "Content-Range: 0-$((CH - 1))" \
  --data-binary "@$T/c1"
expect "PATCH chunk 1 (Content-Range 0-$((CH - 1))) is 202" 202
expect_hdr "PATCH chunk 1 answers Range" Range "^(bytes=)?0-$((CH - 1))\$"
expect_hdr "PATCH chunk 1 answers Location" Location '/blobs/uploads/'
LOC=$(wh_loc)
wh_req GET "$LOC"
expect "GET upload status is 204" 204
expect_hdr "upload status Range is 0-$((CH - 1))" Range "^(bytes=)?0-$((CH - 1))\$"
expect_hdr "upload status has Location" Location '/blobs/uploads/'
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H "Content-Range: $CH-$((2 * CH - 1))" \
  --data-binary "@$T/c2"
expect "PATCH chunk 2 is 202" 202
expect_hdr "PATCH chunk 2 answers Range 0-$((2 * CH - 1))" Range "^(bytes=)?0-$((2 * CH - 1))\$"
LOC=$(wh_loc)
wh_req PUT "$(wh_q "$LOC" "digest=$DC")" -H 'Content-Type: application/octet-stream' \
  -H "Content-Range: $((2 * CH))-$((2 * CH + 499))" --data-binary "@$T/c3"
expect "closing PUT with the last chunk is 201" 201
expect_hdr "closing PUT Docker-Content-Digest" Docker-Content-Digest "^$DC\$"
wh_req GET "/v2/r1/blobs/$DC"
check "chunked blob reads back exactly" same_body "$T/c"
wh_req GET "$LOC"
expect_err "status of a finished upload is 404 BLOB_UPLOAD_UNKNOWN" 404 BLOB_UPLOAD_UNKNOWN

# ---- streamed PATCH (no Content-Range) ---------------------------------------
wh_rand "$T/d" 5000
DD=$(wh_digest "$T/d")
head -c 3000 "$T/d" >"$T/d1"
tail -c +3001 "$T/d" >"$T/d2"
wh_upload_start r1
LOC=$WH_LOC
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$T/d1"
expect "streamed PATCH 1 is 202" 202
expect_hdr "streamed PATCH 1 Range 0-2999" Range '^(bytes=)?0-2999$'
LOC=$(wh_loc)
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$T/d2"
expect "streamed PATCH 2 is 202" 202
expect_hdr "streamed PATCH 2 Range 0-4999" Range '^(bytes=)?0-4999$'
LOC=$(wh_loc)
wh_req PUT "$(wh_q "$LOC" "digest=$DD")" -H 'Content-Length: 0'
expect "closing PUT with no body is 201" 201
wh_req GET "/v2/r1/blobs/$DD"
check "streamed blob reads back exactly" same_body "$T/d"

# ---- PATCH with Transfer-Encoding: chunked (what docker and containerd send) ---------
wh_upload_start r1
wh_req PATCH "$WH_LOC" -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' \
  --data-binary "@$T/d"
expect "PATCH with a chunked transfer encoding is 202" 202
expect_hdr "chunked-encoding PATCH Range 0-4999" Range '^(bytes=)?0-4999$'
LOC=$(wh_loc)
wh_req PUT "$(wh_q "$LOC" "digest=$DD")" -H 'Content-Length: 0'
expect "closing PUT after a chunked-encoding PATCH is 201" 201

# ---- a 40 MiB blob streams through ----------------------------------------------
wh_rand "$T/big" $((40 * 1024 * 1024))
DBIG=$(wh_digest "$T/big")
wh_blob_push r1 "$T/big"
expect "monolithic PUT of a 40 MiB blob (Expect: 100-continue) is 201" 201
wh_req HEAD "/v2/r1/blobs/$DBIG"
expect_hdr "the 40 MiB blob has the right Content-Length" Content-Length "^$((40 * 1024 * 1024))\$"
wh_req GET "/v2/r1/blobs/$DBIG"
is "the 40 MiB blob reads back with its digest" "$(wh_digest "$H_BODY")" "$DBIG"
wh_req GET "/v2/r1/blobs/$DBIG" -H "Range: bytes=$((32 * 1024 * 1024))-$((32 * 1024 * 1024 + 99))"
tail -c +$((32 * 1024 * 1024 + 1)) "$T/big" | head -c 100 >"$T/big.r"
check "a range deep inside the 40 MiB blob" cmp -s "$H_BODY" "$T/big.r"
rm -f "$T/big" "$H_BODY"

# ---- cancel an upload ------------------------------------------------------
wh_upload_start r1
LOC=$WH_LOC
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$T/d1"
expect "PATCH before cancel is 202" 202
LOC=$(wh_loc)
wh_req DELETE "$LOC"
expect "DELETE upload is 204" 204
wh_req GET "$LOC"
expect_err "status of a cancelled upload is 404 BLOB_UPLOAD_UNKNOWN" 404 BLOB_UPLOAD_UNKNOWN
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$T/d2"
expect_err "PATCH to a cancelled upload is 404 BLOB_UPLOAD_UNKNOWN" 404 BLOB_UPLOAD_UNKNOWN
wh_req DELETE "$LOC"
expect_err "DELETE of a cancelled upload is 404 BLOB_UPLOAD_UNKNOWN" 404 BLOB_UPLOAD_UNKNOWN

# ---- ranges ------------------------------------------------------------------
wh_req GET "/v2/r1/blobs/$DA" -H 'Range: bytes=0-9'
expect "Range bytes=0-9 is 206" 206
expect_hdr "Range bytes=0-9 Content-Range" Content-Range '^bytes 0-9/1000$'
head -c 10 "$T/a" >"$T/a.r1"
check "Range bytes=0-9 body" same_body "$T/a.r1"
wh_req GET "/v2/r1/blobs/$DA" -H 'Range: bytes=5-'
expect "Range bytes=5- is 206" 206
expect_hdr "Range bytes=5- Content-Range" Content-Range '^bytes 5-999/1000$'
tail -c +6 "$T/a" >"$T/a.r2"
check "Range bytes=5- body" same_body "$T/a.r2"
wh_req GET "/v2/r1/blobs/$DA" -H 'Range: bytes=-3'
expect "Range bytes=-3 is 206" 206
expect_hdr "Range bytes=-3 Content-Range" Content-Range '^bytes 997-999/1000$'
tail -c 3 "$T/a" >"$T/a.r3"
check "Range bytes=-3 body" same_body "$T/a.r3"
wh_req GET "/v2/r1/blobs/$DA" -H 'Range: bytes=2000-'
expect "Range beyond the end is 416" 416
wh_req GET "/v2/r1/blobs/$DA" -H 'Range: bytes=1000-1005'
expect "Range starting at the size is 416" 416

# ---- blob delete -------------------------------------------------------------
wh_rand "$T/e" 300
wh_blob_push r1 "$T/e"
expect "push a blob to delete" 201
DE=$WH_DIGEST
wh_req DELETE "/v2/r1/blobs/$DE"
expect "DELETE blob is 202" 202
wh_req HEAD "/v2/r1/blobs/$DE"
expect "HEAD after DELETE is 404" 404
wh_req GET "/v2/r1/blobs/$DE"
expect_err "GET after DELETE is 404 BLOB_UNKNOWN" 404 BLOB_UNKNOWN
wh_req DELETE "/v2/r1/blobs/$DE"
expect_err "second DELETE is 404 BLOB_UNKNOWN" 404 BLOB_UNKNOWN

# ---- cross-repository mount ------------------------------------------------------
wh_req HEAD "/v2/r2/blobs/$DA"
expect "a blob is not readable from a repository it was not pushed to" 404
wh_req POST "/v2/r2/blobs/uploads/?mount=$DA&from=r1" -H 'Content-Length: 0'
expect "mount with from= is 201" 201
expect_hdr "mount answers Docker-Content-Digest" Docker-Content-Digest "^$DA\$"
expect_hdr "mount answers the blob Location" Location "/v2/r2/blobs/$DA\$"
wh_req GET "/v2/r2/blobs/$DA"
check "mounted blob reads back from r2" same_body "$T/a"
wh_req POST "/v2/r3/blobs/uploads/?mount=$DA" -H 'Content-Length: 0'
expect "mount without from= is 201 (automatic)" 201
wh_req HEAD "/v2/r3/blobs/$DA"
expect "automatically mounted blob is readable from r3" 200
wh_req POST "/v2/r4/blobs/uploads/?mount=$DB&from=r2" -H 'Content-Length: 0'
expect "mount from a repository that lacks the blob is 202" 202
expect_hdr "that 202 opens an upload session" Location '/v2/r4/blobs/uploads/.+'
LOC=$(wh_loc)
wh_req PUT "$(wh_q "$LOC" "digest=$DB")" -H 'Content-Type: application/octet-stream' --data-binary "@$T/b"
expect "the session of a failed mount completes an upload (201)" 201
wh_req HEAD "/v2/r4/blobs/$DB"
expect "blob uploaded after a failed mount is in r4" 200
wh_req HEAD "/v2/r2/blobs/$DB"
expect "a failed mount links nothing into the source" 404
wh_req POST "/v2/r3/blobs/uploads/?mount=$DB&from=r1" -H 'Content-Length: 0'
expect "mount a second blob into r3" 201
wh_req DELETE "/v2/r3/blobs/$DA"
expect "DELETE of a mounted blob in r3 is 202" 202
wh_req HEAD "/v2/r3/blobs/$DA"
expect "... it is gone from r3" 404
wh_req GET "/v2/r1/blobs/$DA"
check "... and still served from r1" same_body "$T/a"
DZ=sha256:$(printf '%064d' 0)
wh_req POST "/v2/r4/blobs/uploads/?mount=$DZ" -H 'Content-Length: 0'
expect "mount of an unknown digest is 202" 202

# ---- upload sessions belong to their repository ------------------------------------
wh_upload_start r1
LOC=$WH_LOC
OTHER=${LOC/\/v2\/r1\//\/v2\/r2\/}
wh_req PATCH "$OTHER" -H 'Content-Type: application/octet-stream' --data-binary "@$T/b"
expect_err "PATCH of r1's session through r2's path is 404 BLOB_UPLOAD_UNKNOWN" 404 BLOB_UPLOAD_UNKNOWN
wh_req GET "$OTHER"
expect_err "status of r1's session through r2's path is 404" 404 BLOB_UPLOAD_UNKNOWN
wh_req PUT "$(wh_q "$LOC" "digest=$DB")" -H 'Content-Type: application/octet-stream' --data-binary "@$T/b"
expect "r1's session still completes through r1's path" 201

# ---- manifests -----------------------------------------------------------------
wh_push_image app v1
expect "push an OCI image manifest by tag (201)" 201
M1=$WH_MDIGEST
M1F=$WH_MFILE
expect_hdr "manifest PUT answers Docker-Content-Digest" Docker-Content-Digest "^$M1\$"
expect_hdr "manifest PUT answers Location" Location "/v2/app/manifests/"
wh_req GET /v2/app/manifests/v1 -H "$ACCEPT"
expect "GET manifest by tag is 200" 200
expect_hdr "GET manifest Content-Type is the pushed media type" Content-Type "^${MT_OCI_MANIFEST//+/\\+}\$"
expect_hdr "GET manifest by tag Docker-Content-Digest" Docker-Content-Digest "^$M1\$"
check "GET manifest by tag returns the exact bytes" same_body "$M1F"
wh_req HEAD /v2/app/manifests/v1 -H "$ACCEPT"
expect "HEAD manifest by tag is 200" 200
expect_hdr "HEAD manifest Content-Length" Content-Length "^$(wh_size "$M1F")\$"
expect_hdr "HEAD manifest Docker-Content-Digest" Docker-Content-Digest "^$M1\$"
expect_hdr "HEAD manifest Content-Type" Content-Type "^${MT_OCI_MANIFEST//+/\\+}\$"
wh_req GET "/v2/app/manifests/$M1" -H "$ACCEPT"
expect "GET manifest by digest is 200" 200
check "GET manifest by digest returns the exact bytes" same_body "$M1F"
wh_req HEAD "/v2/app/manifests/$M1" -H "$ACCEPT"
expect "HEAD manifest by digest is 200" 200
wh_req GET "/v2/app/blobs/$(wh_digest "$WH_LFILE")"
check "the image's layer reads back from the repository" same_body "$WH_LFILE"

wh_manifest_push app v1 "$M1F"
expect "pushing the same manifest to the same tag again is 201" 201
wh_req PUT /v2/app/manifests/v1p -H "Content-Type: $MT_OCI_MANIFEST; charset=utf-8" --data-binary "@$M1F"
expect "a Content-Type with parameters is accepted (parameters ignored)" 201
wh_req GET /v2/app/manifests/v1p -H "$ACCEPT"
expect_hdr "... and served as the bare media type" Content-Type "^${MT_OCI_MANIFEST//+/\\+}\$"
wh_req DELETE /v2/app/manifests/v1p
expect "setup: delete tag v1p" 202

# by digest, then ?tag=a&tag=b
wh_rand "$T/m2.layer" 500
wh_mk_config "$T/m2.config" "$T/m2.layer"
wh_mk_manifest "$T/m2" "$T/m2.config" "$T/m2.layer"
M2=$(wh_digest "$T/m2")
wh_blob_push app "$T/m2.layer"
wh_blob_push app "$T/m2.config"
wh_manifest_push app "$M2" "$T/m2"
expect "PUT manifest by digest is 201" 201
expect_hdr "PUT by digest Docker-Content-Digest" Docker-Content-Digest "^$M2\$"
wh_req GET "/v2/app/manifests/$M2" -H "$ACCEPT"
check "manifest pushed by digest reads back" same_body "$T/m2"
wh_req PUT "/v2/app/manifests/$M2?tag=ta&tag=tb" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$T/m2"
expect "PUT by digest with ?tag=ta&tag=tb is 201" 201
OT=$(wh_hdr OCI-Tag)
like "OCI-Tag names ta" "$OT" '(^|[ ,])ta($|[ ,])'
like "OCI-Tag names tb" "$OT" '(^|[ ,])tb($|[ ,])'
wh_req HEAD /v2/app/manifests/ta -H "$ACCEPT"
expect_hdr "tag ta resolves to the manifest" Docker-Content-Digest "^$M2\$"
wh_req HEAD /v2/app/manifests/tb -H "$ACCEPT"
expect_hdr "tag tb resolves to the manifest" Docker-Content-Digest "^$M2\$"

# ---- subject and referrers ---------------------------------------------------
printf '{}' >"$T/empty"
wh_blob_push app "$T/empty"
expect "push the empty config blob" 201
EMPTY_MT=application/vnd.oci.empty.v1+json
wh_mk_manifest "$T/s1" -a application/vnd.example.sig -C "$EMPTY_MT" -s "$M1F" -A org.example.k=v1 "$T/empty"
S1=$(wh_digest "$T/s1")
wh_manifest_push app "$S1" "$T/s1"
expect "push a manifest with a subject (201)" 201
expect_hdr "OCI-Subject names the subject" OCI-Subject "^$M1\$"
wh_mk_manifest "$T/s2" -a application/vnd.example.sbom -C "$EMPTY_MT" -s "$M1F" -A org.example.k=v2 "$T/empty"
S2=$(wh_digest "$T/s2")
wh_manifest_push app "$S2" "$T/s2"
expect "push a second referrer (201)" 201
wh_mk_manifest "$T/s3" -C application/vnd.example.cfg -s "$M1F" "$T/empty"
S3=$(wh_digest "$T/s3")
wh_manifest_push app "$S3" "$T/s3"
expect "push a referrer without artifactType (201)" 201

jq -cn --argjson s "$(wh_desc "$MT_OCI_MANIFEST" "$M1F")" --argjson c "$(wh_desc "$MT_OCI_MANIFEST" "$T/s1")" \
  --arg mt "$MT_OCI_INDEX" '{schemaVersion: 2, mediaType: $mt, manifests: [$c], subject: $s}' >"$T/s4"
S4=$(wh_digest "$T/s4")
wh_manifest_push app "$S4" "$T/s4"
expect "push an index with a subject (201)" 201
expect_hdr "OCI-Subject for an index" OCI-Subject "^$M1\$"

wh_req GET "/v2/app/referrers/$M1"
expect "GET referrers is 200" 200
expect_hdr "referrers Content-Type is an OCI index" Content-Type "^${MT_OCI_INDEX//+/\\+}"
is "referrers list the four referrers" "$(jq -r '[.manifests[].digest] | sort | join(" ")' "$H_BODY" 2>&1)" \
  "$(printf '%s\n' "$S1" "$S2" "$S3" "$S4" | sort | tr '\n' ' ' | sed 's/ $//')"
is "an index referrer has its mediaType and no artifactType" \
  "$(jq -r --arg d "$S4" '.manifests[] | select(.digest == $d) | "\(.mediaType) \(has("artifactType"))"' "$H_BODY" 2>&1)" \
  "$MT_OCI_INDEX false"
is "referrers index is an OCI index (schemaVersion 2, mediaType)" \
  "$(jq -r '"\(.schemaVersion) \(.mediaType)"' "$H_BODY" 2>&1)" "2 $MT_OCI_INDEX"
is "referrer descriptor carries artifactType" \
  "$(jq -r --arg d "$S1" '.manifests[] | select(.digest == $d) | .artifactType' "$H_BODY" 2>&1)" application/vnd.example.sig
is "referrer descriptor carries the annotations" \
  "$(jq -r --arg d "$S2" '.manifests[] | select(.digest == $d) | .annotations["org.example.k"]' "$H_BODY" 2>&1)" v2
is "referrer descriptor size and mediaType" \
  "$(jq -r --arg d "$S1" '.manifests[] | select(.digest == $d) | "\(.size) \(.mediaType)"' "$H_BODY" 2>&1)" \
  "$(wh_size "$T/s1") $MT_OCI_MANIFEST"
is "referrer without artifactType gets the config mediaType" \
  "$(jq -r --arg d "$S3" '.manifests[] | select(.digest == $d) | .artifactType' "$H_BODY" 2>&1)" application/vnd.example.cfg
wh_req GET "/v2/app/referrers/$M1?artifactType=application/vnd.example.sbom"
expect "GET referrers ?artifactType= is 200" 200
is "artifactType filter keeps only matching referrers" "$(jq -r '[.manifests[].digest] | join(" ")' "$H_BODY" 2>&1)" "$S2"
expect_hdr "OCI-Filters-Applied: artifactType" OCI-Filters-Applied '^artifactType$'
wh_req GET "/v2/app/referrers/$M2"
expect "referrers of a manifest without referrers is 200" 200
is "... with an empty manifests list" "$(jq -c '.manifests' "$H_BODY" 2>&1)" '[]'
wh_req GET "/v2/app/referrers/sha256:$(printf '%064d' 7)"
expect "referrers of an unknown digest is 200 (never 404)" 200

# ---- index ---------------------------------------------------------------------
wh_rand "$T/m4.layer" 400
wh_mk_config "$T/m4.config" "$T/m4.layer"
wh_mk_manifest "$T/m4" "$T/m4.config" "$T/m4.layer"
wh_blob_push app "$T/m4.layer"
wh_blob_push app "$T/m4.config"
wh_manifest_push app "$(wh_digest "$T/m4")" "$T/m4"
expect "push a second platform manifest" 201
wh_mk_index "$T/i1" "$M1F::amd64" "$T/m4::arm64"
wh_manifest_push app multi "$T/i1"
expect "push an OCI index whose children exist (201)" 201
wh_req GET /v2/app/manifests/multi -H "$ACCEPT"
expect_hdr "index GET Content-Type" Content-Type "^${MT_OCI_INDEX//+/\\+}\$"
check "index reads back exactly" same_body "$T/i1"
wh_rand "$T/ghost.layer" 100
wh_mk_config "$T/ghost.config" "$T/ghost.layer"
wh_mk_manifest "$T/ghost" "$T/ghost.config" "$T/ghost.layer"
wh_mk_index "$T/i2" "$M1F::amd64" "$T/ghost::arm64"
wh_manifest_push app broken "$T/i2"
expect_err "index with a missing child is 400 MANIFEST_BLOB_UNKNOWN" 400 MANIFEST_BLOB_UNKNOWN
wh_req HEAD /v2/app/manifests/broken
expect "the rejected index's tag does not exist" 404

# ---- Docker schema 2 types ------------------------------------------------------
wh_rand "$T/dk.layer" 600
wh_mk_config "$T/dk.config" "$T/dk.layer"
wh_mk_manifest "$T/dk" -t "$MT_DOCKER_MANIFEST" "$T/dk.config" "$T/dk.layer"
wh_blob_push docker/img "$T/dk.layer"
wh_blob_push docker/img "$T/dk.config"
wh_manifest_push docker/img v2 "$T/dk" "$MT_DOCKER_MANIFEST"
expect "Docker schema2 manifest accepted (201)" 201
wh_req GET /v2/docker/img/manifests/v2 -H "$ACCEPT"
expect_hdr "Docker schema2 Content-Type preserved" Content-Type "^${MT_DOCKER_MANIFEST//+/\\+}\$"
check "Docker schema2 bytes preserved" same_body "$T/dk"
wh_mk_index "$T/dl" -t "$MT_DOCKER_LIST" "$T/dk:$MT_DOCKER_MANIFEST:amd64"
wh_manifest_push docker/img list "$T/dl" "$MT_DOCKER_LIST"
expect "Docker manifest list accepted (201)" 201
wh_req GET /v2/docker/img/manifests/list -H "$ACCEPT"
expect_hdr "Docker manifest list Content-Type preserved" Content-Type "^${MT_DOCKER_LIST//+/\\+}\$"

# ---- tags/list pagination --------------------------------------------------------
wh_push_image tagged first
expect "push an image for the tag list" 201
TF=$WH_MFILE
TAGS=(latest v1 a a.b b A B-x Z _u 1.0)
for t in "${TAGS[@]}"; do
  wh_manifest_push tagged "$t" "$TF" || break
done
expect "tag the image ten more times" 201
WANT=$(printf '%s\n' "${TAGS[@]}" first | sort | tr '\n' ' ' | sed 's/ $//')
wh_req GET /v2/tagged/tags/list
expect "tags/list is 200" 200
is "tags/list names the repository" "$(jq -r .name "$H_BODY" 2>&1)" tagged
is "tags/list is complete and in ASCII order" "$(jq -r '.tags | join(" ")' "$H_BODY" 2>&1)" "$WANT"
wh_req GET '/v2/tagged/tags/list?n=3'
expect "tags/list?n=3 is 200" 200
is "n=3 gives the first three tags" "$(jq -r '.tags | join(" ")' "$H_BODY" 2>&1)" "$(cut -d' ' -f1-3 <<<"$WANT")"
expect_hdr "n=3 has a Link rel=next" Link '^<[^>]+>; *rel="?next"?$'
expect_hdr "the Link keeps n=3" Link '^<[^>]*[?&]n=3[&>]'
expect_hdr "the Link's last= is the page's last tag" Link "^<[^>]*[?&]last=$(cut -d' ' -f3 <<<"$WANT")[&>]"
# follow Link headers to the end
GOT="" PAGES=0 URL='/v2/tagged/tags/list?n=3'
while [[ -n $URL && $PAGES -lt 20 ]]; do
  wh_req GET "$URL"
  [[ $H_CODE == 200 ]] || break
  GOT="$GOT $(jq -r '.tags | join(" ")' "$H_BODY")"
  PAGES=$((PAGES + 1))
  URL=$(wh_hdr Link | sed -n 's/^<\([^>]*\)>.*/\1/p')
done
is "following Link pages yields every tag once, in order" "$(echo $GOT)" "$WANT"
is "11 tags at n=3 take 4 pages" "$PAGES" 4
wh_req GET '/v2/tagged/tags/list?last=a'
is "last=a lists the tags after a" "$(jq -r '.tags | join(" ")' "$H_BODY" 2>&1)" "$(tr ' ' '\n' <<<"$WANT" | awk '$0 > "a"' | tr '\n' ' ' | sed 's/ $//')"
wh_req GET '/v2/tagged/tags/list?n=2&last=Z'
is "n=2&last=Z" "$(jq -r '.tags | join(" ")' "$H_BODY" 2>&1)" "_u a"
wh_req GET '/v2/tagged/tags/list?last=zzz'
expect "last= after every tag is 200" 200
is "... with an empty list" "$(jq -c '.tags // []' "$H_BODY" 2>&1)" '[]'
wh_req GET '/v2/tagged/tags/list?n=0'
expect "n=0 is 200" 200
is "n=0 gives an empty list" "$(jq -c '.tags // []' "$H_BODY" 2>&1)" '[]'
is "n=0 has no Link" "$(wh_hdr Link)" ""

# ---- _catalog ------------------------------------------------------------------------
wh_req GET /v2/_catalog
expect "_catalog is 200" 200
ALL=$(jq -r '.repositories | join(" ")' "$H_BODY" 2>&1)
is "_catalog lists every repository in order" "$ALL" "$(printf '%s\n' app docker/img r1 r2 r3 r4 tagged | sort | tr '\n' ' ' | sed 's/ $//')"
GOT="" PAGES=0 URL='/v2/_catalog?n=2'
while [[ -n $URL && $PAGES -lt 20 ]]; do
  wh_req GET "$URL"
  [[ $H_CODE == 200 ]] || break
  GOT="$GOT $(jq -r '.repositories | join(" ")' "$H_BODY")"
  PAGES=$((PAGES + 1))
  URL=$(wh_hdr Link | sed -n 's/^<\([^>]*\)>.*/\1/p')
done
is "_catalog?n=2 pages through every repository" "$(echo $GOT)" "$ALL"
is "7 repositories at n=2 take 4 pages" "$PAGES" 4

# ---- deletes -------------------------------------------------------------------------
wh_req DELETE /v2/app/manifests/ta
expect "DELETE a tag is 202" 202
wh_req GET /v2/app/manifests/ta -H "$ACCEPT"
expect_err "deleted tag is 404 MANIFEST_UNKNOWN" 404 MANIFEST_UNKNOWN
wh_req HEAD "/v2/app/manifests/$M2" -H "$ACCEPT"
expect "the manifest stays readable by digest after its tag is deleted" 200
wh_req HEAD /v2/app/manifests/tb -H "$ACCEPT"
expect_hdr "the other tag still resolves" Docker-Content-Digest "^$M2\$"
M2L=$(wh_digest "$T/m2.layer")
wh_req DELETE "/v2/app/blobs/$M2L"
expect_err "DELETE of a layer a manifest still uses is 405 UNSUPPORTED" 405 UNSUPPORTED
wh_req HEAD "/v2/app/blobs/$M2L"
expect "the refused layer is still served" 200
wh_req DELETE "/v2/app/manifests/$M2"
expect "DELETE manifest by digest is 202" 202
wh_req DELETE "/v2/app/blobs/$M2L"
expect "DELETE of the layer once its manifest is gone is 202" 202
wh_req GET "/v2/app/manifests/$M2" -H "$ACCEPT"
expect_err "deleted manifest is 404 MANIFEST_UNKNOWN" 404 MANIFEST_UNKNOWN
wh_req GET /v2/app/manifests/tb -H "$ACCEPT"
expect_err "tags of a deleted manifest are gone" 404 MANIFEST_UNKNOWN
wh_req GET /v2/app/tags/list
is "tags/list after the deletes" "$(jq -r '.tags | join(" ")' "$H_BODY" 2>&1)" "multi v1"
wh_req DELETE "/v2/app/manifests/$M2"
expect_err "second DELETE of the manifest is 404 MANIFEST_UNKNOWN" 404 MANIFEST_UNKNOWN
wh_req GET /v2/app/manifests/v1 -H "$ACCEPT"
check "other manifests are untouched" same_body "$M1F"

wh_done
