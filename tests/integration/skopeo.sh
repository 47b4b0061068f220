#!/bin/bash
# tests/integration/skopeo.sh - wharfd driven by a real client, skopeo:
# copy an OCI layout (made offline by tests/fixtures/mkoci.sh) into wharfd
# and back, and compare manifest and blob digests byte for byte; inspect
# (raw and parsed), list-tags, registry-to-registry copy (mounts), a
# multi-platform index with --all, and delete.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
MKOCI=${BASH_SOURCE%/*}/../fixtures/mkoci.sh
if ! command -v skopeo >/dev/null; then
  skip "skopeo tests" "skopeo is not installed (deploy/install-deps --test installs it)"
  wh_done
fi
wh_start || wh_done
wh_containers_env
T=$WH_TMP
SK=(timeout 120 skopeo --policy "$WH_POLICY" --tmpdir "$TMPDIR")
REG=docker://$WH_HOST

# blob_set LAYOUT DIGEST: the digests a manifest (or index, recursively) names
blob_set() {
  local dir=$1 d=$2 f
  f=$dir/blobs/sha256/${d#sha256:}
  echo "$d"
  case $(jq -r '.mediaType // empty' "$f") in
    *index*|*manifest.list*)
      for c in $(jq -r '.manifests[].digest' "$f"); do blob_set "$dir" "$c"; done ;;
    *) jq -r '.config.digest, .layers[].digest' "$f" ;;
  esac
}

# layout_ok LAYOUT: every blob file is named by its sha256
layout_ok() {
  local f
  for f in "$1"/blobs/sha256/*; do
    [[ $(sha256sum <"$f" | cut -d' ' -f1) == "${f##*/}" ]] || { echo "bad blob $f"; return 1; }
  done
}

D1=$(bash "$MKOCI" -t v1 "$T/src" 1024 102400 1572864)
check "fixture: mkoci.sh writes a 3-layer OCI layout" test -n "$D1" -a -f "$T/src/index.json"
check "fixture: every blob is named by its digest" layout_ok "$T/src"

