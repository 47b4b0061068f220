#!/bin/bash
# tests/integration/client_copy.sh - `wharf copy`, registry to registry,
# never touching the local store: within wharfd (blobs mounted), wharfd ->
# docker-registry and back (blobs streamed: digests and manifest bytes
# identical, a 40 MB layer through the bounded relay buffer), a second run
# (everything exists), a multi-platform index (--all, one --platform), a
# destination digest that does not match, a source serving wrong bytes
# (exit 6, the destination completes nothing), --referrers (an SBOM and its
# signature follow the image; a source without the referrers API is fine),
# and a destination behind htpasswd auth.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
if ! command -v skopeo >/dev/null || ! command -v docker-registry >/dev/null; then
  skip "wharf copy" "skopeo or docker-registry is not installed (deploy/install-deps --test)"
  wh_done
fi
wh_start || wh_done
wh_containers_env
dr_start || wh_done
T=$WH_TMP
H=$WH_HOST
SK=(timeout 120 skopeo --policy "$WH_POLICY" --tmpdir "$TMPDIR")
NOSTORE=$T/never-created
CP=(wf "$NOSTORE")

# manifest_digest HOST REPO REF: digest of the manifest's bytes ("" when absent)
manifest_digest() {
  wh_req GET "http://$1/v2/$2/manifests/$3" -H "Accept: $MT_OCI_MANIFEST, $MT_OCI_INDEX"
  [[ $H_CODE == 200 ]] && wh_digest "$H_BODY"
}
# all_blobs HOST REPO LAYOUT DIGEST: every blob of the image is there (HEAD 200)
all_blobs() {
  local d bad=0
  for d in $(blob_list "$3" "$4" | tail -n +2); do
    wh_req HEAD "http://$1/v2/$2/blobs/$d"
    [[ $H_CODE == 200 ]] || { bad=1; diag "missing $d"; }
  done
  return $bad
}

D1=$(mk_fixture -t v1 "$T/src" 1024 2000000 300)
check "skopeo copy of the fixture into wharfd" "${SK[@]}" copy --quiet --dest-tls-verify=false \
  "oci:$T/src:v1" "docker://$H/sk/app:v1"

# ---- within one registry: mounts --------------------------------------------------------------
out=$("${CP[@]}" copy "$H/sk/app:v1" "$H/cp/app:v2" 2>"$T/err")
is "copy within wharfd prints the digest" "$out" "copied $H/sk/app:v1 -> $H/cp/app:v2: $D1"
is "every blob was mounted, none copied" "$(grep -c '^mounted sha256:' "$T/err"):$(grep -c '^copied' "$T/err")" "4:0"
is "the copy has the same manifest bytes" "$(manifest_digest "$H" cp/app v2)" "$D1"

# ---- wharfd -> docker-registry: streamed -------------------------------------------------------
out=$("${CP[@]}" --quiet copy "$H/sk/app:v1" "$DR_HOST/cp/app" 2>"$T/err")
is "copy to docker-registry (the tag comes from the source)" "$out" "$D1"
is "the manifest bytes are identical" "$(manifest_digest "$DR_HOST" cp/app v1)" "$D1"
all_blobs "$DR_HOST" cp/app "$T/src" "$D1"
pass_if "docker-registry has every blob" "$?"
is "skopeo reads the same digest" \
  "$("${SK[@]}" inspect --tls-verify=false "docker://$DR_HOST/cp/app:v1" 2>&1 | jq -r .Digest)" "$D1"
"${CP[@]}" copy "$H/sk/app:v1" "$DR_HOST/cp/app:v1" >/dev/null 2>"$T/err"
is "a second copy finds every blob there" "$(grep -c '^exists sha256:' "$T/err")" 4
out=$("${CP[@]}" --quiet copy "$DR_HOST/cp/app:v1" "$H/back/app:v1" 2>"$T/err")
is "and back from docker-registry to wharfd" "$out" "$D1"
is "same bytes again" "$(manifest_digest "$H" back/app v1)" "$D1"

DB=$(mk_fixture -t big "$T/big" 40000000 5000000)
check "skopeo copy of a 40 MB layer into wharfd" "${SK[@]}" copy --quiet --dest-tls-verify=false \
  "oci:$T/big:big" "docker://$H/sk/big:1"
out=$("${CP[@]}" --quiet copy "$H/sk/big:1" "$DR_HOST/big/app:1" 2>"$T/err")
is "copy of the 40 MB layer through the relay buffer" "$out" "$DB"
all_blobs "$DR_HOST" big/app "$T/big" "$DB"
pass_if "docker-registry has both big layers" "$?"

# ---- a multi-platform index --------------------------------------------------------------------
DM=$(mk_fixture -p -t multi "$T/multi" 3000 5000)
check "skopeo copy --all of a two-platform index into wharfd" "${SK[@]}" copy --quiet --all \
  --dest-tls-verify=false "oci:$T/multi:multi" "docker://$H/sk/multi:1"
out=$("${CP[@]}" --quiet copy --all "$H/sk/multi:1" "$DR_HOST/cp/multi:1" 2>"$T/err")
is "copy --all of the index" "$out" "$DM"
is "docker-registry has the index's bytes" "$(manifest_digest "$DR_HOST" cp/multi 1)" "$DM"
ALL=0
for c in $(jq -r '.manifests[].digest' "$T/multi/blobs/sha256/${DM#sha256:}"); do
  [[ $(manifest_digest "$DR_HOST" cp/multi "$c") == "$c" ]] || ALL=1
  all_blobs "$DR_HOST" cp/multi "$T/multi" "$c" || ALL=1
done
is "and every platform's manifest and blobs" "$ALL" 0
ARM=$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' \
  "$T/multi/blobs/sha256/${DM#sha256:}")
out=$("${CP[@]}" --quiet copy --platform linux/arm64 "$H/sk/multi:1" "$DR_HOST/cp/one:1" 2>"$T/err")
is "copy without --all takes one platform's image" "$out" "$ARM"
is "stored as that image's manifest" "$(manifest_digest "$DR_HOST" cp/one 1)" "$ARM"
"${CP[@]}" copy "$H/sk/app:v1" "$DR_HOST/cp/pinned@sha256:$(printf '%064d' 0)" >/dev/null 2>"$T/err"
is "a destination digest that is not the copy's exits 6" "$?" 6
pass_if "the local store was never touched" "$([[ ! -e $NOSTORE ]]; echo $?)"