check "skopeo copy oci: -> wharfd" "${SK[@]}" copy --dest-tls-verify=false "oci:$T/src:v1" "$REG/sk/app:v1"
wh_req HEAD /v2/sk/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
expect "the pushed tag exists in wharfd" 200
expect_hdr "wharfd serves the fixture's manifest digest" Docker-Content-Digest "^$D1\$"
"${SK[@]}" inspect --raw --tls-verify=false "$REG/sk/app:v1" >"$T/raw" 2>"$T/err"
is "skopeo inspect --raw returns the exact manifest bytes" "$(wh_digest "$T/raw")" "$D1"
"${SK[@]}" inspect --tls-verify=false "$REG/sk/app:v1" >"$T/inspect" 2>"$T/err"
is "skopeo inspect: Digest" "$(jq -r .Digest "$T/inspect" 2>&1)" "$D1"
is "skopeo inspect: Layers are the fixture's" "$(jq -r '.Layers | join(" ")' "$T/inspect" 2>&1)" \
  "$(jq -r '[.layers[].digest] | join(" ")' "$T/src/blobs/sha256/${D1#sha256:}")"
is "skopeo inspect: Architecture" "$(jq -r .Architecture "$T/inspect" 2>&1)" amd64
ALLOK=0
for d in $(blob_set "$T/src" "$D1" | tail -n +2); do
  wh_req GET "/v2/sk/app/blobs/$d"
  [[ $H_CODE == 200 && $(wh_digest "$H_BODY") == "$d" ]] || { ALLOK=1; diag "blob $d: HTTP $H_CODE"; }
done
is "every config and layer blob is served with its digest" "$ALLOK" 0

check "skopeo copy wharfd -> oci:" "${SK[@]}" copy --src-tls-verify=false "$REG/sk/app:v1" "oci:$T/back:v1"
is "the copied-back manifest digest is the fixture's" "$(jq -r '.manifests[0].digest' "$T/back/index.json" 2>&1)" "$D1"
is "the copied-back blob set is the fixture's" "$(blob_set "$T/back" "$D1" | sort | tr '\n' ' ')" \
  "$(blob_set "$T/src" "$D1" | sort | tr '\n' ' ')"
check "every copied-back blob is intact" layout_ok "$T/back"
check "copied-back blobs are byte-identical" diff -r "$T/src/blobs" "$T/back/blobs"

check "skopeo copy to a second tag" "${SK[@]}" copy --dest-tls-verify=false "oci:$T/src:v1" "$REG/sk/app:v2"
"${SK[@]}" list-tags --tls-verify=false "$REG/sk/app" >"$T/tags" 2>"$T/err"
is "skopeo list-tags" "$(jq -r '.Tags | join(" ")' "$T/tags" 2>&1)" "v1 v2"
check "skopeo copy wharfd -> wharfd (another repository)" \
  "${SK[@]}" copy --src-tls-verify=false --dest-tls-verify=false "$REG/sk/app:v1" "$REG/sk/other:latest"
"${SK[@]}" inspect --raw --tls-verify=false "$REG/sk/other:latest" >"$T/raw2" 2>"$T/err"
is "the repository copy keeps the manifest digest" "$(wh_digest "$T/raw2")" "$D1"
wh_req GET "/v2/sk/other/blobs/$(jq -r '.layers[2].digest' "$T/raw2")"
is "the repository copy serves the big layer" "$(wh_digest "$H_BODY")" "$(jq -r '.layers[2].digest' "$T/raw2")"

# multi-platform index
DI=$(bash "$MKOCI" -p -t multi "$T/msrc" 2048 65536)
check "fixture: mkoci.sh -p writes a two-platform index" test -n "$DI"
check "skopeo copy --all of an index -> wharfd" \
  "${SK[@]}" copy --all --dest-tls-verify=false "oci:$T/msrc:multi" "$REG/sk/multi:latest"
"${SK[@]}" inspect --raw --tls-verify=false "$REG/sk/multi:latest" >"$T/iraw" 2>"$T/err"
is "wharfd serves the index with the fixture's digest" "$(wh_digest "$T/iraw")" "$DI"
wh_req HEAD /v2/sk/multi/manifests/latest -H "Accept: $MT_OCI_INDEX"
expect_hdr "the index's Content-Type" Content-Type "^${MT_OCI_INDEX//+/\\+}\$"
N=0
for c in $(jq -r '.manifests[].digest' "$T/iraw"); do
  wh_req HEAD "/v2/sk/multi/manifests/$c" -H "Accept: $MT_OCI_MANIFEST"
  [[ $H_CODE == 200 ]] && N=$((N + 1))
done
is "both platform manifests are in wharfd" "$N" 2
"${SK[@]}" --override-arch arm64 inspect --tls-verify=false "$REG/sk/multi:latest" >"$T/arm" 2>"$T/err"
is "skopeo resolves the arm64 instance" "$(jq -r .Architecture "$T/arm" 2>&1)" arm64
check "skopeo copy --all wharfd -> oci:" \
  "${SK[@]}" copy --all --src-tls-verify=false "$REG/sk/multi:latest" "oci:$T/mback:multi"
is "the copied-back index digest is the fixture's" "$(jq -r '.manifests[0].digest' "$T/mback/index.json" 2>&1)" "$DI"
is "the copied-back multi-platform blob set is the fixture's" "$(blob_set "$T/mback" "$DI" | sort | tr '\n' ' ')" \
  "$(blob_set "$T/msrc" "$DI" | sort | tr '\n' ' ')"
check "every copied-back multi-platform blob is intact" layout_ok "$T/mback"

# delete
check "skopeo delete" "${SK[@]}" delete --tls-verify=false "$REG/sk/app:v1"
wh_req HEAD "/v2/sk/app/manifests/$D1" -H "Accept: $MT_OCI_MANIFEST"
expect "the deleted manifest is gone (404)" 404
wh_req HEAD /v2/sk/app/manifests/v2 -H "Accept: $MT_OCI_MANIFEST"
expect "tags of the deleted manifest are gone too (404)" 404
"${SK[@]}" inspect --raw --tls-verify=false "$REG/sk/app:v1" >/dev/null 2>&1
is "skopeo inspect of the deleted image fails" "$?" 1
"${SK[@]}" inspect --raw --tls-verify=false "$REG/sk/other:latest" >"$T/raw3" 2>"$T/err"
is "the copy in the other repository is untouched" "$(wh_digest "$T/raw3")" "$D1"

wh_done