# ---- wrong bytes at the source -----------------------------------------------------------------
L2=$(jq -r '.layers[1].digest' "$T/src/blobs/sha256/${D1#sha256:}")
F=$WH_ROOT/blobs/sha256/${L2:7:2}/${L2#sha256:}
MODE=$(stat -c %a "$F")
cp "$F" "$T/l2.saved"
chmod u+w "$F"
printf 'XXXXXXXX' | dd of="$F" bs=1 seek=1000 conv=notrunc 2>/dev/null
"${CP[@]}" copy "$H/sk/app:v1" "$DR_HOST/bad/app:v1" >/dev/null 2>"$T/err"
is "a source serving wrong bytes: exit 6" "$?" 6
like "with one clear line naming the layer" "$(tail -n 1 "$T/err")" \
  "^wharf: copy \"$H/sk/app:v1\": layer $L2: digest mismatch"
wh_req HEAD "http://$DR_HOST/v2/bad/app/blobs/$L2"
is "the destination did not complete the wrong blob" "$H_CODE" 404
wh_req GET "http://$DR_HOST/v2/bad/app/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
is "nor the manifest" "$H_CODE" 404
cp "$T/l2.saved" "$F"
chmod "$MODE" "$F"

# ---- --referrers: an SBOM of the image and a signature of the SBOM ----------------------------
wh_push_image ref/app v1 3000
IMG=$WH_MDIGEST
printf '{}' >"$T/empty"
printf '{"sbom": "%s"}' "$RANDOM$RANDOM" >"$T/sbom.json"
printf 'signed %s' "$RANDOM$RANDOM" >"$T/sig.bin"
wh_mk_manifest "$T/sbom.man" -a application/vnd.example.sbom -s "$WH_MFILE" -C application/vnd.oci.empty.v1+json \
  -L application/json "$T/empty" "$T/sbom.json"
wh_mk_manifest "$T/sig.man" -a application/vnd.example.sig -s "$T/sbom.man" -C application/vnd.oci.empty.v1+json \
  -L application/octet-stream "$T/empty" "$T/sig.bin"
SBOM=$(wh_digest "$T/sbom.man")
SIG=$(wh_digest "$T/sig.man")
wh_blob_push ref/app "$T/empty" && wh_blob_push ref/app "$T/sbom.json" && wh_blob_push ref/app "$T/sig.bin" &&
  wh_manifest_push ref/app "$SBOM" "$T/sbom.man" && wh_manifest_push ref/app "$SIG" "$T/sig.man"
expect "an image, an SBOM naming it and a signature naming the SBOM pushed with curl" 201
# referrers HOST REPO DIGEST: the digests the referrers API lists, sorted
referrers() { curl -s "http://$1/v2/$2/referrers/$3" | jq -r '.manifests[].digest' | sort | tr '\n' ' '; }
out=$("${CP[@]}" --quiet copy --referrers "$H/ref/app:v1" "$H/ref/copy:v1" 2>"$T/err")
is "copy --referrers" "$out" "$IMG"
is "the destination lists the SBOM as the image's referrer" "$(referrers "$H" ref/copy "$IMG")" "$SBOM "
is "and the signature as the SBOM's" "$(referrers "$H" ref/copy "$SBOM")" "$SIG "
is "byte for byte" "$(manifest_digest "$H" ref/copy "$SIG")" "$SIG"
out=$("${CP[@]}" --quiet copy "$H/ref/app:v1" "$H/ref/plain:v1" 2>"$T/err")
is "copy without --referrers" "$out" "$IMG"
is "copies no referrer" "$(referrers "$H" ref/plain "$IMG")" ""
out=$("${CP[@]}" --quiet copy --referrers "$H/ref/app:v1" "$DR_HOST/ref/app:v1" 2>"$T/err")
is "copy --referrers to docker-registry (manifests with a subject)" "$out" "$IMG"
is "the SBOM is there by digest" "$(manifest_digest "$DR_HOST" ref/app "$SBOM")" "$SBOM"
out=$("${CP[@]}" --quiet copy --referrers "$DR_HOST/ref/app:v1" "$H/ref/back:v1" 2>"$T/err")
is "copy --referrers from a registry without the referrers API: the image alone" "$out:$(referrers "$H" ref/back "$IMG")" \
  "$IMG:"

# ---- a destination behind htpasswd ---------------------------------------------------------
if command -v htpasswd >/dev/null; then
  dr_stop
  htpasswd -Bbn bob 'pa:ss' >"$T/htpasswd" 2>/dev/null
  dr_start -a "$T/htpasswd" || wh_done
  "${CP[@]}" copy "$H/sk/app:v1" "$DR_HOST/auth/app:v1" >/dev/null 2>"$T/err"
  is "copy to a registry that wants credentials, without them: exit 4" "$?" 4
  check "login" wf "$NOSTORE" login -u bob -p 'pa:ss' "$DR_HOST"
  out=$("${CP[@]}" --quiet copy "$H/sk/big:1" "$DR_HOST/auth/big:1" 2>"$T/err")
  is "copy with basic auth, streamed" "$out" "$DB"
  is "the bytes are there" "$(curl -s -u 'bob:pa:ss' -H "Accept: $MT_OCI_MANIFEST" \
    "http://$DR_HOST/v2/auth/big/manifests/1" | wh_digest /dev/stdin)" "$DB"
else
  skip "copy to docker-registry with htpasswd" "htpasswd is not installed (apache2-utils)"
fi

wh_done
